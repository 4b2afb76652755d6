/** Augmentation geometry against hand-computed placements; determinism per (seed, epoch, index); masks follow. */
import assert from "node:assert/strict";
import { makeRng } from "../../lib/data/rng.ts";
import {
  DEFAULT_AUGMENT,
  flipLR,
  formatSample,
  type Labeled,
  letterboxLabeled,
  loadLabeled,
  mosaic4,
  previewBatch,
  randomPerspective,
  trainSample,
} from "../../lib/train/augment.ts";
import { YoloSegDataset } from "../../lib/dataset/yolo_dataset.ts";
import { fixture, hasFixture } from "../fixtures.ts";

function solid(w: number, h: number, v: number, poly: number[]): Labeled {
  return {
    img: { data: new Uint8Array(w * h * 3).fill(v), width: w, height: h },
    cls: Int32Array.from([v]),
    segments: [Float32Array.from(poly)],
  };
}

Deno.test("mosaic4: quadrants placed around the centre as ultralytics, polygons shifted", () => {
  const s = 8;
  const items = [10, 20, 30, 40].map((v) => solid(8, 8, v, [1, 1, 7, 1, 7, 7, 1, 7]));
  const rngA = makeRng(1, 5), rngB = makeRng(1, 5);
  const m = mosaic4(items, s, rngA);
  const yc = Math.trunc(rngB.uniform(4, 12)), xc = Math.trunc(rngB.uniform(4, 12));
  const px = (x: number, y: number) => m.img.data[(y * 16 + x) * 3];
  assert.equal(m.img.width, 16);
  assert.equal(px(xc - 1, yc - 1), 10);
  assert.equal(px(xc, yc - 1), 20);
  assert.equal(px(xc - 1, yc), 30);
  assert.equal(px(xc, yc), 40);
  // top-left image is placed with its bottom-right corner at (xc, yc): polygon point (7,7) → (xc-1, yc-1)
  assert.deepEqual(Array.from(m.segments[0].subarray(4, 6)), [xc - 1, yc - 1]);
  // bottom-right image starts at (xc, yc): (1,1) → (xc+1, yc+1), clipped to 16
  assert.deepEqual(Array.from(m.segments[3].subarray(0, 2)), [Math.min(xc + 1, 16), Math.min(yc + 1, 16)]);
  assert.deepEqual(Array.from(m.cls), [10, 20, 30, 40]);
});

Deno.test("randomPerspective: identity when all gains are 0 and border 0; translation moves image and polygon", () => {
  const x = solid(10, 10, 50, [2, 2, 6, 2, 6, 6, 2, 6]);
  x.img.data[(3 * 10 + 3) * 3] = 200;
  const hyp = { ...DEFAULT_AUGMENT, translate: 0, scale: 0 };
  const y = randomPerspective(x, hyp, 0, makeRng(3));
  assert.equal(y.img, x.img);
  assert.deepEqual(Array.from(y.segments[0]), [2, 2, 6, 2, 6, 6, 2, 6]);
  // border -2 on a 10×10 image: output 6×6, centred (shift −2)
  const z = randomPerspective(x, hyp, -2, makeRng(3));
  assert.equal(z.img.width, 6);
  assert.equal(z.img.data[(1 * 6 + 1) * 3], 200);
  assert.deepEqual(Array.from(z.segments[0]), [0, 0, 4, 0, 4, 4, 0, 4]);
});

Deno.test("flipLR, letterbox and formatSample: boxes, area order and overlap map", () => {
  const x: Labeled = {
    img: { data: new Uint8Array(16 * 8 * 3), width: 16, height: 8 },
    cls: Int32Array.from([1, 2]),
    segments: [Float32Array.from([0, 0, 4, 0, 4, 4, 0, 4]), Float32Array.from([0, 0, 16, 0, 16, 8, 0, 8])],
  };
  const f = flipLR(x);
  assert.deepEqual(Array.from(f.segments[0]), [16, 0, 12, 0, 12, 4, 16, 4]);
  const lb = letterboxLabeled(x, 16); // 16×8 → 16×16, pad 4 top/bottom
  assert.equal(lb.img.height, 16);
  assert.deepEqual(Array.from(lb.segments[0]), [0, 4, 4, 4, 4, 8, 0, 8]);
  const s = formatSample(lb, 4);
  // larger instance (class 2) first; the map holds 2 where the small one covers
  assert.deepEqual(Array.from(s.cls), [2, 1]);
  assert.deepEqual(Array.from(s.bboxes.subarray(0, 4)), [0.5, 0.5, 1, 0.5]);
  assert.deepEqual(s.maskHW, [4, 4]);
  assert.equal(s.masks[1 * 4 + 0], 2);
  assert.equal(s.masks[2 * 4 + 3], 1);
  assert.equal(s.masks[0], 0);
});

Deno.test({
  name: "trainSample on coco128-seg: deterministic per (seed, epoch, index), masks inside boxes",
  ignore: !hasFixture("coco128-seg/coco128-seg.yaml"),
  fn: async () => {
    const ds = await YoloSegDataset.open(fixture("coco128-seg/coco128-seg.yaml"), "train", { rect: false, imgsz: 128 });
    const cache = new Map<number, Labeled>();
    const load = async (i: number) => cache.get(i) ?? (cache.set(i, await loadLabeled(ds, i, 128)), cache.get(i)!);
    const o = { imgsz: 128, hyp: DEFAULT_AUGMENT, mosaic: 1.0 };
    const a = await trainSample(load, 8, 3, 0, 7, o);
    const b = await trainSample(load, 8, 3, 0, 7, o);
    const c = await trainSample(load, 8, 3, 1, 7, o);
    assert.deepEqual(a.img.data, b.img.data);
    assert.deepEqual(a.bboxes, b.bboxes);
    assert.notDeepEqual(a.img.data, c.img.data);
    assert.equal(a.img.width, 128);
    assert.equal(a.masks.length, 32 * 32);
    // every mask pixel of instance k lies within its box (+1 px at 1/4 resolution)
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const k = a.masks[y * 32 + x];
        if (!k) continue;
        const [cx, cy, w, h] = a.bboxes.subarray(4 * (k - 1), 4 * k);
        assert.ok(x + 0.5 >= (cx - w / 2) * 32 - 1 && x + 0.5 <= (cx + w / 2) * 32 + 1, `x ${x} outside box ${k}`);
        assert.ok(y + 0.5 >= (cy - h / 2) * 32 - 1 && y + 0.5 <= (cy + h / 2) * 32 + 1, `y ${y} outside box ${k}`);
      }
    }
    const p = previewBatch([a, c], 2);
    assert.equal(p.width, 256);
  },
});
