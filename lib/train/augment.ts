/**
 * Training augmentation as ultralytics 8.2 `v8_transforms` for segmentation: Mosaic of 4 (centre in [s/2, 3s/2]),
 * RandomPerspective (degrees, translate, scale, shear, perspective; image warped with border 114, polygons with it,
 * `box_candidates` filter), HSV jitter through 8-bit HSV look-up tables, left-right / up-down flips, then the loss
 * format (normalised xywh, overlap index map at 1/mask_ratio). Without mosaic the image is letterboxed first
 * (ultralytics' `LetterBox` pre-transform). Randomness comes from a seeded generator per (seed, epoch, index), so any
 * sample can be rebuilt exactly (resume).
 */
import { makeRng, type Rng } from "../data/rng.ts";
import { fillPolygonsInto } from "../data/mask.ts";
import type { RgbImage } from "../dataset/image.ts";
import { applyLetterbox, letterboxGeometry } from "../dataset/image.ts";
import { loadImage, overlapMasks, type YoloSegDataset } from "../dataset/yolo_dataset.ts";

/** Augmentation hyper-parameters (ultralytics names in camelCase, ultralytics defaults). */
export interface AugmentHyp {
  hsvH: number;
  hsvS: number;
  hsvV: number;
  degrees: number;
  translate: number;
  scale: number;
  shear: number;
  perspective: number;
  flipud: number;
  fliplr: number;
  mosaic: number;
}

export const DEFAULT_AUGMENT: AugmentHyp = {
  hsvH: 0.015,
  hsvS: 0.7,
  hsvV: 0.4,
  degrees: 0,
  translate: 0.1,
  scale: 0.5,
  shear: 0,
  perspective: 0,
  flipud: 0,
  fliplr: 0.5,
  mosaic: 1.0,
};

/** An image with instance polygons in its pixel frame. */
export interface Labeled {
  img: RgbImage;
  cls: Int32Array;
  /** flat xy polygons in pixels */
  segments: Float32Array[];
}

/** A sample in the loss's format. */
export interface TrainSample {
  img: RgbImage;
  cls: Int32Array;
  /** [n*4] normalised xywh (re-ordered like the masks) */
  bboxes: Float32Array;
  /** overlap index map [mh*mw] (k = instance k-1 in this order) */
  masks: Uint16Array;
  maskHW: [number, number];
  segments: Float32Array[];
}

/** Generator for sample `index` of `epoch` (independent streams: resume rebuilds the same samples). */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return makeRng(seed, epoch * 1_000_003 + index + 1);
}

/** ultralytics `load_image` + labels denormalised to the resized image. */
export async function loadLabeled(ds: YoloSegDataset, i: number, imgsz: number): Promise<Labeled> {
  const lab = ds.labels[i];
  const li = await loadImage(lab.imageFile, imgsz);
  const [h, w] = li.resizedHW;
  const segments = lab.segments.map((s) => {
    const o = new Float32Array(s.length);
    for (let k = 0; k < s.length; k += 2) {
      o[k] = s[k] * w;
      o[k + 1] = s[k + 1] * h;
    }
    return o;
  });
  return { img: li.img, cls: Int32Array.from(lab.cls), segments };
}

function clipSegments(segs: Float32Array[], w: number, h: number): Float32Array[] {
  return segs.map((s) => {
    const o = new Float32Array(s.length);
    for (let k = 0; k < s.length; k += 2) {
      o[k] = Math.min(Math.max(s[k], 0), w);
      o[k + 1] = Math.min(Math.max(s[k + 1], 0), h);
    }
    return o;
  });
}

/** Bounding box [x1,y1,x2,y2] of a flat polygon. */
export function segmentBox(s: Float32Array): [number, number, number, number] {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let k = 0; k < s.length; k += 2) {
    x1 = Math.min(x1, s[k]);
    x2 = Math.max(x2, s[k]);
    y1 = Math.min(y1, s[k + 1]);
    y2 = Math.max(y2, s[k + 1]);
  }
  return [x1, y1, x2, y2];
}

