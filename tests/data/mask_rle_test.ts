import assert from "node:assert/strict";
import {
  fillPolygonsInto,
  joinPolygons,
  maskArea,
  maskBox,
  maskIou,
  maskToPolygons,
  rasterizePolygons,
} from "../../lib/data/mask.ts";
import {
  decodeRle,
  encodeRle,
  rleArea,
  rleFromPolygons,
  rleFromString,
  rleIou,
  rleMerge,
  rleToString,
} from "../../lib/data/rle.ts";
import { fixture, hasFixture } from "../fixtures.ts";

const grid = (m: Uint8Array, w: number) =>
  Array.from({ length: m.length / w }, (_, y) => Array.from(m.slice(y * w, y * w + w)).join(""));

Deno.test("fillPoly: axis-aligned square includes both edges", () => {
  const m = rasterizePolygons([new Float32Array([1, 1, 3, 1, 3, 3, 1, 3])], 5, 5);
  assert.deepEqual(grid(m, 5), ["00000", "01110", "01110", "01110", "00000"]);
});

Deno.test("fillPoly: right triangle on the diagonal keeps the 8-connected outline", () => {
  const m = rasterizePolygons([[0, 0, 4, 4, 0, 4]], 5, 5);
  assert.deepEqual(grid(m, 5), ["10000", "11000", "11100", "11110", "11111"]);
});

Deno.test("fillPoly: vertices truncate toward zero like numpy int32; out-of-image parts are clipped", () => {
  const a = rasterizePolygons([[1.9, 1.9, 3.99, 1.2, 3.5, 3.7, 1.2, 3.01]], 6, 6);
  const b = rasterizePolygons([[1, 1, 3, 1, 3, 3, 1, 3]], 6, 6);
  assert.deepEqual(a, b);
  const c = rasterizePolygons([[-3, -3, 10, -3, 10, 2, -3, 2]], 4, 4);
  assert.deepEqual(grid(c, 4), ["1111", "1111", "1111", "0000"]);
});

Deno.test("fillPoly: two polygons in one call fill with the even-odd rule (a ring)", () => {
  const m = new Uint8Array(49);
  fillPolygonsInto(m, [[0, 0, 6, 0, 6, 6, 0, 6], [2, 2, 4, 2, 4, 4, 2, 4]], 7, 7);
  // edges active on [y0, y1): row 3 pairs x=0..2 and 4..6; rows 2 and 4 are closed by the drawn outline
  assert.deepEqual(grid(m, 7), ["1111111", "1111111", "1111111", "1110111", "1111111", "1111111", "1111111"]);
});

Deno.test("findContours: square corners counter-clockwise from the top-left; hole ignored; inner part dropped", () => {
  const m = new Uint8Array(7 * 7);
  for (let y = 1; y <= 5; y++) for (let x = 1; x <= 5; x++) m[y * 7 + x] = 1;
  m[2 * 7 + 2] = m[2 * 7 + 3] = m[3 * 7 + 2] = 0; // a hole
  m[3 * 7 + 3] = 1;
  const polys = maskToPolygons(m, 7, 7);
  assert.equal(polys.length, 1);
  assert.deepEqual(Array.from(polys[0]), [1, 1, 1, 5, 5, 5, 5, 1]);
  // two separate parts: cv2 lists the later (lower) one first
  const n = new Uint8Array(6 * 6);
  n[0] = 1;
  n[4 * 6 + 4] = n[4 * 6 + 5] = 1;
  const p2 = maskToPolygons(n, 6, 6);
  assert.deepEqual(p2.map((p) => Array.from(p)), [[4, 4, 5, 4], [0, 0]]);
});

Deno.test("joinPolygons: ultralytics merge_multi_segment order", () => {
  // two squares; closest vertices (2,0)-(4,0): the walk goes around the first, bridges, around the second, and back
  const a = [0, 0, 2, 0, 2, 2, 0, 2], b = [4, 0, 6, 0, 6, 2, 4, 2];
  const j = Array.from(joinPolygons([a, b]));
  // first segment rolled to start at idx 1 (2,0) and closed; second rolled to start at idx 0 (4,0) and closed
  assert.deepEqual(j, [2, 0, 2, 2, 0, 2, 0, 0, 2, 0, 4, 0, 6, 0, 6, 2, 4, 2, 4, 0]);
});

