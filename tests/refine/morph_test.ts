// Morphology against hand-computed cv2.erode/cv2.dilate results (3x3 rect kernel, default border).
import assert from "node:assert/strict";
import { dilate, erode, maskBox } from "../../lib/refine/morph.ts";

function grid(rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join("").split("").map((c) => (c === "#" ? 1 : 0)));
}

Deno.test("erode: 3x3 block → centre pixel; image border never erodes", () => {
  const m = grid([".....", ".###.", ".###.", ".###.", "....."]);
  assert.deepEqual(erode(m, 5, 5), grid([".....", ".....", "..#..", ".....", "....."]));
  const full = new Uint8Array(9).fill(1);
  assert.deepEqual(erode(full, 3, 3, 5), full);
});

Deno.test("erode: a one-pixel hole grows to 3x3, twice to 5x5", () => {
  const m = grid(["#####", "#####", "##.##", "#####", "#####"]);
  assert.deepEqual(erode(m, 5, 5), grid(["#####", "#...#", "#...#", "#...#", "#####"]));
  assert.deepEqual(erode(m, 5, 5, 2), new Uint8Array(25));
});

Deno.test("dilate: single pixel → 3x3, 2 iterations → 5x5 clipped at the border", () => {
  const m = grid([".....", ".....", "..#..", ".....", "....."]);
  assert.deepEqual(dilate(m, 5, 5), grid([".....", ".###.", ".###.", ".###.", "....."]));
  assert.deepEqual(dilate(m, 5, 5, 2), new Uint8Array(25).fill(1));
  const c = grid(["#....", ".....", "....."]);
  assert.deepEqual(dilate(c, 3, 5), grid(["##...", "##...", "....."]));
});

Deno.test("opening removes a one-pixel line, keeps a 3x3 block; maskBox exclusive max", () => {
  const m = grid(["#######", ".......", ".###...", ".###...", ".###...", "......."]);
  const o = dilate(erode(m, 6, 7), 6, 7);
  // the top line touches the border: erosion keeps border-adjacent pixels only where the 3x3 window is all ones
  assert.deepEqual(o, grid([".......", ".......", ".###...", ".###...", ".###...", "......."]));
  assert.deepEqual(maskBox(o, 6, 7), [1, 2, 4, 5]);
  assert.equal(maskBox(new Uint8Array(4), 2, 2), null);
});
