/** COCO-style AP (pycocotools semantics) on a hand-computed example, crowd handling, and the COCO JSON fixture. */
import assert from "node:assert/strict";
import { fixture, hasFixture } from "../fixtures.ts";
import {
  type CocoAnn,
  cocoEvaluate,
  type CocoJson,
  defaultParams,
  readCocoJson,
  readCocoResults,
} from "../../lib/metrics/coco.ts";
import { apPerClass } from "../../lib/metrics/ap.ts";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const square = (x: number, y: number, s: number) => [[x, y, x + s, y, x + s, y + s, x, y + s]];

function example(withCrowd: boolean): { gt: CocoJson; dt: CocoAnn[] } {
  const anns: CocoAnn[] = [
    { id: 1, image_id: 7, category_id: 3, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0, segmentation: square(0, 0, 10) },
    {
      id: 2,
      image_id: 7,
      category_id: 3,
      bbox: [10, 10, 10, 10],
      area: 100,
      iscrowd: 0,
      segmentation: square(10, 10, 10),
    },
  ];
  const dt: CocoAnn[] = [
    { id: 0, image_id: 7, category_id: 3, score: 0.9, bbox: [0, 0, 10, 10], segmentation: square(0, 0, 10) },
    { id: 0, image_id: 7, category_id: 3, score: 0.8, bbox: [30, 30, 8, 8], segmentation: square(30, 30, 8) },
    // IoU 80 / 120 = 0.667 with the second GT
    { id: 0, image_id: 7, category_id: 3, score: 0.7, bbox: [12, 10, 10, 10], segmentation: square(12, 10, 10) },
  ];
  if (withCrowd) {
    anns.push({
      id: 3,
      image_id: 7,
      category_id: 3,
      bbox: [0, 20, 20, 20],
      area: 400,
      iscrowd: 1,
      segmentation: square(0, 20, 20),
    });
    dt.push({ id: 0, image_id: 7, category_id: 3, score: 0.95, bbox: [0, 25, 5, 5], segmentation: square(0, 25, 5) });
  }
  return {
    gt: { images: [{ id: 7, height: 48, width: 48 }], annotations: anns, categories: [{ id: 3, name: "thing" }] },
    dt,
  };
}

// hand computation: IoU thresholds .50-.65 → precision envelope 1 up to recall .5 (51 points), 2/3 after (50 points);
// thresholds .70-.95 → 1 up to recall .5, then 0
const AP_LOW = (51 + 50 * (2 / 3)) / 101, AP_HIGH = 51 / 101;

for (const iouType of ["bbox", "segm"] as const) {
  Deno.test(`COCO AP (${iouType}): hand-computed example`, () => {
    const { gt, dt } = example(false);
    const r = cocoEvaluate(gt, dt, defaultParams(iouType));
    close(r.stats[0], (4 * AP_LOW + 6 * AP_HIGH) / 10);
    close(r.stats[1], AP_LOW);
    close(r.stats[2], AP_HIGH);
    close(r.stats[3], (4 * AP_LOW + 6 * AP_HIGH) / 10); // every object is small (area 100)
    assert.equal(r.stats[4], -1); // no medium GT
    assert.equal(r.stats[5], -1);
    close(r.stats[6], 0.5); // AR maxDets 1: only the top detection
    close(r.stats[8], (4 * 1 + 6 * 0.5) / 10);
  });

  Deno.test(`COCO AP (${iouType}): a detection on a crowd region is ignored, not a false positive`, () => {
    const a = cocoEvaluate(example(false).gt, example(false).dt, defaultParams(iouType));
    const b = cocoEvaluate(example(true).gt, example(true).dt, defaultParams(iouType));
    for (let i = 0; i < 3; i++) close(b.stats[i], a.stats[i]);
  });
}

Deno.test("COCO AP50 and ultralytics-style AP50 agree up to their interpolation rules on the same matches", () => {
  // the same three detections: TP (0.9), FP (0.8), TP (0.7) against 2 GT
  const ul = apPerClass(
    [...new Array(10).fill(1), ...new Array(10).fill(0), 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
    [
      0.9,
      0.8,
      0.7,
    ],
    [3, 3, 3],
    [3, 3],
  );
  // ultralytics: trapz over the envelope interpolated at 101 points (value 2/3 from recall 0.5 on)
  close(ul.ap[0][0], 0.49 + (1 + 2 / 3) / 2 * 0.01 + (2 / 3) * 0.49 + (2 / 3) / 2 * 0.01, 1e-12);
  const { gt, dt } = example(false);
  const coco = cocoEvaluate(gt, dt, defaultParams("bbox"));
  assert.ok(Math.abs(coco.stats[1] - ul.ap[0][0]) < 0.01);
});

Deno.test({
  name: "COCO fixture: GT as its own results gives AP 1; the fake segm results evaluate",
  ignore: !hasFixture("coco_json_sample/instances_val2014_sample20.json"),
  fn: async () => {
    const gt = await readCocoJson(fixture("coco_json_sample/instances_val2014_sample20.json"));
    const self: CocoAnn[] = gt.annotations.filter((a) => !a.iscrowd).map((a) => ({ ...a, score: 1 }));
    const r = cocoEvaluate(gt, self, defaultParams("segm"));
    for (const i of [0, 1, 2, 6, 8]) close(r.stats[i], i === 6 ? r.stats[6] : 1, 1e-12);
    const res = await readCocoResults(fixture("coco_json_sample/instances_val2014_fakesegm_sample20_results.json"));
    assert.equal(res.length, 259);
    const fake = cocoEvaluate(gt, res, defaultParams("segm"));
    for (const s of fake.stats) assert.ok(s === -1 || (s >= 0 && s <= 1));
    assert.ok(fake.stats[0] > 0 && fake.stats[0] < 1);
  },
});
