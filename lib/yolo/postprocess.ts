/**
 * YOLOv8-seg post-processing, numerically as ultralytics 8.2 (`utils/ops.py`) + torchvision.ops.nms: NMS on the raw
 * head output, mask logits from prototypes, crop/upsample/threshold of masks, and box/mask rescaling to the original
 * image. Engine-independent: plain typed arrays in and out (float32 where PyTorch computes in float32), so the tfjs
 * and any other engine share it. Layouts: pred anchor-major `[A, 4+nc+nm]`; proto HWC `[mh, mw, nm]`; masks `[n, H, W]`.
 */
import { pyRound } from "../util/math.ts";

const f32 = Math.fround;

/** Options of `nonMaxSuppression` (ultralytics `non_max_suppression` arguments). */
export interface NmsOptions {
  /** confidence threshold: keep scores > conf (compared in float32) */
  conf: number;
  /** IoU threshold: suppress IoU > iou */
  iou: number;
  /** number of classes (the remaining channels after 4+nc are mask coefficients) */
  nc: number;
  /** keep only these class ids */
  classes?: readonly number[] | null;
  /** class-agnostic NMS */
  agnostic?: boolean;
  /** one candidate per (anchor, class) above conf; ignored when nc = 1 */
  multiLabel?: boolean;
  /** keep at most this many detections per image (default 300) */
  maxDet?: number;
  /** at most this many candidates enter NMS (default 30000) */
  maxNms?: number;
  /** class offset added to boxes for class-aware NMS (default 7680) */
  maxWh?: number;
}

/** Detections of one image, ordered by descending confidence. */
export interface Detections {
  n: number;
  /** [n, 4] xyxy pixels (of the network input, or of the original image after `scaleBoxes`) */
  boxes: Float32Array;
  /** [n] scores */
  conf: Float32Array;
  /** [n] class ids */
  cls: Int32Array;
  /** number of mask coefficients per detection */
  nm: number;
  /** [n, nm] mask coefficients */
  coefs: Float32Array;
}

/** Prototype masks of one image: HWC float32 `[h, w, c]`. */
export interface Proto {
  data: Float32Array;
  h: number;
  w: number;
  c: number;
}

/** An empty Detections with nm coefficient columns. */
export function emptyDetections(nm: number): Detections {
  return {
    n: 0,
    boxes: new Float32Array(0),
    conf: new Float32Array(0),
    cls: new Int32Array(0),
    nm,
    coefs: new Float32Array(0),
  };
}

/** Growable parallel arrays of NMS candidates (anchor index, class, score). */
class Candidates {
  anchor: Int32Array;
  cls: Int32Array;
  score: Float32Array;
  n = 0;
  constructor(cap: number) {
    cap = Math.max(16, cap);
    this.anchor = new Int32Array(cap);
    this.cls = new Int32Array(cap);
    this.score = new Float32Array(cap);
  }
  push(a: number, c: number, s: number): void {
    if (this.n === this.anchor.length) {
      const cap = this.n * 2;
      const a2 = new Int32Array(cap), c2 = new Int32Array(cap), s2 = new Float32Array(cap);
      a2.set(this.anchor), c2.set(this.cls), s2.set(this.score);
      this.anchor = a2, this.cls = c2, this.score = s2;
    }
    this.anchor[this.n] = a, this.cls[this.n] = c, this.score[this.n] = s;
    this.n++;
  }
}

/** Indices 0..n-1 of `score` sorted by descending score, ties in index order (torch stable sort). */
function argsortDesc(score: Float32Array, n: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => (score[b] - score[a]) || (a - b));
  return idx;
}

/**
 * Non-maximum suppression of one image, as ultralytics `non_max_suppression` with torchvision.ops.nms.
 * `pred`: [A, 4+nc+nm] anchor-major float32, rows (cx, cy, w, h) input pixels, nc sigmoid scores, nm coefficients.
 */