Deno.test("mask box / area / iou", () => {
  const a = rasterizePolygons([[1, 1, 3, 1, 3, 3, 1, 3]], 5, 5);
  const b = rasterizePolygons([[2, 1, 4, 1, 4, 3, 2, 3]], 5, 5);
  assert.deepEqual(maskBox(a, 5, 5), [1, 1, 4, 4]);
  assert.equal(maskArea(a), 9);
  assert.equal(maskIou(a, b), 6 / 12);
  assert.equal(maskBox(new Uint8Array(4), 2, 2), null);
});

Deno.test("RLE: hand-computed column-major counts and compressed string", () => {
  // 3x2 mask rows [1,0],[1,1],[0,1] -> columns [1,1,0],[0,1,1] -> counts 0,2,2,2
  const m = new Uint8Array([1, 0, 1, 1, 0, 1]);
  const r = encodeRle(m, 3, 2);
  assert.deepEqual(r, { size: [3, 2], counts: [0, 2, 2, 2] });
  assert.equal(rleArea(r), 4);
  assert.deepEqual(decodeRle(r), m);
  // counts 0,2,2,2 -> deltas 0,2,2,0 ('0'+x) -> "0220"
  assert.equal(rleToString(r), "0220");
  assert.deepEqual(rleFromString("0220", 3, 2), r);
  // union / intersection
  const s = encodeRle(new Uint8Array([0, 0, 0, 1, 1, 1]), 3, 2);
  assert.equal(rleArea(rleMerge([r, s])), 5);
  assert.equal(rleArea(rleMerge([r, s], true)), 2);
  assert.equal(rleIou(r, s), 2 / 5);
  assert.equal(rleIou(r, s, true), 2 / 4);
  // negative deltas and multi-char numbers survive
  const big = { size: [1000, 100] as [number, number], counts: [5000, 70000, 3, 24997] };
  assert.deepEqual(rleFromString(rleToString(big), 1000, 100), big);
});

Deno.test({
  name: "COCO RLE: mask pixel areas of expected.json match exactly (polygon, multi-polygon, crowd, compressed)",
  ignore: !hasFixture("coco_json_sample"),
  fn: () => {
    const dir = fixture("coco_json_sample");
    const exp = JSON.parse(Deno.readTextFileSync(`${dir}/expected.json`));
    const gt = JSON.parse(Deno.readTextFileSync(`${dir}/${exp.annotation_file}`));
    const res = JSON.parse(Deno.readTextFileSync(`${dir}/${exp.results_file.file ?? exp.results_file}`));
    const imgs = new Map(gt.images.map((i: { id: number }) => [i.id, i]));
    for (const c of exp.mask_area_cases) {
      const a = gt.annotations.find((x: { id: number }) => x.id === c.annotation_id);
      const im = imgs.get(a.image_id) as { height: number; width: number };
      const r = Array.isArray(a.segmentation)
        ? rleFromPolygons(a.segmentation, im.height, im.width)
        : { size: a.segmentation.size, counts: a.segmentation.counts };
      assert.equal(rleArea(r), c.mask_pixel_area, `annotation ${c.annotation_id}`);
      assert.equal(maskArea(decodeRle(r)), c.mask_pixel_area);
    }
    const c = exp.mask_area_case_compressed_rle;
    const e = res[c.index];
    const r = rleFromString(e.segmentation.counts, e.segmentation.size[0], e.segmentation.size[1]);
    assert.equal(rleArea(r), c.mask_pixel_area);
    // every results string: string -> counts -> mask -> counts -> string is the identity
    for (const e of res) {
      const [h, w] = e.segmentation.size;
      const r = rleFromString(e.segmentation.counts, h, w);
      assert.equal(rleToString(encodeRle(decodeRle(r), h, w)), e.segmentation.counts);
    }
  },
});
