// vote / box refinement on synthetic masks with hand-derived answers, and every path once with the fixture SAM model.
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { readNpySync, toNumbers } from "../../lib/io/npy.ts";
import { expandBoxes, type Instances, refine, refineBox, refineVote, voteForeground } from "../../lib/refine/mod.ts";
import { SamModel } from "../../lib/sam/model.ts";
import { SamPredictor } from "../../lib/sam/predictor.ts";
import { fixture, hasFixture } from "../fixtures.ts";

const H = 20, W = 20;

/** Rectangle mask rows r0..r1, cols c0..c1 inclusive. */
function rect(r0: number, r1: number, c0: number, c1: number, h = H, w = W): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = r0; y <= r1; y++) for (let x = c0; x <= c1; x++) m[y * w + x] = 1;
  return m;
}

function inst(masks: Uint8Array[], boxes: number[], conf: number[]): Instances {
  return {
    n: masks.length,
    boxes: Float32Array.from(boxes),
    conf: Float32Array.from(conf),
    cls: new Int32Array(masks.length),
    masks,
  };
}

Deno.test("vote: SAM mask with share > 0.3 replaces the YOLO mask; a large background mask is ignored", () => {
  // YOLO 12x12 square rows/cols 4..15 → core = dilate(erode(.,3),2) = rows/cols 5..14 (100 px)
  // A = rows/cols 3..16 (196 px, 100 inside core: share 0.51 → kept); B = whole image (share 0.25 → dropped)
  const yolo = inst([rect(4, 15, 4, 15)], [4, 4, 16, 16], [0.9]);
  const A = rect(3, 16, 3, 16), B = new Uint8Array(H * W).fill(1);
  const fgv = voteForeground(yolo.masks[0], [A, B], H, W);
  assert.deepEqual(fgv.kept, [true, false]);
  const out = refineVote(yolo, [A, B], H, W);
  assert.equal(out.n, 1);
  assert.deepEqual(out.masks[0], A); // the 14x14 square survives erode 3 / dilate 3 unchanged
  assert.deepEqual(Array.from(out.boxes), [3, 3, 17, 17]);
});

Deno.test("vote: without SAM masks the YOLO mask is kept (uncovered pixels added), thin spurs removed", () => {
  const spur = rect(4, 15, 4, 15);
  for (let x = 16; x < 20; x++) spur[10 * W + x] = 1; // 1-px line to the right border
  const yolo = inst([spur], [4, 4, 20, 16], [0.9]);
  const out = refineVote(yolo, [], H, W);
  assert.deepEqual(out.masks[0], rect(4, 15, 4, 15));
  assert.deepEqual(Array.from(out.boxes), [4, 4, 16, 16]);
});

Deno.test("vote: two instances; SAM pixels go to the instance they overlap most", () => {
  // left instance cols 1..8, right cols 11..18, rows 4..15; SAM masks each widen one by 1 px outward
  const L = rect(4, 15, 1, 8), R = rect(4, 15, 11, 18);
  const yolo = inst([L, R], [1, 4, 9, 16, 11, 4, 19, 16], [0.8, 0.9]);
  const SL = rect(4, 15, 0, 8), SR = rect(4, 15, 11, 19);
  const out = refineVote(yolo, [SL, SR], H, W);
  assert.deepEqual(out.masks[0], SL);
  assert.deepEqual(out.masks[1], SR);
});

Deno.test("box: best-IoU candidate replaces YOLO's mask; below minIou YOLO's is kept", () => {
  const yolo = inst([rect(4, 15, 4, 15), rect(0, 3, 0, 3)], [4, 4, 16, 16, 0, 0, 4, 4], [0.9, 0.5]);
  const good = rect(4, 16, 4, 15); // IoU 144/156 = 0.92
  const worse = rect(2, 17, 2, 17);
  const far = rect(10, 19, 10, 19); // IoU with instance 1 = 0
  let seen: Float32Array | null = null;
  const out = refineBox(
    yolo,
    (b) => {
      seen = b;
      return [[worse, good, far], [far]];
    },
    H,
    W,
  );
  assert.deepEqual(out.which, [true, false]);
  assert.deepEqual(out.masks[0], good);
  assert.deepEqual(out.masks[1], yolo.masks[1]);
  assert.deepEqual(Array.from(out.boxes), [4, 4, 16, 17, 0, 0, 4, 4]);
  // prompts: expanded by 5% of width/height per side, clipped to the image
  assert.deepEqual(Array.from(seen!), Array.from(expandBoxes(yolo.boxes, H, W, 0.05)));
  assert.deepEqual(Array.from(expandBoxes(Float32Array.from([4, 4, 16, 16]), H, W, 0.05)), [
    3.4000000953674316,
    3.4000000953674316,
    16.600000381469727,
    16.600000381469727,
  ]);
});

const VIT = fixture("reference/sam/vit_tiny");

Deno.test({
  name: "batched box prompts (predictBoxes) reproduce the fixture's box_single / box_multi masks",
  ignore: !hasFixture("reference/sam/vit_tiny/truck/prompts/box_single"),
  async fn() {
    await initBackend();
    const before = tf.memory().numTensors;
    const model = await SamModel.load(VIT);
    const dir = path.join(VIT, "truck");
    const meta = JSON.parse(Deno.readTextFileSync(path.join(dir, "meta.json")));
    const e = readNpySync(path.join(dir, "image_embedding.npy"));
    const emb = tf.tidy(() =>
      tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]).transpose([0, 2, 3, 1])
    );
    const p = new SamPredictor(model);
    p.setEmbedding(emb as tf.Tensor4D, meta.original_size);
    const box = meta.prompt_cases.find((c: { name: string }) => c.name === "box_single").inputs.box as number[];
    const HW = meta.original_size[0] * meta.original_size[1];
    for (const [multi, cname] of [[false, "box_single"], [true, "box_multi"]] as const) {
      const ref = toNumbers(readNpySync(path.join(dir, "prompts", cname, "masks.npy")));
      const rs = p.predictBoxes([...box, ...box, ...box], { multimask: multi, batch: 2 });
      assert.equal(rs.length, 3);
      for (const r of rs) {
        r.masks.forEach((m, c) => {
          let nd = 0;
          for (let i = 0; i < HW; i++) if (m[i] !== ref[c * HW + i]) nd++;
          assert.ok(nd / HW <= 1e-3, `${cname} mask ${c}: ${nd} px differ`);
        });
      }
    }
    p.reset();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  },
});

Deno.test({
  name: "refine(vote|box|none) runs end to end with the fixture model (random weights: structure only)",
  ignore: !hasFixture("reference/sam/vit_tiny/truck/image.npy"),
  async fn() {
    await initBackend();
    const before = tf.memory().numTensors;
    const model = await SamModel.load(VIT);
    const a = readNpySync(path.join(VIT, "truck", "image.npy"));
    const image = { data: a.data as Uint8Array, height: a.shape[0], width: a.shape[1] };
    const h = image.height, w = image.width;
    const yolo = inst([rect(40, 150, 60, 240, h, w)], [60, 40, 241, 151], [0.9]);
    assert.equal(refine("none", model, image, yolo), yolo);
    const v = refine("vote", model, image, yolo, { amg: { pointsPerSide: 4, cropNLayers: 0 }, maxSide: 150 });
    const b = refine("box", model, image, yolo);
    for (const r of [v, b]) {
      assert.equal(r.n, 1);
      assert.equal(r.masks[0].length, h * w);
      assert.ok(r.masks[0].every((x) => x === 0 || x === 1));
      assert.equal(r.boxes.length, 4);
    }
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  },
});