export function nonMaxSuppression(pred: Float32Array, A: number, opts: NmsOptions): Detections {
  const nc = opts.nc;
  if (A === 0) return emptyDetections(0);
  const C = pred.length / A;
  if (!Number.isInteger(C) || C < 4 + nc) {
    throw new Error(`nonMaxSuppression: pred has ${pred.length} values, not [${A}, >=${4 + nc}]`);
  }
  const nm = C - 4 - nc;
  const thr = f32(opts.conf);
  const iouThr = opts.iou;
  const maxDet = opts.maxDet ?? 300;
  const maxNms = opts.maxNms ?? 30000;
  const maxWh = opts.maxWh ?? 7680;
  const multi = (opts.multiLabel ?? false) && nc > 1;
  let allowed: Uint8Array | null = null;
  if (opts.classes != null) {
    allowed = new Uint8Array(nc);
    for (const c of opts.classes) if (c >= 0 && c < nc) allowed[c] = 1;
  }

  // candidates: anchors whose best class score > conf, then per-class (multi-label) or best-class rows
  const cand = new Candidates(multi ? 1024 : 256);
  for (let a = 0; a < A; a++) {
    const o = a * C + 4;
    let best = pred[o], bj = 0;
    for (let j = 1; j < nc; j++) {
      const s = pred[o + j];
      if (s > best) best = s, bj = j;
    }
    if (!(best > thr)) continue;
    if (multi) {
      for (let j = 0; j < nc; j++) {
        const s = pred[o + j];
        if (s > thr && (allowed === null || allowed[j])) cand.push(a, j, s);
      }
    } else if (allowed === null || allowed[bj]) cand.push(a, bj, best);
  }
  let n = cand.n;
  if (n === 0) return emptyDetections(nm);

  // sort by descending score (stable); torch's argsort for the max_nms cut is applied to the same order
  let order = argsortDesc(cand.score, n);
  if (n > maxNms) {
    order = order.slice(0, maxNms);
    n = maxNms;
  }

  // xyxy in float32 plus the class offset, areas as torchvision computes them
  const x1 = new Float32Array(n), y1 = new Float32Array(n), x2 = new Float32Array(n), y2 = new Float32Array(n);
  const area = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const o = cand.anchor[i] * C;
    const off = opts.agnostic ? 0 : f32(cand.cls[i] * maxWh);
    const hw = f32(pred[o + 2] / 2), hh = f32(pred[o + 3] / 2);
    const bx1 = f32(pred[o] - hw), by1 = f32(pred[o + 1] - hh), bx2 = f32(pred[o] + hw), by2 = f32(pred[o + 1] + hh);
    x1[k] = f32(bx1 + off), y1[k] = f32(by1 + off), x2[k] = f32(bx2 + off), y2[k] = f32(by2 + off);
    area[k] = f32(f32(x2[k] - x1[k]) * f32(y2[k] - y1[k]));
  }

  // greedy NMS in sorted order; stop once max_det boxes are kept (later keeps would be cut anyway)
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let k = 0; k < n && keep.length < maxDet; k++) {
    if (suppressed[k]) continue;
    keep.push(k);
    const ix1 = x1[k], iy1 = y1[k], ix2 = x2[k], iy2 = y2[k], ia = area[k];
    for (let m = k + 1; m < n; m++) {
      if (suppressed[m]) continue;
      const w = Math.max(0, f32(Math.min(ix2, x2[m]) - Math.max(ix1, x1[m])));
      const h = Math.max(0, f32(Math.min(iy2, y2[m]) - Math.max(iy1, y1[m])));
      const inter = f32(w * h);
      const ovr = f32(inter / f32(f32(ia + area[m]) - inter));
      if (ovr > iouThr) suppressed[m] = 1;
    }
  }

  const nk = keep.length;
  const out: Detections = {
    n: nk,
    boxes: new Float32Array(nk * 4),
    conf: new Float32Array(nk),
    cls: new Int32Array(nk),
    nm,
    coefs: new Float32Array(nk * nm),
  };
  for (let d = 0; d < nk; d++) {
    const i = order[keep[d]];
    const o = cand.anchor[i] * C;
    const hw = f32(pred[o + 2] / 2), hh = f32(pred[o + 3] / 2);
    out.boxes[d * 4] = pred[o] - hw;
    out.boxes[d * 4 + 1] = pred[o + 1] - hh;
    out.boxes[d * 4 + 2] = pred[o] + hw;
    out.boxes[d * 4 + 3] = pred[o + 1] + hh;
    out.conf[d] = cand.score[i];
    out.cls[d] = cand.cls[i];
    out.coefs.set(pred.subarray(o + 4 + nc, o + C), d * nm);
  }
  return out;
}

