/**
 * imagesToTensor (values v/255 as float32), tensor hygiene over decode + letterbox + conv, drawing and cut-outs.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import {
  cropRgba,
  decodeImage,
  drawInstances,
  encodePng,
  imagesToTensor,
  letterbox,
  type RgbImage,
} from "../../lib/image/mod.ts";

const solid = (h: number, w: number, v: number): RgbImage => ({
  data: new Uint8Array(h * w * 3).fill(v),
  height: h,
  width: w,
  channels: 3,
});

Deno.test("imagesToTensor: [B,H,W,3] float32 v/255, shape checks", async () => {
  await initBackend({ backend: "wasm", threads: 1 });
  const a = { ...solid(2, 3, 0), data: Uint8Array.from({ length: 18 }, (_, i) => i * 15) };
  const t = imagesToTensor([a, solid(2, 3, 255)]);
  assert.deepEqual(t.shape, [2, 2, 3, 3]);
  assert.equal(t.dtype, "float32");
  const v = await t.data();
  for (let i = 0; i < 18; i++) assert.equal(v[i], Math.fround((i * 15) / 255));
  assert.equal(v[18], 1);
  t.dispose();
  assert.throws(() => imagesToTensor([solid(2, 3, 0), solid(3, 2, 0)]), RangeError);
});

Deno.test("5 x (decode + letterbox + tensor + conv forward) leave tf.memory().numTensors unchanged", async () => {
  await initBackend({ backend: "wasm", threads: 1 });
  const png = await encodePng({
    ...solid(37, 53, 0),
    data: Uint8Array.from({ length: 37 * 53 * 3 }, (_, i) => i % 251),
  });
  const w = tf.randomNormal([3, 3, 3, 8], 0, 0.1, "float32", 1) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const img = await decodeImage(png);
    const lb = letterbox(img, { newShape: 64, auto: true });
    const x = imagesToTensor([lb.image]);
    const y = tf.tidy(() => tf.sum(tf.conv2d(x, w, 2, "same")));
    await y.data();
    tf.dispose([x, y]);
  }
  assert.equal(tf.memory().numTensors, before);
  w.dispose();
});

Deno.test("drawInstances: mask blend 50 %, box outline, label pixels; input untouched", async () => {
  const img = solid(40, 60, 100);
  const mask = new Uint8Array(40 * 60);
  mask[30 * 60 + 50] = 1;
  const out = await drawInstances(img, [mask], [[10, 20, 30, 35]], ["cat 0.9"], [[255, 0, 0]], { lineWidth: 2 });
  assert.deepEqual([out.height, out.width, out.channels], [40, 60, 3]);
  const px = (y: number, x: number) => Array.from(out.data.subarray((y * 60 + x) * 3, (y * 60 + x) * 3 + 3));
  assert.deepEqual(px(30, 50), [178, 50, 50], "round(100 * 0.5 + c * 0.5)");
  assert.deepEqual(px(25, 10), [255, 0, 0], "left edge of the box");
  assert.deepEqual(px(34, 29), [255, 0, 0], "bottom-right corner (x2, y2 exclusive)");
  assert.deepEqual(px(27, 20), [100, 100, 100], "box interior untouched");
  let changedAbove = 0; // the label sits above the box's top-left corner
  for (let y = 0; y < 20; y++) for (let x = 10; x < 40; x++) if (px(y, x).join() !== "100,100,100") changedAbove++;
  assert.ok(changedAbove > 50, `label drawn (${changedAbove} pixels)`);
  assert.ok(img.data.every((v) => v === 100), "input image not modified");
});

Deno.test("cropRgba: crops to the mask's box, alpha from the mask", () => {
  const img: RgbImage = { data: Uint8Array.from({ length: 4 * 5 * 3 }, (_, i) => i), height: 4, width: 5, channels: 3 };
  const mask = new Uint8Array(20);
  mask[1 * 5 + 2] = 1; // (y1, x2)
  mask[2 * 5 + 3] = 1; // (y2, x3)
  const c = cropRgba(img, mask);
  assert.deepEqual([c.height, c.width, c.channels], [2, 2, 4]);
  // pixel (1,2) -> index 7 -> rgb 21,22,23; (1,3) -> 24.. alpha 0; (2,2) alpha 0; (2,3) -> 39,40,41 alpha 255
  assert.deepEqual(Array.from(c.data), [21, 22, 23, 255, 24, 25, 26, 0, 36, 37, 38, 0, 39, 40, 41, 255]);
  assert.throws(() => cropRgba(img, new Uint8Array(20)), RangeError);
  const b = cropRgba(img, mask, [0, 0, 5, 4]);
  assert.deepEqual([b.height, b.width], [4, 5]);
});
