/** The validator end to end on a tiny synthetic dataset with a scripted engine (hand-computed outcomes). */
import assert from "node:assert/strict";
import * as path from "node:path";
import sharp from "sharp";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { type ValEngine, validate } from "../../lib/metrics/validate.ts";
import { writeValReport } from "../../lib/metrics/report.ts";
import type { SegModel } from "../../lib/yolo/predict.ts";
import { YoloSegDataset } from "../../lib/dataset/yolo_dataset.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

async function makeDataset(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "animeseg_val_" });
  await Deno.mkdir(path.join(dir, "images"), { recursive: true });
  await Deno.mkdir(path.join(dir, "labels"), { recursive: true });
  const raw = new Uint8Array(64 * 64 * 3).fill(90);
  for (const name of ["a", "b"]) {
    await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(
      path.join(dir, "images", `${name}.png`),
    );
  }
  // a: one square instance 16..48 px; b: no label file (an image without objects)
  await Deno.writeTextFile(path.join(dir, "labels", "a.txt"), "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n");
  await Deno.writeTextFile(path.join(dir, "data.yaml"), "path: .\ntrain: images\nval: images\nnames:\n  0: thing\n");
  return path.join(dir, "data.yaml");
}

// input 96x96 (rect shape ceil(64/32 + 0.5) * 32), image at offset 16; proto 24x24 with one channel of ones
const engine: ValEngine = (_x, B, H, W) => {
  assert.deepEqual([B, H, W], [2, 96, 96]);
  const A = 2, C = 4 + 1 + 1;
  const pred = new Float32Array(B * A * C);
  pred.set([48, 48, 32, 32, 0.9, 1], 0); // image a: exactly the GT square
  pred.set([10, 10, 4, 4, 0.0005, 1], C); // below conf 0.001
  pred.set([40, 40, 10, 10, 0.5, 1], A * C); // image b: a false positive
  pred.set([10, 10, 4, 4, 0.0005, 1], A * C + C);
  const proto = { data: new Float32Array(24 * 24).fill(1), h: 24, w: 24, c: 1 };
  return Promise.resolve({ pred, A, C, protos: [proto, proto] });
};

const model: SegModel = {
  nc: 1,
  names: ["thing"],
  forward: () => {
    throw new Error("engine is used");
  },
};

Deno.test("validate: exact box + proto masks, one FP on an image without GT, native masks see the fillPoly edge", async () => {
  await initBackend();
  const yaml = await makeDataset();
  const before = tf.memory().numTensors;
  const r = await validate(model, yaml, { imgsz: 64, batch: 2, masks: "both", engine, verbose: false });
  assert.equal(r.images, 2);
  assert.equal(r.instances, 1);
  // P is read at the max of the smoothed mean F1; np.interp makes precision fall linearly from 1 (conf 0.9) to
  // 0.5 (conf 0.5), so P is just under 1 while recall stays 1 below conf 0.9
  assert.ok(r.box.P > 0.9 && r.box.P < 1);
  close(r.box.R, 1);
  close(r.box.mAP50, 0.995);
  close(r.box["mAP50-95"], 0.995);
  close(r.mask["mAP50-95"], 0.995); // 8x8 proto pixels on both sides
  // native: GT fillPoly covers 33x33 px (edges inclusive), the box-cropped prediction 32x32 → IoU 0.940 < 0.95
  close(r.maskNative!.mAP50, 0.995);
  close(r.maskNative!["mAP50-95"], 0.995 * 0.9);
  close(r.fitness, 0.995 * 2);
  assert.deepEqual(r.perClass.map((c) => [c.name, c.images, c.instances]), [["thing", 1, 1]]);
  const worst = r.perImage.slice().sort((a, b) => a.maskScore - b.maskScore)[0];
  assert.equal(path.basename(worst.imageFile), "b.png");
  assert.equal(tf.memory().numTensors, before);
  const out = path.join(path.dirname(yaml), "run");
  const files = await writeValReport(out, r);
  assert.ok(files.includes("metrics.json") && files.includes("per_class.csv") && files.includes("PR_curve_box.svg"));
  const mj = JSON.parse(await Deno.readTextFile(path.join(out, "metrics.json")));
  assert.deepEqual(Object.keys(mj.box), ["P", "R", "mAP50", "mAP50-95"]);
  close(mj.per_class.thing.mask_native["mAP50-95"], 0.8955, 1e-12);
  // per-instance GT masks at mask_ratio 2 are resized to the 24x24 prototypes (bilinear, > 0.5): rows 16..32 of 48
  // become 8..15 of 24, the same square as the prediction
  const ds2 = await YoloSegDataset.open(yaml, "val", { imgsz: 64, batch: 2, overlapMask: false, maskRatio: 2 });
  const r2 = await validate(model, ds2, { engine, verbose: false });
  close(r2.mask["mAP50-95"], 0.995);
  // class mapping: keeping a class the model never predicts leaves nothing to score
  const none = await validate(model, yaml, { imgsz: 64, batch: 2, engine, verbose: false, classes: [3] });
  assert.equal(none.box.mAP50, 0);
  await Deno.remove(path.dirname(yaml), { recursive: true });
});