/** NMS over a batch: `pred` [B, A, 4+nc+nm] anchor-major → one Detections per image. */
export function nonMaxSuppressionBatch(pred: Float32Array, B: number, A: number, opts: NmsOptions): Detections[] {
  const per = pred.length / B;
  const out: Detections[] = [];
  for (let b = 0; b < B; b++) out.push(nonMaxSuppression(pred.subarray(b * per, (b + 1) * per), A, opts));
  return out;
}

/** Transpose channel-major [B, C, A] (as ultralytics returns) to anchor-major [B, A, C]. */
export function toAnchorMajor(predCA: Float32Array, B: number, C: number, A: number): Float32Array {
  const out = new Float32Array(B * C * A);
  for (let b = 0; b < B; b++) {
    const base = b * C * A;
    for (let c = 0; c < C; c++) {
      const src = base + c * A;
      for (let a = 0; a < A; a++) out[base + a * C + c] = predCA[src + a];
    }
  }
  return out;
}

/** Transpose CHW [c, h, w] prototypes to the HWC Proto layout. */
export function protoFromCHW(chw: Float32Array, c: number, h: number, w: number): Proto {
  const hw = h * w;
  const data = new Float32Array(c * hw);
  for (let k = 0; k < c; k++) {
    const src = k * hw;
    for (let p = 0; p < hw; p++) data[p * c + k] = chw[src + p];
  }
  return { data, h, w, c };
}

/** Write coef·proto logits of rows [r0, r1) × cols [c0, c1) into `out` ([h*w], rest untouched). */
function logitsRegion(
  proto: Proto,
  coefs: Float32Array,
  co: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  out: Float32Array,
): void {
  const { data, w, c } = proto;
  for (let y = r0; y < r1; y++) {
    for (let x = c0; x < c1; x++) {
      const p = (y * w + x) * c;
      let s = 0;
      for (let k = 0; k < c; k++) s += coefs[co + k] * data[p + k];
      out[y * w + x] = s;
    }
  }
}

/** Mask logits coefs @ protos for the first `n` detections (default all): Float32Array [n, h, w]. */
export function maskLogits(proto: Proto, coefs: Float32Array, n = coefs.length / proto.c): Float32Array {
  const hw = proto.h * proto.w;
  const out = new Float32Array(n * hw);
  for (let i = 0; i < n; i++) {
    logitsRegion(proto, coefs, i * proto.c, 0, proto.h, 0, proto.w, out.subarray(i * hw, (i + 1) * hw));
  }
  return out;
}

/** Integer range [lo, hi) of pixel indices p in [0, size) with lo_f <= p < hi_f (float32 box edges, crop_mask). */
function cropRange(lo: number, hi: number, size: number): [number, number] {
  const a = Math.max(0, Math.ceil(lo));
  const b = Math.min(size, Math.ceil(hi));
  return [a, Math.max(a, b)];
}

/** Bilinear taps (align_corners=False, as torch's CPU upsample in float32) for resizing inSize → outSize. */
export interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

/** Bilinear taps of torch `F.interpolate(mode="bilinear", align_corners=False)` along one axis. */
export function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = f32(inSize / outSize);
  const t: Taps = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    l0: new Float32Array(outSize),
    l1: new Float32Array(outSize),
  };
  const half = 0.5;
  for (let d = 0; d < outSize; d++) {
    let src = f32(f32(scale * f32(d + half)) - half);
    if (src < 0) src = 0;
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const l1 = Math.min(Math.max(f32(src - i0), 0), 1);
    t.i0[d] = i0;
    t.i1[d] = i0 < inSize - 1 ? i0 + 1 : i0;
    t.l1[d] = l1;
    t.l0[d] = f32(1 - l1);
  }
  return t;
}

