/**
 * OpenCV resize semantics on small hand-worked images (the letterbox test covers INTER_LINEAR on real photos
 * bit-exactly): INTER_AREA exact shrink (2x "fast" rounding, integer and fractional factors), INTER_AREA enlarge,
 * INTER_LINEAR fixed-point enlarge with edge clamping.
 */
import assert from "node:assert/strict";
import { type Image8, resizeArea, resizeLinear } from "../../lib/image/mod.ts";

const grey = (rows: number[][]): Image8 => ({
  data: Uint8Array.from(rows.flat()),
  height: rows.length,
  width: rows[0].length,
  channels: 1,
});
const rowsOf = (img: Image8) =>
  Array.from({ length: img.height }, (_, y) => Array.from(img.data.subarray(y * img.width, (y + 1) * img.width)));

Deno.test("resizeArea 2x shrink: OpenCV's (a+b+c+d+2)>>2 (ties round up)", () => {
  const img = grey([[0, 1, 1, 1], [1, 0, 1, 2], [2, 2, 255, 255], [2, 0, 255, 255]]);
  // block sums 2 (0.5 -> 1), 5 (1.25 -> 1), 6 (1.5 -> 2), 1020 -> 255
  assert.deepEqual(rowsOf(resizeArea(img, 2, 2)), [[1, 1], [2, 255]]);
  assert.deepEqual(rowsOf(resizeLinear(img, 2, 2)), [[1, 1], [2, 255]], "INTER_LINEAR at exactly 1/2 uses area");
});

Deno.test("resizeArea 3x shrink and 1.5x shrink (fractional weights 2/3, 1/3)", () => {
  const six = grey(
    Array.from(
      { length: 6 },
      (_, y) => Array.from({ length: 6 }, (_, x) => (y < 3 && x < 3 ? 5 : 6) + (x === 0 && y === 0 ? 4 : 0)),
    ),
  );
  // top-left block: 8 * 5 + 9 = 49 -> 49 / 9 = 5.44 -> 5; others 6
  assert.deepEqual(rowsOf(resizeArea(six, 2, 2)), [[5, 6], [6, 6]]);
  const three = grey([[10, 20, 30], [40, 50, 60], [70, 80, 90]]);
  // out = Wy M Wx^T with W = [[2/3, 1/3, 0], [0, 1/3, 2/3]]: 23.33, 36.67, 63.33, 76.67
  assert.deepEqual(rowsOf(resizeArea(three, 2, 2)), [[23, 37], [63, 77]]);
});

Deno.test("resizeArea enlarge 2x2 -> 3x3 (OpenCV's bilinear emulation) and RGB channels", () => {
  const src = grey([[0, 100], [200, 255]]);
  assert.deepEqual(rowsOf(resizeArea(src, 3, 3)), [[0, 50, 100], [100, 139, 178], [200, 228, 255]]);
  const rgb: Image8 = {
    data: Uint8Array.from([0, 1, 2, 100, 101, 102, 200, 201, 202, 255, 254, 253]),
    height: 2,
    width: 2,
    channels: 3,
  };
  const out = resizeArea(rgb, 3, 3);
  assert.deepEqual(
    Array.from(out.data.subarray(12, 15)),
    [139, 139, 140],
    "centre pixel per channel: 138.75, 139.25, 139.75",
  );
});

Deno.test("resizeLinear 2x2 -> 4x4: half-pixel centres, clamped edges, 11-bit weights", () => {
  const src = grey([[0, 100], [200, 255]]);
  // x taps: (0, w 2048/0), (0, 1536/512), (0, 512/1536), (1, 2048/0); rows likewise with row clamping
  assert.deepEqual(rowsOf(resizeLinear(src, 4, 4)), [
    [0, 25, 75, 100],
    [50, 72, 117, 139],
    [150, 167, 200, 216],
    [200, 214, 241, 255],
  ]);
  assert.deepEqual(rowsOf(resizeLinear(src, 2, 2)), rowsOf(src), "same size copies");
  assert.throws(() => resizeLinear(src, 0, 3), RangeError);
});
