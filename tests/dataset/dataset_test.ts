/** The ultralytics-style dataset loader: label records, rect batch shapes, letterbox geometry, overlap masks. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { overlapMasks, rectBatches, YoloSegDataset } from "../../lib/dataset/yolo_dataset.ts";
import { labelsFromItem, resampleSegment } from "../../lib/dataset/labels.ts";
import { applyLetterbox, letterboxGeometry, resizeLinearU8 } from "../../lib/dataset/image.ts";
import { readNpySync } from "../../lib/io/npy.ts";

const YAML = "coco128-seg/coco128-seg.yaml";

Deno.test("resampleSegment: closed polygon, points evenly spaced in vertex index (resample_segments)", () => {
  const sq = [0, 0, 1, 0, 1, 1, 0, 1];
  assert.deepEqual(Array.from(resampleSegment(sq, 5)), [0, 0, 1, 0, 1, 1, 0, 1, 0, 0]);
  assert.deepEqual(Array.from(resampleSegment(sq, 9)).slice(0, 6), [0, 0, 0.5, 0, 1, 0]);
});

Deno.test("labelsFromItem: boxes from polygon extents; exact duplicate rows dropped and rows sorted as np.unique", () => {
  const poly = (a: number[]) => Float32Array.from(a);
  const lab = labelsFromItem({
    imageFile: "x.jpg",
    labelFile: "x.txt",
    instances: [
      { cls: 2, polygon: poly([0.1, 0.1, 0.5, 0.1, 0.5, 0.3]) },
      { cls: 1, polygon: poly([0.2, 0.2, 0.4, 0.2, 0.4, 0.6]) },
      { cls: 2, polygon: poly([0.1, 0.1, 0.5, 0.1, 0.5, 0.3]) },
    ],
  });
  assert.equal(lab.duplicates, 1);
  assert.deepEqual(Array.from(lab.cls), [1, 2]);
  const f = Math.fround;
  assert.deepEqual(Array.from(lab.bboxes.subarray(4)), [
    f(f(f(0.1) + f(0.5)) / 2),
    f(0.2),
    f(f(0.5) - f(0.1)),
    f(f(0.3) - f(0.1)),
  ]);
  assert.equal(lab.segments[0].length, 2000);
});

Deno.test("rectBatches: sorted by aspect ratio, shapes ceil(ar*imgsz/32 + 0.5)*32", () => {
  const r = rectBatches([[480, 640], [640, 480], [427, 640], [640, 640]], 2, 640, 32, 0.5);
  assert.deepEqual(r.order, [2, 0, 3, 1]);
  // batch 0: ar 0.667, 0.75 → [0.75, 1] → [ceil(15.5), ceil(20.5)] * 32
  assert.deepEqual(r.batchShapes, [[512, 672], [672, 672]]);
});

Deno.test("letterboxGeometry: scaleup=False, centred, padding split as round(d ± 0.1)", () => {
  const g = letterboxGeometry(218, 640, [352, 672]);
  assert.equal(g.ratio, 1);
  assert.deepEqual([g.top, g.bottom, g.left, g.right], [67, 67, 16, 16]);
  const g2 = letterboxGeometry(427, 640, [448, 672]);
  assert.deepEqual([g2.dh, g2.top, g2.bottom], [10.5, 10, 11]);
});

Deno.test("resizeLinearU8: 0/1 mask downsampled 4x keeps a pixel when ≥ 2 of its 2x2 centre taps are set", () => {
  const m = new Uint8Array(8 * 8);
  m[1 * 8 + 1] = m[1 * 8 + 2] = 1; // two taps of output (0,0)
  m[5 * 8 + 5] = 1; // one tap of output (1,1)
  assert.deepEqual(Array.from(resizeLinearU8(m, 8, 8, 1, 2, 2)), [1, 0, 0, 0]);
});

Deno.test("overlapMasks: larger instance first, smaller overwrite; order by decreasing area", () => {
  const big = Float32Array.from([0, 0, 31, 0, 31, 31, 0, 31]);
  const small = Float32Array.from([8, 8, 15, 8, 15, 15, 8, 15]);
  const r = overlapMasks([small, big], 32, 32, 4);
  assert.deepEqual(r.order, [1, 0]);
  assert.deepEqual(r.hw, [8, 8]);
  assert.equal(r.masks[0], 1);
  assert.equal(r.masks[2 * 8 + 2], 2);
  assert.equal(r.masks[7 * 8 + 7], 1);
});

Deno.test({
  name: "coco128-seg: 128 images, 929 instances, rect batch shapes and a letterboxed sample",
  ignore: !hasFixture(YAML),
  fn: async () => {
    const ds = await YoloSegDataset.open(fixture(YAML), "val", { imgsz: 640, batch: 4 });
    assert.equal(ds.length, 128);
    assert.equal(ds.instanceCount, 929); // ultralytics' own count for this split
    assert.equal(ds.missingLabels, 2);
    assert.equal(ds.batchShapes.length, 32);
    // label counts equal the number of lines of each label file (coco128-seg has no duplicate rows)
    for (const l of ds.labels.slice(0, 20)) {
      let lines = 0;
      try {
        lines = Deno.readTextFileSync(l.labelFile).split("\n").filter((s) => s.trim()).length;
      } catch { /* no label file */ }
      assert.equal(l.cls.length, lines, l.labelFile);
    }
    // aspect ratios non-decreasing; every image fits its batch shape with the long side 640
    for (let i = 1; i < ds.length; i++) {
      assert.ok(ds.shapes[i - 1][0] / ds.shapes[i - 1][1] <= ds.shapes[i][0] / ds.shapes[i][1]);
    }
    for (const [h, w] of ds.batchShapes) assert.ok(h % 32 === 0 && w % 32 === 0 && Math.max(h, w) === 672);
    const few = await YoloSegDataset.open(fixture(YAML), "val", { imgsz: 320, batch: 4, limit: 5 });
    assert.equal(few.length, 5);
    assert.deepEqual(few.batches().map((b) => b.length), [4, 1]);
    const s = await ds.getItem(0);
    assert.equal(path.basename(s.imageFile), "000000000357.jpg"); // the widest image (218 x 640)
    assert.deepEqual(s.oriHW, [218, 640]);
    assert.deepEqual([s.img.height, s.img.width], [352, 672]); // ceil(max ar * 20 + 0.5) * 32
    assert.deepEqual(s.ratioPad, [[1, 1], [16, 67]]);
    assert.deepEqual(s.maskHW, [88, 168]);
    assert.equal(s.img.data[0], 114);
    const n = s.cls.length;
    assert.equal(n, 17);
    const ids = new Set(s.masks);
    assert.ok(ids.size <= n + 1 && Math.max(...ids) <= n);
    // boxes normalised to the letterboxed frame lie inside the image region
    for (let k = 0; k < n; k++) {
      const cy = s.bboxes[k * 4 + 1] * 352;
      assert.ok(cy >= 67 - 1 && cy <= 67 + 218 + 1);
    }
  },
});