/** Mosaic of 4 images (the first is `items[0]`) on a 2s × 2s canvas filled with 114; polygons clipped to it. */
export function mosaic4(items: Labeled[], s: number, rng: Rng): Labeled {
  const S = 2 * s;
  const data = new Uint8Array(S * S * 3).fill(114);
  const yc = Math.trunc(rng.uniform(s / 2, 1.5 * s)), xc = Math.trunc(rng.uniform(s / 2, 1.5 * s));
  const cls: number[] = [];
  const segs: Float32Array[] = [];
  items.forEach((it, i) => {
    const h = it.img.height, w = it.img.width;
    let x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
    if (i === 0) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), Math.max(yc - h, 0), xc, yc];
      [x1b, y1b, x2b, y2b] = [w - (x2a - x1a), h - (y2a - y1a), w, h];
    } else if (i === 1) {
      [x1a, y1a, x2a, y2a] = [xc, Math.max(yc - h, 0), Math.min(xc + w, S), yc];
      [x1b, y1b, x2b, y2b] = [0, h - (y2a - y1a), Math.min(w, x2a - x1a), h];
    } else if (i === 2) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), yc, xc, Math.min(S, yc + h)];
      [x1b, y1b, x2b, y2b] = [w - (x2a - x1a), 0, w, Math.min(y2a - y1a, h)];
    } else {
      [x1a, y1a, x2a, y2a] = [xc, yc, Math.min(xc + w, S), Math.min(S, yc + h)];
      [x1b, y1b, x2b, y2b] = [0, 0, Math.min(w, x2a - x1a), Math.min(y2a - y1a, h)];
    }
    const rows = y2a - y1a, cols = x2a - x1a;
    for (let y = 0; y < rows; y++) {
      const src = ((y1b + y) * w + x1b) * 3;
      data.set(it.img.data.subarray(src, src + cols * 3), ((y1a + y) * S + x1a) * 3);
    }
    void x2b, y2b;
    const padw = x1a - x1b, padh = y1a - y1b;
    it.segments.forEach((sg, k) => {
      const o = new Float32Array(sg.length);
      for (let j = 0; j < sg.length; j += 2) {
        o[j] = sg[j] + padw;
        o[j + 1] = sg[j + 1] + padh;
      }
      segs.push(o);
      cls.push(it.cls[k]);
    });
  });
  return { img: { data, height: S, width: S }, cls: Int32Array.from(cls), segments: clipSegments(segs, S, S) };
}

type Mat3 = number[]; // row-major 3×3

function matMul3(a: Mat3, b: Mat3): Mat3 {
  const o = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) o[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  }
  return o;
}

function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    A / det,
    -(b * i - c * h) / det,
    (b * f - c * e) / det,
    B / det,
    (a * i - c * g) / det,
    -(a * f - c * d) / det,
    C / det,
    -(a * h - b * g) / det,
    (a * e - b * d) / det,
  ];
}

/** Warp an RGB image with the 3×3 matrix `M` (dst = M·src) into [oh, ow], bilinear, border 114. */
export function warpImage(img: RgbImage, M: Mat3, oh: number, ow: number): RgbImage {
  const inv = invert3(M);
  const out = new Uint8Array(oh * ow * 3).fill(114);
  const { data, width: w, height: h } = img;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const zz = inv[6] * x + inv[7] * y + inv[8];
      const sx = (inv[0] * x + inv[1] * y + inv[2]) / zz;
      const sy = (inv[3] * x + inv[4] * y + inv[5]) / zz;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) continue;
      const fx = sx - x0, fy = sy - y0;
      const o = (y * ow + x) * 3;
      for (let c = 0; c < 3; c++) {
        const px = (xx: number, yy: number) =>
          xx >= 0 && yy >= 0 && xx < w && yy < h ? data[(yy * w + xx) * 3 + c] : 114;
        const v = (1 - fy) * ((1 - fx) * px(x0, y0) + fx * px(x0 + 1, y0)) +
          fy * ((1 - fx) * px(x0, y0 + 1) + fx * px(x0 + 1, y0 + 1));
        out[o + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return { data: out, height: oh, width: ow };
}

/** ultralytics `box_candidates` (wh_thr 2, ar_thr 100, area_thr). */
function boxCandidate(b1: number[], b2: number[], areaThr: number): boolean {
  const w1 = b1[2] - b1[0], h1 = b1[3] - b1[1], w2 = b2[2] - b2[0], h2 = b2[3] - b2[1];
  const ar = Math.max(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16));
  return w2 > 2 && h2 > 2 && (w2 * h2) / (w1 * h1 + 1e-16) > areaThr && ar < 100;
}

