/** Metric parity against ultralytics' reference fixtures and hand-computed AP / IoU cases. */
import assert from "node:assert/strict";
import { fixture, FIXTURES, hasFixture } from "../fixtures.ts";
import { category } from "../../tools/parity/metrics.ts";
import { boxIou, maskIou } from "../../lib/metrics/iou.ts";
import { IOU_THRESHOLDS, matchPredictions } from "../../lib/metrics/match.ts";
import { apPerClass, computeAp, interp, smooth, summarize } from "../../lib/metrics/ap.ts";
import { argsortQuick } from "../../lib/metrics/npsort.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test({
  name: "metrics parity: every case of reference/metrics within the README tolerances",
  ignore: !hasFixture("reference/metrics/cases.json"),
  fn: async () => {
    const results = [];
    for await (const r of category.run(fixture("reference"), { engine: "tfjs", extra: {} })) results.push(r);
    const failed = results.filter((r) => r.verdict !== "PASS");
    assert.equal(failed.length, 0, failed.map((r) => `${r.name} ${r.detail}`).join("\n"));
    assert.ok(results.length >= 30, `only ${results.length} cases found under ${FIXTURES}`);
  },
});

Deno.test("box IoU: hand-computed overlap (float32)", () => {
  // [0,0,10,10] vs [5,5,15,15]: inter 25, union 175
  const iou = boxIou([0, 0, 10, 10], [5, 5, 15, 15, 20, 20, 30, 30]);
  close(iou[0], Math.fround(25 / Math.fround(175 + Math.fround(1e-7))), 0);
  assert.equal(iou[1], 0);
});

Deno.test("mask IoU: 2x2 square against 2x4 rectangle = 0.5, disjoint = 0", () => {
  const h = 4, w = 4;
  const a = new Uint8Array(h * w), b = new Uint8Array(2 * h * w);
  for (const [y, x] of [[0, 0], [0, 1], [1, 0], [1, 1]]) a[y * w + x] = 1;
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) b[y * w + x] = 1;
  b[16 + 3 * w + 3] = 1;
  const iou = maskIou({ n: 1, h, w, data: a }, { n: 2, h, w, data: b });
  close(iou[0], 0.5, 1e-7);
  assert.equal(iou[1], 0);
});

Deno.test("matchPredictions: class must match, each GT used once, thresholds 0.50:0.05:0.95", () => {
  // 1 GT (class 0); preds: class 0 IoU 0.8, class 0 IoU 0.9 (duplicate), class 1 IoU 1.0
  const tp = matchPredictions([0, 0, 1], [0], [0.8, 0.9, 1.0]);
  const row = (i: number) => Array.from(tp.subarray(i * 10, i * 10 + 10));
  // ultralytics keeps, per GT, the lowest prediction index among the best-per-prediction pairs
  // (IoUs are float32: f32(0.8) >= f32(0.8), so 0.8 still matches at the 0.80 threshold)
  assert.deepEqual(row(0), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]); // 0.8 >= 0.50..0.80
  assert.deepEqual(row(1), [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]); // 0.9 wins only where 0.8 fails
  assert.deepEqual(row(2), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(IOU_THRESHOLDS[1], Math.fround(0.55));
});

Deno.test("apPerClass: perfect predictions give P = R = 1 and AP 0.995 (ultralytics' 101-point rule)", () => {
  const tp = new Array(20).fill(1);
  const r = apPerClass(tp, [0.9, 0.8], [0, 0], [0, 0]);
  const s = summarize(r);
  close(s.P, 1);
  close(s.R, 1);
  close(s.mAP50, 0.995, 1e-12);
  close(s["mAP50-95"], 0.995, 1e-12);
  close(s.fitness, 0.995, 1e-12);
});

Deno.test("apPerClass: one missed object of two → AP 0.75, P 1, R 0.5", () => {
  const r = apPerClass(new Array(10).fill(1), [0.9], [0], [0, 0]);
  close(r.ap[0][0], 0.75, 1e-12);
  close(r.p[0], 1);
  close(r.r[0], 0.5);
  assert.equal(r.tp[0], 1);
  assert.equal(r.fp[0], 0);
});

Deno.test("apPerClass: a duplicate after the true positive → AP 0.995; an FP ranked first → AP 0.4975", () => {
  const dup = apPerClass([...new Array(10).fill(1), ...new Array(10).fill(0)], [0.9, 0.8], [0, 0], [0]);
  close(dup.ap[0][0], 0.995, 1e-12);
  // an image with no GT contributes a confident FP (conf 0.9) ahead of the TP (0.5)
  const fpFirst = apPerClass([...new Array(10).fill(1), ...new Array(10).fill(0)], [0.5, 0.9], [0, 0], [0]);
  close(fpFirst.ap[0][0], 0.4975, 1e-12);
});

Deno.test("apPerClass: classes without predictions count as AP 0; no GT class → not listed", () => {
  const r = apPerClass(new Array(10).fill(1), [0.9], [0], [0, 1]);
  assert.deepEqual(r.uniqueClasses, [0, 1]);
  close(r.ap[0][0], 0.995, 1e-12);
  assert.equal(r.ap[1][0], 0);
  close(summarize(r).mAP50, 0.4975, 1e-12);
});

Deno.test("numpy helpers: interp with duplicate xp, compute_ap envelope, smooth width", () => {
  assert.deepEqual(Array.from(interp([0, 0.5, 1, 2], [0, 0, 1, 1], [1, 0.5, 0.25, 0])), [0.5, 0.375, 0, 0]);
  close(computeAp([1], [1]).ap, 0.995, 1e-12);
  const s = smooth(Float64Array.from({ length: 1000 }, (_, i) => (i === 500 ? 101 : 0)), 0.1);
  assert.equal(s.length, 1000);
  close(s[500], 1, 1e-12);
  close(s[450], 1, 1e-12);
  assert.equal(s[449], 0);
  assert.equal(s[551], 0);
});

Deno.test("argsortQuick: numpy's introsort order (insertion sort below 16, ties stable there)", () => {
  assert.deepEqual(Array.from(argsortQuick([3, 1, 2, 1])), [1, 3, 2, 0]);
  const v = Array.from({ length: 200 }, (_, i) => (i * 37) % 11);
  const idx = argsortQuick(v);
  for (let i = 1; i < v.length; i++) assert.ok(v[idx[i - 1]] <= v[idx[i]]);
  assert.equal(new Set(idx).size, 200);
});