/** Range [a, b) of output indices whose taps touch the source range [lo, hi). Taps are monotonic. */
function outRange(t: Taps, lo: number, hi: number): [number, number] {
  const n = t.i0.length;
  let a = 0;
  while (a < n && t.i1[a] < lo) a++;
  let b = n;
  while (b > a && t.i0[b - 1] >= hi) b--;
  return [a, b];
}

/** Interpolated value at output (y, x) from a source map with row stride `sw` and origin offset `so`. */
function bilerp(src: Float32Array, so: number, sw: number, ty: Taps, y: number, tx: Taps, x: number): number {
  const r0 = so + ty.i0[y] * sw, r1 = so + ty.i1[y] * sw;
  const a = tx.i0[x], b = tx.i1[x], wa = tx.l0[x], wb = tx.l1[x];
  return ty.l0[y] * (wa * src[r0 + a] + wb * src[r0 + b]) + ty.l1[y] * (wa * src[r1 + a] + wb * src[r1 + b]);
}

/**
 * Set m[y * ow + x] = 1 where the bilinear value at output (y, x), y in [ya, yb), x in [xa, xb), is > 0. Separable:
 * a horizontal pass over the source rows needed, then a vertical pass; the same arithmetic, in the same order, as
 * `bilerp` (and torch's kernel: h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11)).
 */
function positiveRegion(
  src: Float32Array,
  so: number,
  sw: number,
  ty: Taps,
  ya: number,
  yb: number,
  tx: Taps,
  xa: number,
  xb: number,
  m: Uint8Array,
  ow: number,
): void {
  const nx = xb - xa;
  if (nx <= 0 || yb <= ya) return;
  const s0 = ty.i0[ya], s1 = ty.i1[yb - 1];
  const tmp = new Float64Array((s1 - s0 + 1) * nx);
  for (let r = s0; r <= s1; r++) {
    const row = so + r * sw, t = (r - s0) * nx - xa;
    for (let x = xa; x < xb; x++) tmp[t + x] = tx.l0[x] * src[row + tx.i0[x]] + tx.l1[x] * src[row + tx.i1[x]];
  }
  for (let y = ya; y < yb; y++) {
    const a = (ty.i0[y] - s0) * nx, b = (ty.i1[y] - s0) * nx, wa = ty.l0[y], wb = ty.l1[y], o = y * ow + xa;
    for (let k = 0; k < nx; k++) if (wa * tmp[a + k] + wb * tmp[b + k] > 0) m[o + k] = 1;
  }
}

/**
 * ultralytics `process_mask`: logits cropped to the box scaled to proto resolution; upsample=false → masks
 * [n, mh, mw]; upsample=true → bilinear (align_corners=False) to the input size [n, H, W], then > 0.
 * `boxes` [n, 4] xyxy in input pixels; `inputHW` the network input [H, W]. Returns Uint8Array 0/1.
 */
export function processMask(
  proto: Proto,
  coefs: Float32Array,
  boxes: Float32Array,
  n: number,
  inputHW: readonly [number, number],
  upsample: boolean,
): Uint8Array {
  const { h: mh, w: mw } = proto;
  const [ih, iw] = inputHW;
  const wr = f32(mw / iw), hr = f32(mh / ih);
  const oh = upsample ? ih : mh, ow = upsample ? iw : mw;
  const out = new Uint8Array(n * oh * ow);
  const buf = new Float32Array(mh * mw);
  const ty = upsample ? bilinearTaps(mh, oh) : null;
  const tx = upsample ? bilinearTaps(mw, ow) : null;
  for (let i = 0; i < n; i++) {
    const [c0, c1] = cropRange(f32(boxes[i * 4] * wr), f32(boxes[i * 4 + 2] * wr), mw);
    const [r0, r1] = cropRange(f32(boxes[i * 4 + 1] * hr), f32(boxes[i * 4 + 3] * hr), mh);
    if (c1 <= c0 || r1 <= r0) continue;
    buf.fill(0);
    logitsRegion(proto, coefs, i * proto.c, r0, r1, c0, c1, buf);
    const m = out.subarray(i * oh * ow, (i + 1) * oh * ow);
    if (!upsample) {
      for (let y = r0; y < r1; y++) for (let x = c0; x < c1; x++) m[y * ow + x] = buf[y * mw + x] > 0 ? 1 : 0;
      continue;
    }
    const [ya, yb] = outRange(ty!, r0, r1);
    const [xa, xb] = outRange(tx!, c0, c1);
    positiveRegion(buf, 0, mw, ty!, ya, yb, tx!, xa, xb, m, ow);
  }
  return out;
}