/** RandomPerspective with `border` (−s/2 after mosaic, 0 otherwise): output [h+2b, w+2b]. */
export function randomPerspective(x: Labeled, hyp: AugmentHyp, border: number, rng: Rng): Labeled {
  const { width: w, height: h } = x.img;
  const ow = w + 2 * border, oh = h + 2 * border;
  const C: Mat3 = [1, 0, -w / 2, 0, 1, -h / 2, 0, 0, 1];
  const P: Mat3 = [1, 0, 0, 0, 1, 0, rng.uniform(-hyp.perspective, hyp.perspective), 0, 1];
  P[7] = rng.uniform(-hyp.perspective, hyp.perspective);
  const a = rng.uniform(-hyp.degrees, hyp.degrees) * Math.PI / 180;
  const s = rng.uniform(1 - hyp.scale, 1 + hyp.scale);
  const R: Mat3 = [s * Math.cos(a), s * Math.sin(a), 0, -s * Math.sin(a), s * Math.cos(a), 0, 0, 0, 1];
  const S: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  S[1] = Math.tan(rng.uniform(-hyp.shear, hyp.shear) * Math.PI / 180);
  S[3] = Math.tan(rng.uniform(-hyp.shear, hyp.shear) * Math.PI / 180);
  const T: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  T[2] = rng.uniform(0.5 - hyp.translate, 0.5 + hyp.translate) * ow;
  T[5] = rng.uniform(0.5 - hyp.translate, 0.5 + hyp.translate) * oh;
  const M = matMul3(T, matMul3(S, matMul3(R, matMul3(P, C))));
  const identity = M.every((v, i) => v === [1, 0, 0, 0, 1, 0, 0, 0, 1][i]);
  const img = border !== 0 || !identity ? warpImage(x.img, M, oh, ow) : x.img;
  const cls: number[] = [];
  const segs: Float32Array[] = [];
  x.segments.forEach((sg, k) => {
    const o = new Float32Array(sg.length);
    for (let j = 0; j < sg.length; j += 2) {
      const z = M[6] * sg[j] + M[7] * sg[j + 1] + M[8];
      o[j] = (M[0] * sg[j] + M[1] * sg[j + 1] + M[2]) / z;
      o[j + 1] = (M[3] * sg[j] + M[4] * sg[j + 1] + M[5]) / z;
    }
    const bb = segmentBox(o);
    for (let j = 0; j < o.length; j += 2) {
      o[j] = Math.min(Math.max(o[j], Math.max(bb[0], 0)), Math.min(bb[2], ow));
      o[j + 1] = Math.min(Math.max(o[j + 1], Math.max(bb[1], 0)), Math.min(bb[3], oh));
    }
    const b0 = segmentBox(sg).map((v) => v * s);
    if (boxCandidate(b0, segmentBox(o), 0.01)) {
      segs.push(o);
      cls.push(x.cls[k]);
    }
  });
  return { img, cls: Int32Array.from(cls), segments: segs };
}

/** RGB → HSV as OpenCV 8-bit (H in 0..180). */
function rgbToHsv8(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b), mn = Math.min(r, g, b), d = v - mn;
  const s = v === 0 ? 0 : Math.round((d * 255) / v);
  let hh = 0;
  if (d !== 0) {
    if (v === r) hh = (60 * (g - b)) / d;
    else if (v === g) hh = 120 + (60 * (b - r)) / d;
    else hh = 240 + (60 * (r - g)) / d;
    if (hh < 0) hh += 360;
  }
  return [Math.round(hh / 2) % 180, s, v];
}

