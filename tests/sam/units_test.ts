// Hand-computed checks of SAM building blocks that the public fixtures do not exercise (rel-pos interpolation,
// attention-bias offsets, ResizeLongestSide geometry, PIL bilinear weights).
import assert from "node:assert/strict";
import { relPosTable } from "../../lib/sam/vit.ts";
import { attentionBiases } from "../../lib/sam/tinyvit.ts";
import { applyCoords, preprocessShape, resizePilBilinear } from "../../lib/sam/transforms.ts";

Deno.test("relPosTable: linear interpolation (align_corners=False) when 2*size-1 differs, then gather", () => {
  // rel_pos [0,1,2] (L=3, C=1) resized to 5 rows: src = (i+0.5)*0.6-0.5 clamped at 0 → [0, 0.4, 1.0, 1.6, 2.0]
  const t = relPosTable(Float32Array.from([0, 1, 2]), 3, 1, 3, 3);
  // out[a][b] = table[a - b + 2]
  const expect = [1.0, 0.4, 0, 1.6, 1.0, 0.4, 2.0, 1.6, 1.0];
  t.forEach((v, i) => assert.ok(Math.abs(v - expect[i]) < 1e-6, `${i}: ${v} vs ${expect[i]}`));
  // q=2, k=4, L=7 (no resize): idx = a*2 - b + 3
  const r = Float32Array.from([0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(relPosTable(r, 7, 1, 2, 4)), [3, 2, 1, 0, 5, 4, 3, 2]);
});

Deno.test("attentionBiases: offsets numbered in first-seen order over the window", () => {
  // ws=2: points (0,0),(0,1),(1,0),(1,1); offsets first seen: (0,0)=0, (0,1)=1, (1,0)=2, (1,1)=3
  const ab = Float32Array.from([10, 11, 12, 13]);
  assert.deepEqual(Array.from(attentionBiases(ab, 1, 4, 2)), [
    10,
    11,
    12,
    13,
    11,
    10,
    13,
    12,
    12,
    13,
    10,
    11,
    13,
    12,
    11,
    10,
  ]);
});

Deno.test("ResizeLongestSide geometry: shapes and coordinate transform", () => {
  assert.deepEqual(preprocessShape(200, 300, 512), [341, 512]);
  assert.deepEqual(preprocessShape(160, 320, 1024), [512, 1024]);
  // x scales by 512/300, y by 341/200 (resized size over original, not the nominal scale)
  const c = applyCoords([90, 70], [200, 300], 512);
  assert.ok(Math.abs(c[0] - 153.6) < 1e-4 && Math.abs(c[1] - 119.35) < 1e-4);
});

Deno.test("resizePilBilinear: 2→4 upscale weights 3/4-1/4 with edge clamping, and identity", () => {
  // one row [0, 100] (grey) → centres at 0.25, 0.75 of each input pixel:
  // out0 = 0 (clamped support), out1 = 0.75*0 + 0.25*100 = 25, out2 = 75, out3 = 100
  const img = { data: Uint8Array.from([0, 0, 0, 100, 100, 100]), height: 1, width: 2 };
  const r = resizePilBilinear(img, 1, 4);
  assert.deepEqual(Array.from(r.data.filter((_, i) => i % 3 === 0)), [0, 25, 75, 100]);
  assert.deepEqual(resizePilBilinear(img, 1, 2).data, img.data);
  // 4→2 downscale averages pairs (antialiasing support 2): [0,100,200,40] → [50?]; triangle weights over 4 taps
  const d = resizePilBilinear(
    { data: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40]), height: 1, width: 4 },
    1,
    2,
  );
  // out0: centre 1.0, support 2 → taps x=0,1,2 weights (0.75, 0.75, 0.25)/1.75 → (0*3 + 100*3 + 200*1)/7 = 71.4 → 71
  // out1: centre 3.0 → taps x=1,2,3 weights (0.25, 0.75, 0.75) → (100 + 600 + 120)/7 = 117.1 → 117
  assert.deepEqual(Array.from(d.data.filter((_, i) => i % 3 === 0)), [71, 117]);
});

Deno.test("config inference on the official MobileSAM shapes (synthetic state_dict)", async () => {
  const { syntheticSamStateDict } = await import("../../lib/sam/synthetic.ts");
  const { inferTinyVitConfig } = await import("../../lib/sam/tinyvit.ts");
  const { encoderKind } = await import("../../lib/sam/model.ts");
  const sd = syntheticSamStateDict("mobile_sam");
  assert.equal(encoderKind(sd), "tinyvit");
  const c = inferTinyVitConfig(sd);
  assert.deepEqual(c.embedDims, [64, 128, 160, 320]);
  assert.deepEqual(c.depths, [2, 2, 6, 2]);
  assert.deepEqual(c.numHeads.slice(1), [4, 5, 10]);
  assert.deepEqual(c.windowSizes.slice(1), [7, 14, 7]);
});