/** The proto-resolution crop [top, bottom) × [left, right) that `scale_masks` keeps for an original size. */
export function scaleMasksCrop(
  mh: number,
  mw: number,
  origHW: readonly [number, number],
): { top: number; bottom: number; left: number; right: number } {
  const [oh, ow] = origHW;
  const gain = Math.min(mh / oh, mw / ow);
  const padW = (mw - ow * gain) / 2, padH = (mh - oh * gain) / 2;
  return { top: Math.trunc(padH), left: Math.trunc(padW), bottom: Math.trunc(mh - padH), right: Math.trunc(mw - padW) };
}

/**
 * ultralytics `scale_masks`: float maps [n, mh, mw] (letterboxed frame) → padding removed and bilinear-resized
 * (align_corners=False) to [n, oh, ow].
 */
export function scaleMasks(
  masks: Float32Array,
  n: number,
  mh: number,
  mw: number,
  origHW: readonly [number, number],
): Float32Array {
  const [oh, ow] = origHW;
  const { top, bottom, left, right } = scaleMasksCrop(mh, mw, origHW);
  const ty = bilinearTaps(bottom - top, oh), tx = bilinearTaps(right - left, ow);
  const out = new Float32Array(n * oh * ow);
  for (let i = 0; i < n; i++) {
    const so = i * mh * mw + top * mw + left;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) out[i * oh * ow + y * ow + x] = bilerp(masks, so, mw, ty, y, tx, x);
    }
  }
  return out;
}

/**
 * ultralytics `process_mask_native` (retina masks): full logits → `scale_masks` to the original size → crop with
 * the native boxes (`nativeBoxes` [n, 4] xyxy original pixels) → > 0. Returns Uint8Array [n, oh, ow].
 */
export function processMaskNative(
  proto: Proto,
  coefs: Float32Array,
  nativeBoxes: Float32Array,
  n: number,
  origHW: readonly [number, number],
): Uint8Array {
  const { h: mh, w: mw } = proto;
  const [oh, ow] = origHW;
  const { top, bottom, left, right } = scaleMasksCrop(mh, mw, origHW);
  const ty = bilinearTaps(bottom - top, oh), tx = bilinearTaps(right - left, ow);
  const out = new Uint8Array(n * oh * ow);
  const buf = new Float32Array(mh * mw);
  for (let i = 0; i < n; i++) {
    const [xa, xb] = cropRange(nativeBoxes[i * 4], nativeBoxes[i * 4 + 2], ow);
    const [ya, yb] = cropRange(nativeBoxes[i * 4 + 1], nativeBoxes[i * 4 + 3], oh);
    if (xb <= xa || yb <= ya) continue;
    // source rows/cols (in the cropped frame) that these output pixels read
    const sr0 = ty.i0[ya], sr1 = ty.i1[yb - 1] + 1, sc0 = tx.i0[xa], sc1 = tx.i1[xb - 1] + 1;
    logitsRegion(proto, coefs, i * proto.c, top + sr0, top + sr1, left + sc0, left + sc1, buf);
    const m = out.subarray(i * oh * ow, (i + 1) * oh * ow);
    const so = top * mw + left;
    positiveRegion(buf, so, mw, ty, ya, yb, tx, xa, xb, m, ow);
  }
  return out;
}

export { pyRound };

/**
 * ultralytics `scale_boxes`: xyxy boxes [n, 4] from the letterboxed input [H, W] to the original image [h, w]
 * (subtract padding, divide by gain, clip). `ratioPad` = [[gain, gain], [padX, padY]] overrides the computed values.
 * Returns a new Float32Array.
 */