Deno.test({
  name:
    "resize + letterbox against OpenCV/ultralytics LetterBox outputs: exact when shrinking, ≤ 1 level when enlarging",
  ignore: !hasFixture("reference/forward/letterbox_cases.json"),
  fn: () => {
    const dir = fixture("reference/forward");
    const cases = JSON.parse(Deno.readTextFileSync(path.join(dir, "letterbox_cases.json")));
    const names = Array.isArray(cases) ? cases.map((c: { name: string }) => c.name) : Object.keys(cases);
    assert.ok(names.length > 0);
    for (const name of names) {
      const orig = readNpySync(path.join(dir, `letterbox_${name}_orig.npy`));
      const [h, w] = orig.shape;
      for (const mode of ["square", "rect"]) {
        const ref = readNpySync(path.join(dir, `letterbox_${name}_${mode}.npy`));
        const g = letterboxGeometry(h, w, [ref.shape[0], ref.shape[1]], true);
        const out = applyLetterbox({ data: orig.data as Uint8Array, height: h, width: w }, g);
        const r = ref.data as Uint8Array;
        assert.equal(out.data.length, r.length, `${name} ${mode}`);
        let maxd = 0;
        for (let i = 0; i < r.length; i++) maxd = Math.max(maxd, Math.abs(r[i] - out.data[i]));
        assert.equal(maxd, 0, `${name} ${mode}: max diff ${maxd}`);
      }
    }
  },
});