/** HSV (OpenCV 8-bit) → RGB. */
function hsv8ToRgb(h: number, s: number, v: number): [number, number, number] {
  const hh = (h * 2) / 60, ss = s / 255;
  const i = Math.floor(hh) % 6, f = hh - Math.floor(hh);
  const p = v * (1 - ss), q = v * (1 - ss * f), t = v * (1 - ss * (1 - f));
  const tab = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i];
  return tab.map((c) => Math.min(255, Math.max(0, Math.round(c)))) as [number, number, number];
}

/** ultralytics `RandomHSV`: gains r = U(-1,1)·[h,s,v] + 1 applied through look-up tables in HSV space (new image). */
export function augmentHsv(img: RgbImage, hyp: AugmentHyp, rng: Rng): RgbImage {
  if (!hyp.hsvH && !hyp.hsvS && !hyp.hsvV) return img;
  const r = [rng.uniform(-1, 1) * hyp.hsvH + 1, rng.uniform(-1, 1) * hyp.hsvS + 1, rng.uniform(-1, 1) * hyp.hsvV + 1];
  const lh = new Uint8Array(256), ls = new Uint8Array(256), lv = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    lh[x] = Math.floor((x * r[0]) % 180);
    ls[x] = Math.floor(Math.min(Math.max(x * r[1], 0), 255));
    lv[x] = Math.floor(Math.min(Math.max(x * r[2], 0), 255));
  }
  const src = img.data, d = new Uint8Array(src.length);
  for (let i = 0; i < d.length; i += 3) {
    const [h, s, v] = rgbToHsv8(src[i], src[i + 1], src[i + 2]);
    const [R, G, B] = hsv8ToRgb(lh[h], ls[s], lv[v]);
    d[i] = R;
    d[i + 1] = G;
    d[i + 2] = B;
  }
  return { data: d, width: img.width, height: img.height };
}

/** Left-right flip of image and polygons (new objects). */
export function flipLR(x: Labeled): Labeled {
  const { width: w, height: h, data } = x.img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < w; c++) out.set(data.subarray((y * w + c) * 3, (y * w + c) * 3 + 3), (y * w + (w - 1 - c)) * 3);
  }
  const segments = x.segments.map((s) => {
    const o = Float32Array.from(s);
    for (let j = 0; j < o.length; j += 2) o[j] = w - o[j];
    return o;
  });
  return { img: { data: out, width: w, height: h }, cls: x.cls, segments };
}

/** Up-down flip of image and polygons (new objects). */
export function flipUD(x: Labeled): Labeled {
  const { width: w, height: h, data } = x.img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * w * 3, (y + 1) * w * 3), (h - 1 - y) * w * 3);
  const segments = x.segments.map((s) => {
    const o = Float32Array.from(s);
    for (let j = 1; j < o.length; j += 2) o[j] = h - o[j];
    return o;
  });
  return { img: { data: out, width: w, height: h }, cls: x.cls, segments };
}

/** Letterbox to s × s (scaleup False, centred, pad 114) with polygons moved along. */
export function letterboxLabeled(x: Labeled, s: number): Labeled {
  const g = letterboxGeometry(x.img.height, x.img.width, [s, s], false);
  const img = applyLetterbox(x.img, g);
  const segments = x.segments.map((sg) => {
    const o = new Float32Array(sg.length);
    for (let j = 0; j < sg.length; j += 2) {
      o[j] = sg[j] * g.ratio + g.dw;
      o[j + 1] = sg[j + 1] * g.ratio + g.dh;
    }
    return o;
  });
  return { img, cls: x.cls, segments };
}