export function scaleBoxes(
  inputHW: readonly [number, number],
  boxes: Float32Array,
  origHW: readonly [number, number],
  ratioPad?: readonly [readonly number[], readonly [number, number]],
): Float32Array {
  const [ih, iw] = inputHW;
  const [oh, ow] = origHW;
  let gain: number, padX: number, padY: number;
  if (ratioPad) {
    gain = ratioPad[0][0];
    [padX, padY] = ratioPad[1];
  } else {
    gain = Math.min(ih / oh, iw / ow);
    padX = pyRound((iw - ow * gain) / 2 - 0.1);
    padY = pyRound((ih - oh * gain) / 2 - 0.1);
  }
  const g = f32(gain);
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const x1 = f32(f32(boxes[i] - padX) / g), y1 = f32(f32(boxes[i + 1] - padY) / g);
    const x2 = f32(f32(boxes[i + 2] - padX) / g), y2 = f32(f32(boxes[i + 3] - padY) / g);
    out[i] = Math.min(Math.max(x1, 0), ow);
    out[i + 1] = Math.min(Math.max(y1, 0), oh);
    out[i + 2] = Math.min(Math.max(x2, 0), ow);
    out[i + 3] = Math.min(Math.max(y2, 0), oh);
  }
  return out;
}

/**
 * Binary masks [n, H, W] on the letterboxed input → the original image [n, h, w] (ultralytics `scale_image`:
 * padding removed with int() truncation, bilinear resize, value >= 0.5 kept). `hint`: input-frame boxes [n, 4] and a
 * margin (pixels) outside which the masks are known to be empty (from `processMask`), to skip scanning.
 */
export function scaleBinaryMasks(
  masks: Uint8Array,
  n: number,
  inputHW: readonly [number, number],
  origHW: readonly [number, number],
  hint?: { boxes: Float32Array; margin: number },
): Uint8Array {
  const [ih, iw] = inputHW;
  const [oh, ow] = origHW;
  if (ih === oh && iw === ow) return masks;
  const { top, bottom, left, right } = scaleMasksCrop(ih, iw, origHW);
  const ty = bilinearTaps(bottom - top, oh), tx = bilinearTaps(right - left, ow);
  const out = new Uint8Array(n * oh * ow);
  for (let i = 0; i < n; i++) {
    const src = masks.subarray(i * ih * iw, (i + 1) * ih * iw);
    // bounding rows/cols of the source mask, to skip empty output areas
    let r0 = ih, r1 = -1, c0 = iw, c1 = -1;
    let sy0 = 0, sy1 = ih, sx0 = 0, sx1 = iw;
    if (hint) {
      const b = hint.boxes, g = hint.margin;
      sx0 = Math.max(0, Math.floor(b[i * 4]) - g), sx1 = Math.min(iw, Math.ceil(b[i * 4 + 2]) + g);
      sy0 = Math.max(0, Math.floor(b[i * 4 + 1]) - g), sy1 = Math.min(ih, Math.ceil(b[i * 4 + 3]) + g);
    }
    for (let y = sy0; y < sy1; y++) {
      const row = y * iw;
      for (let x = sx0; x < sx1; x++) {
        if (src[row + x]) {
          if (y < r0) r0 = y;
          r1 = y;
          if (x < c0) c0 = x;
          if (x > c1) c1 = x;
        }
      }
    }
    if (r1 < 0) continue;
    const [ya, yb] = outRange(ty, r0 - top, r1 - top + 1);
    const [xa, xb] = outRange(tx, c0 - left, c1 - left + 1);
    const m = out.subarray(i * oh * ow, (i + 1) * oh * ow);
    const so = top * iw + left;
    for (let y = ya; y < yb; y++) {
      const r0y = so + ty.i0[y] * iw, r1y = so + ty.i1[y] * iw;
      for (let x = xa; x < xb; x++) {
        const a = tx.i0[x], b = tx.i1[x], wa = tx.l0[x], wb = tx.l1[x];
        const v = ty.l0[y] * (wa * src[r0y + a] + wb * src[r0y + b]) +
          ty.l1[y] * (wa * src[r1y + a] + wb * src[r1y + b]);
        if (v >= 0.5) m[y * ow + x] = 1;
      }
    }
  }
  return out;
}
