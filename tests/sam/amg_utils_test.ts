// AMG helpers against hand-computed values and the fixture's crop boxes / point grids.
import assert from "node:assert/strict";
import {
  areaFromRle,
  buildPointGrid,
  generateCropBoxes,
  maskToBox,
  maskToRle,
  nms,
  removeSmallRegions,
  rleToMask,
  stabilityScore,
} from "../../lib/sam/amg_utils.ts";
import { nearCropEdge, uncropMask } from "../../lib/sam/amg.ts";
import { fixture, hasFixture } from "../fixtures.ts";

Deno.test("buildPointGrid: 2x2 grid, x fastest", () => {
  assert.deepEqual(Array.from(buildPointGrid(2)), [0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75]);
});

Deno.test("generateCropBoxes: hand-computed 1-layer crops of a 200x300 image", () => {
  // short side 200, overlap int(0.3413333 * 200 * 1) = 68; crop_w = ceil((68 + 300) / 2) = 184, crop_h = ceil(268/2) = 134
  const { boxes, layerIdxs } = generateCropBoxes([200, 300], 1, 512 / 1500);
  assert.deepEqual(boxes, [[0, 0, 300, 200], [0, 0, 184, 134], [0, 66, 184, 200], [116, 0, 300, 134], [
    116,
    66,
    300,
    200,
  ]]);
  assert.deepEqual(layerIdxs, [0, 1, 1, 1, 1]);
});

Deno.test({
  name: "generateCropBoxes + grids match amg_crop1.json of both fixture models",
  ignore: !hasFixture("reference/sam/index.json"),
  fn() {
    for (const f of ["vit_tiny/truck", "mobilesam_tiny/groceries_wide"]) {
      const ref = JSON.parse(Deno.readTextFileSync(fixture("reference/sam", f, "amg_crop1.json")));
      const { boxes } = generateCropBoxes(ref.image_size_hw, 1, ref.params.crop_overlap_ratio);
      assert.deepEqual(boxes, ref.crop_boxes_xyxy);
      assert.deepEqual(Array.from(buildPointGrid(8)), ref.point_grids_normalized[0].flat());
    }
  },
});

Deno.test("maskToRle / rleToMask / area: column-major runs starting with zeros", () => {
  // 2x3 mask rows [0,1,1],[0,0,1] → column-major 0,0,1,0,1,1 → counts [2,1,1,2]
  const m = Uint8Array.from([0, 1, 1, 0, 0, 1]);
  const rle = maskToRle(m, 2, 3);
  assert.deepEqual(rle, { size: [2, 3], counts: [2, 1, 1, 2] });
  assert.deepEqual(Array.from(rleToMask(rle)), Array.from(m));
  assert.equal(areaFromRle(rle), 3);
  assert.deepEqual(maskToRle(Uint8Array.from([1, 0]), 2, 1).counts, [0, 1, 1]);
});

Deno.test("maskToBox inclusive max, empty → zeros; stability score", () => {
  assert.deepEqual(maskToBox(Uint8Array.from([0, 0, 0, 0, 1, 1, 0, 1, 0]), 3, 3), [1, 1, 2, 2]);
  assert.deepEqual(maskToBox(new Uint8Array(4), 2, 2), [0, 0, 0, 0]);
  // logits: >1: 2 values, >-1: 4 values → 0.5
  assert.equal(stabilityScore([2, 1.5, 0, -0.5, -3], 0, 1), 0.5);
});

Deno.test("nms: torchvision semantics (suppress IoU > thr, score order)", () => {
  const boxes = [0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30];
  // IoU(0,1) = 81 / 119 = 0.68
  assert.deepEqual(nms(boxes, [0.9, 0.95, 0.5], 0.6), [1, 2]);
  assert.deepEqual(nms(boxes, [0.9, 0.95, 0.5], 0.7), [1, 0, 2]);
});

Deno.test("removeSmallRegions: holes filled, islands removed, largest kept when all small", () => {
  // 4x4 ring with a 1-pixel hole, plus an isolated pixel
  const m = Uint8Array.from([
    1,
    1,
    1,
    0,
    1,
    0,
    1,
    0,
    1,
    1,
    1,
    0,
    0,
    0,
    0,
    1,
  ]);
  const [filled, ch1] = removeSmallRegions(m, 4, 4, 2, "holes");
  assert.equal(ch1, true);
  assert.equal(filled[5], 1);
  // the isolated pixel touches the ring diagonally (8-connectivity) → one island of 9 px, nothing removed at 2
  const [same, ch2] = removeSmallRegions(filled, 4, 4, 2, "islands");
  assert.equal(ch2, false);
  assert.equal(same, filled);
  const two = Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 1, 1]);
  const [kept, ch3] = removeSmallRegions(two, 3, 3, 10, "islands");
  assert.equal(ch3, true);
  assert.deepEqual(Array.from(kept), [0, 0, 0, 0, 0, 0, 0, 1, 1]);
});

Deno.test("nearCropEdge / uncropMask", () => {
  // crop [100,0,200,100] of a 100x300 image; box touching the crop's left edge (x=100, not an image edge)
  assert.equal(nearCropEdge([5, 30, 50, 60], [100, 0, 200, 100], [100, 300]), true);
  assert.equal(nearCropEdge([30, 30, 50, 60], [100, 0, 200, 100], [100, 300]), false);
  // touching the top edge, which is also the image edge → not near a crop edge
  assert.equal(nearCropEdge([30, 0, 50, 60], [100, 0, 200, 100], [100, 300]), false);
  const u = uncropMask(Uint8Array.from([1, 1]), [1, 1, 3, 2], [2, 3]);
  assert.deepEqual(Array.from(u), [0, 0, 0, 0, 1, 1]);
});
