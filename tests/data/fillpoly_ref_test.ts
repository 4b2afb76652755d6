/**
 * `rasterizePolygons` against ultralytics' own masks: the loss fixture's `batch_masks.npy` (overlap masks at 1/4
 * resolution that ultralytics 8.2.77 built with cv2.fillPoly + cv2.resize from coco128-seg polygons) is rebuilt here
 * from the label files with the same label pipeline (float32 labels, resample_segments to 1000 points, denormalise,
 * letterbox shift by the float half-padding, int32 truncation, fillPoly at 224, 4x INTER_LINEAR downscale = at least
 * 2 of the 4 centre pixels set, instances drawn largest first). Every pixel must agree.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { rasterizePolygons } from "../../lib/data/mask.ts";
import { parseYoloLabel } from "../../lib/data/yolo.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { fixture, hasFixture } from "../fixtures.ts";

const f32 = Math.fround;

/** ultralytics `resample_segments(n)` of one flat float32 polygon (np.interp in float64, result float32). */
function resample(p: number[], n = 1000): [number[], number[]] {
  const k = p.length / 2;
  const sx = Array.from({ length: k + 1 }, (_, i) => p[2 * (i % k)]);
  const sy = Array.from({ length: k + 1 }, (_, i) => p[2 * (i % k) + 1]);
  const L = k + 1, step = (L - 1) / (n - 1);
  const xs: number[] = [], ys: number[] = [];
  for (let q = 0; q < n; q++) {
    const x = q === n - 1 ? L - 1 : q * step;
    const j = Math.min(Math.floor(x), L - 1);
    const at = (fp: number[]) => (j === L - 1 || x === j ? fp[j] : (fp[j + 1] - fp[j]) * (x - j) + fp[j]);
    xs.push(f32(at(sx)));
    ys.push(f32(at(sy)));
  }
  return [xs, ys];
}

Deno.test({
  name: "fillPoly parity: ultralytics overlap masks of the loss fixture rebuilt exactly (3 images, 15 instances)",
  ignore: !hasFixture("reference/loss/batch_masks.npy"),
  fn: async () => {
    const D = fixture("reference/loss");
    const ref = await readNpy(`${D}/batch_masks.npy`);
    assert.deepEqual(ref.shape, [3, 56, 56]);
    const refv = ref.data as unknown as ArrayLike<number | bigint>;
    const names = JSON.parse(Deno.readTextFileSync(`${D}/case.json`)).images as string[];
    const S = 224, M = 56;
    let instances = 0;
    for (const [b, name] of names.entries()) {
      const meta = await sharp(`${D}/dataset/images/${name}.jpg`).metadata();
      const r = S / Math.max(meta.width!, meta.height!);
      const w = Math.min(Math.ceil(meta.width! * r), S), h = Math.min(Math.ceil(meta.height! * r), S);
      const dw = (S - w) / 2, dh = (S - h) / 2; // labels move by the float half-padding
      const masks = parseYoloLabel(Deno.readTextFileSync(`${D}/dataset/labels/${name}.txt`), name).map((ins) => {
        const [xs, ys] = resample(Array.from(ins.polygon, f32));
        const poly = xs.flatMap((x, i) => [f32(f32(x * w) + dw), f32(f32(ys[i] * h) + dh)]);
        const full = rasterizePolygons([poly], S, S);
        const m = new Uint8Array(M * M);
        for (let y = 0; y < M; y++) {
          for (let x = 0; x < M; x++) {
            const p = (4 * y + 1) * S + 4 * x + 1;
            m[y * M + x] = full[p] + full[p + 1] + full[p + S] + full[p + S + 1] >= 2 ? 1 : 0;
          }
        }
        return m;
      });
      instances += masks.length;
      const order = masks.map((m, i) => [m.reduce((a, v) => a + v, 0), i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]);
      const ov = new Int32Array(M * M);
      order.forEach(([, idx], k) => masks[idx].forEach((v, q) => v && (ov[q] = k + 1)));
      let diff = 0;
      for (let q = 0; q < M * M; q++) if (Number(refv[b * M * M + q]) !== ov[q]) diff++;
      assert.equal(diff, 0, `${name}: ${diff} pixels differ`);
    }
    assert.equal(instances, 15);
  },
});
