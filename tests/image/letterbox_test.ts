/**
 * letterbox vs ultralytics' LetterBox outputs (reference/forward/letterbox_*): geometry exact, pad pixels exactly
 * 114, resized region max |diff| <= 1 (README); grey/RGBA source PNGs decoded like OpenCV imread.
 */
import assert from "node:assert/strict";
import { fixture, hasFixture } from "../fixtures.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { decodeImage, letterbox, type LetterboxResult, type RgbImage } from "../../lib/image/mod.ts";

interface Geometry {
  new_shape?: number | [number, number];
  auto?: boolean;
  ratio: number;
  new_unpad_wh: [number, number];
  dw_half: number;
  dh_half: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
  out_hw: [number, number];
}

async function npyImage(file: string): Promise<RgbImage> {
  const a = await readNpy(file);
  assert.deepEqual(a.shape.length, 3);
  return { data: a.data as Uint8Array, height: a.shape[0], width: a.shape[1], channels: 3 };
}

/** Checks one LetterBox output; returns max |diff| over the image. */
function check(label: string, got: LetterboxResult<RgbImage>, ref: RgbImage, g: Geometry): number {
  assert.deepEqual([got.image.height, got.image.width], g.out_hw, `${label}: output shape`);
  assert.deepEqual([ref.height, ref.width], g.out_hw, `${label}: reference shape`);
  assert.deepEqual(
    [got.top, got.bottom, got.left, got.right],
    [g.top, g.bottom, g.left, g.right],
    `${label}: padding`,
  );
  assert.deepEqual(got.newUnpadWh, g.new_unpad_wh, `${label}: new_unpad_wh`);
  assert.ok(Math.abs(got.ratio - g.ratio) <= 1e-9, `${label}: ratio ${got.ratio} vs ${g.ratio}`);
  assert.equal(got.dw, g.dw_half, `${label}: dw`);
  assert.equal(got.dh, g.dh_half, `${label}: dh`);
  const { height: H, width: W } = got.image;
  let maxDiff = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const pad = y < g.top || y >= H - g.bottom || x < g.left || x >= W - g.right;
      for (let c = 0; c < 3; c++) {
        const i = (y * W + x) * 3 + c;
        if (pad) {
          assert.equal(got.image.data[i], 114, `${label}: pad pixel (${y},${x})`);
          assert.equal(ref.data[i], 114, `${label}: reference pad pixel (${y},${x})`);
        } else maxDiff = Math.max(maxDiff, Math.abs(got.image.data[i] - ref.data[i]));
      }
    }
  }
  assert.ok(maxDiff <= 1, `${label}: resized region max |diff| ${maxDiff} > 1`);
  return maxDiff;
}

const MAIN = "reference/forward/letterbox_cases.json";
Deno.test({
  name: "letterbox matches ultralytics LetterBox on the 5 reference sources (square + rect)",
  ignore: !hasFixture(MAIN),
  fn: async () => {
    const cases = JSON.parse(await Deno.readTextFile(fixture(MAIN))) as Record<
      string,
      { imgsz: number; source_png: string | null; square: Geometry; rect: Geometry }
    >;
    let worst = 0, n = 0;
    for (const [name, c] of Object.entries(cases)) {
      const orig = await npyImage(fixture("reference/forward", `letterbox_${name}_orig.npy`));
      let src = orig;
      if (c.source_png) {
        src = await decodeImage(fixture("reference", c.source_png));
        assert.deepEqual([src.height, src.width], [orig.height, orig.width], `${name}: decoded size`);
        assert.deepEqual(src.data, orig.data, `${name}: decoded ${c.source_png} differs from OpenCV imread`);
      }
      for (const mode of ["square", "rect"] as const) {
        const ref = await npyImage(fixture("reference/forward", `letterbox_${name}_${mode}.npy`));
        const got = letterbox(src, { newShape: c.imgsz, auto: mode === "rect" });
        worst = Math.max(worst, check(`${name} ${mode}`, got, ref, c[mode]));
        n++;
      }
    }
    console.log(`${n} outputs, resized region max |diff| ${worst}`);
  },
});

const EXTRA = "reference/forward/letterbox_extra/cases.json";
Deno.test({
  name: "letterbox matches ultralytics LetterBox on letterbox_extra (int and [h, w] targets, auto on/off)",
  ignore: !hasFixture(EXTRA),
  fn: async () => {
    const cases = JSON.parse(await Deno.readTextFile(fixture(EXTRA))) as Record<string, Record<string, Geometry>>;
    let worst = 0, n = 0;
    for (const [name, c] of Object.entries(cases)) {
      const src = await npyImage(fixture("reference/forward/letterbox_extra", `${name}_orig.npy`));
      for (const [key, g] of Object.entries(c)) {
        if (key === "orig_hw") continue;
        const ref = await npyImage(fixture("reference/forward/letterbox_extra", `${name}_${key}.npy`));
        const got = letterbox(src, { newShape: g.new_shape!, auto: g.auto });
        worst = Math.max(worst, check(`${name} ${key}`, got, ref, g));
        n++;
      }
    }
    console.log(`${n} outputs, resized region max |diff| ${worst}`);
  },
});

Deno.test("letterbox options by hand: scaleup=false, center=false, custom pad, no resize", () => {
  const img: RgbImage = { data: new Uint8Array(4 * 6 * 3).fill(7), height: 4, width: 6, channels: 3 };
  // scaleup=false keeps 4x6; square 8: dw = 2, dh = 4 -> halves 1, 2
  const a = letterbox(img, { newShape: 8, scaleup: false, padValue: 0 });
  assert.deepEqual([a.image.height, a.image.width, a.top, a.bottom, a.left, a.right], [8, 8, 2, 2, 1, 1]);
  assert.equal(a.ratio, 1);
  assert.equal(a.image.data[0], 0);
  assert.equal(a.image.data[(2 * 8 + 1) * 3], 7);
  // center=false: all padding at bottom/right
  const b = letterbox(img, { newShape: [5, 9], scaleup: false, center: false });
  assert.deepEqual([b.image.height, b.image.width, b.top, b.bottom, b.left, b.right], [5, 9, 0, 1, 0, 3]);
  // auto: dw = 10 - 6 = 4 -> 4 mod 32 = 4 -> 2 | dh: 10 - 4 = 6 -> 3
  const c = letterbox(img, { newShape: 10, scaleup: false, auto: true });
  assert.deepEqual([c.top, c.bottom, c.left, c.right], [3, 3, 2, 2]);
  // Python round on halves: dh = 1.5 -> top round(1.4) = 1, bottom round(1.6) = 2
  const d = letterbox(img, { newShape: [7, 6], scaleup: false });
  assert.deepEqual([d.top, d.bottom], [1, 2]);
});