/** The loss format: instances with a non-empty box, boxes normalised xywh, overlap map at 1/maskRatio. */
export function formatSample(x: Labeled, maskRatio = 4): TrainSample {
  const { width: W, height: H } = x.img;
  const keep: number[] = [];
  x.segments.forEach((s, k) => {
    const b = segmentBox(s);
    if (s.length >= 6 && b[2] - b[0] > 0 && b[3] - b[1] > 0) keep.push(k);
  });
  const segs = keep.map((k) => x.segments[k]);
  const ov = overlapMasks(segs, H, W, maskRatio);
  const n = keep.length;
  const cls = new Int32Array(n), bboxes = new Float32Array(n * 4);
  const ordered: Float32Array[] = [];
  ov.order.forEach((src, k) => {
    const b = segmentBox(segs[src]);
    cls[k] = x.cls[keep[src]];
    bboxes.set([(b[0] + b[2]) / 2 / W, (b[1] + b[3]) / 2 / H, (b[2] - b[0]) / W, (b[3] - b[1]) / H], 4 * k);
    ordered.push(segs[src]);
  });
  return { img: x.img, cls, bboxes, masks: ov.masks, maskHW: ov.hw, segments: ordered };
}

/** Options of `trainSample`. */
export interface SampleOptions {
  imgsz: number;
  hyp: AugmentHyp;
  /** mosaic probability in force this epoch (0 after close_mosaic) */
  mosaic: number;
  maskRatio?: number;
  /** no augmentation at all (letterbox only) */
  augment?: boolean;
}

/**
 * Build training sample `index` of `epoch`: mosaic (with 3 random partners) or letterbox, random perspective,
 * HSV, flips, format. `load(i)` returns image i with polygons in pixels (cache it for speed).
 */
export async function trainSample(
  load: (i: number) => Promise<Labeled>,
  count: number,
  index: number,
  epoch: number,
  seed: number,
  o: SampleOptions,
): Promise<TrainSample> {
  const rng = sampleRng(seed, epoch, index);
  const s = o.imgsz;
  let x: Labeled;
  if (o.augment === false) return formatSample(letterboxLabeled(await load(index), s), o.maskRatio ?? 4);
  if (rng.next() < o.mosaic) {
    const idx = [index, rng.int(0, count - 1), rng.int(0, count - 1), rng.int(0, count - 1)];
    const items = await Promise.all(idx.map(load));
    x = randomPerspective(mosaic4(items, s, rng), o.hyp, -s / 2, rng);
  } else {
    x = randomPerspective(letterboxLabeled(await load(index), s), o.hyp, 0, rng);
  }
  x = { ...x, img: augmentHsv(x.img, o.hyp, rng) };
  if (rng.next() < o.hyp.flipud) x = flipUD(x);
  if (rng.next() < o.hyp.fliplr) x = flipLR(x);
  return formatSample(x, o.maskRatio ?? 4);
}

/** Tile a few samples into one preview image with instance masks tinted (RGB uint8, `cols` per row). */
export function previewBatch(samples: TrainSample[], cols = 4): RgbImage {
  const s = Math.max(...samples.map((x) => x.img.width));
  const rows = Math.ceil(samples.length / cols);
  const W = cols * s, H = rows * s;
  const out = new Uint8Array(W * H * 3);
  const palette = [[255, 56, 56], [72, 249, 10], [0, 194, 255], [255, 157, 151], [146, 204, 23], [132, 56, 255]];
  samples.forEach((x, k) => {
    const ox = (k % cols) * s, oy = Math.floor(k / cols) * s;
    const { width: w, height: h } = x.img;
    const inst = new Uint8Array(w * h);
    x.segments.forEach((sg, i) => fillPolygonsInto(inst, [sg], h, w, (i % 250) + 1));
    for (let y = 0; y < h; y++) {
      for (let c = 0; c < w; c++) {
        const si = (y * w + c) * 3, di = ((oy + y) * W + ox + c) * 3;
        const m = inst[y * w + c];
        for (let ch = 0; ch < 3; ch++) {
          const v = x.img.data[si + ch];
          out[di + ch] = m ? Math.round(0.5 * v + 0.5 * palette[(m - 1) % palette.length][ch]) : v;
        }
      }
    }
  });
  return { data: out, width: W, height: H };
}
