/** Scale/layer table of lib/yolo/config.ts against the reference checkpoints' tensor shapes and ultralytics rules. */
import assert from "node:assert/strict";
import { buildConfig, inferConfig, makeDivisible, scaleFromName } from "../../lib/yolo/config.ts";
import { UserError } from "../../lib/util/errors.ts";
import { fixture, hasFixture } from "../fixtures.ts";

interface KeyEntry {
  name: string;
  shape: number[];
}

function shapesOf(rel: string): Map<string, { shape: number[] }> {
  const keys = JSON.parse(Deno.readTextFileSync(fixture(rel))) as KeyEntry[];
  return new Map(keys.map((k) => [k.name, { shape: k.shape }]));
}

Deno.test("make_divisible rounds up to multiples of 8", () => {
  assert.equal(makeDivisible(16, 8), 16);
  assert.equal(makeDivisible(64 * 0.25, 8), 16);
  assert.equal(makeDivisible(1024 * 0.25 * 0.5, 8), 128);
  assert.equal(makeDivisible(17, 8), 24);
  assert.equal(makeDivisible(768 * 0.75, 8), 576); // m: max_channels 768 × 0.75
});

Deno.test("repeats and channels per scale follow parse_model (hand-computed)", () => {
  // n: depth 0.33 → 3→1, 6→2; m: depth 0.67 → 3→2, 6→4 (round(4.02)).
  assert.deepEqual(buildConfig("n", 80).layers.map((l) => l.n).filter((_, i) => [2, 4, 6, 8].includes(i)), [
    1,
    2,
    2,
    1,
  ]);
  assert.deepEqual(buildConfig("m", 80).layers.map((l) => l.n).filter((_, i) => [2, 4, 6, 8].includes(i)), [
    2,
    4,
    4,
    2,
  ]);
  // x: width 1.25, max 512 → 1024 capped at 512 → 640.
  assert.equal(buildConfig("x", 80).layers[9].cout, 640);
  assert.equal(buildConfig("l", 80).layers[0].cout, 64);
  // Segment npr = make_divisible(min(256, max_ch) · width): n 64, s 128, m 192, l 256, x 320.
  assert.deepEqual((["n", "s", "m", "l", "x"] as const).map((s) => buildConfig(s, 1).layers[22].npr), [
    64,
    128,
    192,
    256,
    320,
  ]);
  assert.deepEqual(buildConfig("n", 1).layers[22].from, [15, 18, 21]);
  assert.deepEqual(buildConfig("n", 1).layers[11].from, [10, 6]);
});

Deno.test({
  name: "layer channels of yolov8n-seg equal the reference state-dict shapes",
  ignore: !hasFixture("reference/yolo/seg_n_nc1_sd/keys.json"),
  fn() {
    const sd = shapesOf("reference/yolo/seg_n_nc1_sd/keys.json");
    const cfg = buildConfig("n", 1);
    for (const l of cfg.layers) {
      if (l.type === "Conv" || l.type === "C2f" || l.type === "SPPF") {
        const w = sd.get(l.type === "Conv" ? `model.${l.index}.conv.weight` : `model.${l.index}.cv2.conv.weight`)!;
        assert.equal(w.shape[0], l.cout, `layer ${l.index} out channels`);
        const w1 = sd.get(l.type === "Conv" ? `model.${l.index}.conv.weight` : `model.${l.index}.cv1.conv.weight`)!;
        assert.equal(w1.shape[1], l.cin[0], `layer ${l.index} in channels`);
      }
      if (l.type === "C2f") {
        let nb = 0;
        while (sd.has(`model.${l.index}.m.${nb}.cv1.conv.weight`)) nb++;
        assert.equal(nb, l.n, `layer ${l.index} repeats`);
      }
    }
  },
});

Deno.test({
  name: "inferConfig reads scale and nc from shapes (nc1 and nc80 references)",
  ignore: !hasFixture("reference/yolo/seg_n_nc80_sd/keys.json"),
  fn() {
    assert.deepEqual(inferConfig(shapesOf("reference/yolo/seg_n_nc1_sd/keys.json")), { scale: "n", nc: 1 });
    assert.deepEqual(inferConfig(shapesOf("reference/yolo/seg_n_nc80_sd/keys.json")), { scale: "n", nc: 80 });
  },
});

Deno.test("inferConfig rejects a state dict that is not YOLOv8-seg", () => {
  assert.throws(() => inferConfig(new Map([["fc.weight", { shape: [2, 2] }]]), "x.pt"), UserError);
  const odd = new Map([["model.0.conv.weight", { shape: [20, 3, 3, 3] }], ["model.22.cv3.0.2.weight", {
    shape: [1, 64, 1, 1],
  }]]);
  assert.throws(() => inferConfig(odd, "x.pt"), /matches no YOLOv8 scale/);
});

Deno.test("scaleFromName accepts scale letters and yaml names", () => {
  assert.equal(scaleFromName("n"), "n");
  assert.equal(scaleFromName("yolov8s-seg.yaml"), "s");
  assert.equal(scaleFromName("yolov8x-seg"), "x");
  assert.equal(scaleFromName("best.pt"), null);
});
