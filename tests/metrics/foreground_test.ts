/** Foreground metrics on hand-computed maps. */
import assert from "node:assert/strict";
import { boundaryFScore, foregroundScores, meanForeground } from "../../lib/metrics/foreground.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

function rect(h: number, w: number, y0: number, y1: number, x0: number, x1: number, v = 1): Float32Array {
  const m = new Float32Array(h * w);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = v;
  return m;
}

Deno.test("foreground: perfect prediction → IoU 1, F 1, MAE 0, boundary F 1", () => {
  const gt = rect(20, 20, 5, 15, 5, 15);
  const s = foregroundScores(gt, gt, 20, 20);
  assert.deepEqual(s, { iou: 1, fBeta: 1, maxFBeta: 1, mae: 0, boundaryF: 1 });
});

Deno.test("foreground: half-covered square → hand-computed IoU, F-beta(0.3), MAE", () => {
  const gt = rect(10, 10, 0, 4, 0, 4); // 16 px
  const pred = rect(10, 10, 0, 4, 0, 2); // 8 px, all inside
  const s = foregroundScores(pred, gt, 10, 10);
  close(s.iou, 0.5);
  // P = 1, R = 0.5: F = 1.3 * 0.5 / (0.3 + 0.5)
  close(s.fBeta, (1.3 * 0.5) / 0.8);
  close(s.mae, 8 / 100);
  close(s.maxFBeta, (1.3 * 0.5) / 0.8);
});

Deno.test("foreground: soft map MAE and max F-beta over thresholds", () => {
  const gt = rect(4, 4, 0, 2, 0, 4); // top half
  const pred = rect(4, 4, 0, 2, 0, 4, 0.4); // 0.4 on the foreground: below 0.5 → empty binary map
  const s = foregroundScores(pred, gt, 4, 4);
  close(s.mae, (8 * 0.6) / 16, 1e-7); // the map is float32
  assert.equal(s.iou, 0);
  assert.equal(s.fBeta, 0);
  close(s.maxFBeta, 1); // threshold below 0.4 recovers the mask exactly
});

Deno.test("boundary F: 1-px shift is inside a 3-px band, a 10-px shift is not", () => {
  const h = 40, w = 40;
  const a = Uint8Array.from(rect(h, w, 10, 30, 10, 30));
  const b = Uint8Array.from(rect(h, w, 11, 31, 10, 30));
  const c = Uint8Array.from(rect(h, w, 20, 40, 20, 40));
  close(boundaryFScore(a, b, h, w, 3), 1);
  assert.ok(boundaryFScore(a, c, h, w, 3) < 0.5);
  assert.ok(boundaryFScore(a, b, h, w, 0) < 1);
  const m = meanForeground([foregroundScores(a, a, h, w), foregroundScores(new Float32Array(h * w), a, h, w)]);
  close(m.iou, 0.5);
});
