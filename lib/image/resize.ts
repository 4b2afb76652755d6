/**
 * uint8 image resizing that reproduces OpenCV 4.x `cv::resize` on 8-bit images (no IPP / OpenCL paths):
 * INTER_LINEAR (half-pixel centres, 11-bit fixed-point weights, the vector vertical pass's rounding; bit-exact on
 * every ultralytics letterbox reference) and INTER_AREA (exact box averaging when shrinking, OpenCV's bilinear
 * emulation when enlarging). An exact 2x shrink in both axes takes OpenCV's "area fast" path in both modes.
 */
import type { Image8 } from "./types.ts";

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS; // 2048
const f32 = Math.fround;

/** Round half to even (what cvRound / saturate_cast do on x86), then clamp to [lo, hi]. */
function roundEvenClamp(v: number, lo: number, hi: number): number {
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) !== 0) r -= 1; // Math.round rounds .5 up; make ties go to even
  return r < lo ? lo : r > hi ? hi : r;
}

function sameSize<T extends Image8>(img: T, h: number, w: number): T | null {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new RangeError(`resize target must be positive integers, got ${h}x${w}`);
  }
  if (h === img.height && w === img.width) return { ...img, data: img.data.slice() };
  return null;
}

/** Per output index along one axis: source index `ofs` and fixed-point weights (w0 for ofs, w1 for ofs + 1). */
interface Taps {
  ofs: Int32Array;
  w0: Int32Array;
  w1: Int32Array;
}

function linearTaps(srcN: number, dstN: number, area: boolean, clampLow: boolean): Taps {
  const inv = dstN / srcN, scale = 1 / inv;
  const ofs = new Int32Array(dstN), w0 = new Int32Array(dstN), w1 = new Int32Array(dstN);
  for (let d = 0; d < dstN; d++) {
    let s: number, f: number;
    if (!area) {
      f = f32((d + 0.5) * scale - 0.5);
      s = Math.floor(f);
      f = f32(f - s);
    } else {
      s = Math.floor(d * scale);
      f = f32((d + 1) - (s + 1) * inv);
      f = f <= 0 ? 0 : f32(f - Math.floor(f));
    }
    if (clampLow) { // the x axis clamps taps inside the image; the y axis clamps rows later
      if (s < 0) s = 0, f = 0;
      if (s >= srcN - 1) s = srcN - 1, f = 0;
    }
    ofs[d] = s;
    w0[d] = roundEvenClamp(f32(1 - f) * COEF_SCALE, -32768, 32767);
    w1[d] = roundEvenClamp(f * COEF_SCALE, -32768, 32767);
  }
  return { ofs, w0, w1 };
}

function resizeGenericLinear<T extends Image8>(img: T, h: number, w: number, area: boolean): T {
  const { height: sh, width: sw, channels: cn, data: src } = img;
  const xt = linearTaps(sw, w, area, true), yt = linearTaps(sh, h, area, false);
  const width = w * cn;
  // horizontal pass buffers (int): S[x*cn+c] = src[sx]*w0 + src[sx+1]*w1, cached per source row
  const rowCache = new Map<number, Int32Array>();
  const hrow = (sy: number): Int32Array => {
    let r = rowCache.get(sy);
    if (r) return r;
    r = new Int32Array(width);
    const base = sy * sw * cn;
    for (let dx = 0; dx < w; dx++) {
      const sx = xt.ofs[dx], a0 = xt.w0[dx], a1 = xt.w1[dx];
      const p = base + sx * cn;
      const q = sx + 1 < sw ? p + cn : p; // a1 is 0 whenever sx + 1 is outside
      for (let c = 0; c < cn; c++) r[dx * cn + c] = src[p + c] * a0 + src[q + c] * a1;
    }
    if (rowCache.size > 4) rowCache.delete(rowCache.keys().next().value!);
    rowCache.set(sy, r);
    return r;
  };
  const out = new Uint8Array(h * width);
  for (let dy = 0; dy < h; dy++) {
    const sy = yt.ofs[dy];
    const r0 = hrow(Math.min(Math.max(sy, 0), sh - 1)), r1 = hrow(Math.min(Math.max(sy + 1, 0), sh - 1));
    const b0 = yt.w0[dy], b1 = yt.w1[dy];
    const o = dy * width;
    // OpenCV's vector vertical pass: v_mul_hi(S >> 4, b) = ((S >> 4) * b) >> 16 per term, then (v + 2) >> 2.
    // Used for the whole row: it matched ultralytics' OpenCV output bit for bit on every reference letterbox
    // (the scalar formula (S0*b0 + S1*b1 + 2^21) >> 22 on the row tail gave +1 differences there).
    for (let x = 0; x < width; x++) {
      const v = (((r0[x] >> 4) * b0) >> 16) + (((r1[x] >> 4) * b1) >> 16);
      const t = (v + 2) >> 2;
      out[o + x] = t < 0 ? 0 : t > 255 ? 255 : t;
    }
  }
  return { ...img, data: out, height: h, width: w };
}

/** OpenCV resizeAreaFast_ for an integer shrink factor (sx, sy) in both axes. */
function resizeAreaFast<T extends Image8>(img: T, h: number, w: number, fx: number, fy: number): T {
  const { width: sw, channels: cn, data: src } = img;
  const out = new Uint8Array(h * w * cn);
  const areaN = fx * fy, scale = f32(1 / areaN);
  const twoByTwo = fx === 2 && fy === 2 && cn !== 2; // SIMD path: (a + b + c + d + 2) >> 2
  for (let dy = 0; dy < h; dy++) {
    for (let dx = 0; dx < w; dx++) {
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let ky = 0; ky < fy; ky++) {
          const row = (dy * fy + ky) * sw;
          for (let kx = 0; kx < fx; kx++) sum += src[(row + dx * fx + kx) * cn + c];
        }
        out[(dy * w + dx) * cn + c] = twoByTwo ? (sum + 2) >> 2 : roundEvenClamp(f32(sum * scale), 0, 255);
      }
    }
  }
  return { ...img, data: out, height: h, width: w };
}

interface AreaTab {
  di: number;
  si: number;
  alpha: number;
}

function areaTab(srcN: number, dstN: number, scale: number): AreaTab[] {
  const tab: AreaTab[] = [];
  for (let d = 0; d < dstN; d++) {
    const f1 = d * scale, f2 = f1 + scale;
    const cell = Math.min(scale, srcN - f1);
    let s2 = Math.floor(f2);
    s2 = Math.min(s2, srcN - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    if (s1 - f1 > 1e-3) tab.push({ di: d, si: s1 - 1, alpha: f32((s1 - f1) / cell) });
    for (let s = s1; s < s2; s++) tab.push({ di: d, si: s, alpha: f32(1 / cell) });
    if (f2 - s2 > 1e-3) tab.push({ di: d, si: s2, alpha: f32(Math.min(Math.min(f2 - s2, 1), cell) / cell) });
  }
  return tab;
}

/** OpenCV ResizeArea_Invoker (float weights and sums) for a non-integer shrink. */
function resizeAreaGeneral<T extends Image8>(img: T, h: number, w: number, scaleX: number, scaleY: number): T {
  const { height: sh, width: sw, channels: cn, data: src } = img;
  const xtab = areaTab(sw, w, scaleX), ytab = areaTab(sh, h, scaleY);
  const width = w * cn;
  const out = new Uint8Array(h * width);
  const buf = new Float32Array(width), sum = new Float32Array(width);
  let prev = ytab.length ? ytab[0].di : 0;
  const flush = (dy: number) => {
    for (let x = 0; x < width; x++) out[dy * width + x] = roundEvenClamp(sum[x], 0, 255);
  };
  for (const yt of ytab) {
    buf.fill(0);
    const base = yt.si * sw * cn;
    for (const t of xtab) {
      for (let c = 0; c < cn; c++) {
        const k = t.di * cn + c;
        buf[k] = f32(buf[k] + f32(src[base + t.si * cn + c] * t.alpha));
      }
    }
    if (yt.di !== prev) {
      flush(prev);
      for (let x = 0; x < width; x++) sum[x] = f32(yt.alpha * buf[x]);
      prev = yt.di;
    } else {
      for (let x = 0; x < width; x++) sum[x] = f32(sum[x] + f32(yt.alpha * buf[x]));
    }
  }
  flush(prev);
  return { ...img, data: out, height: h, width: w };
}

/** OpenCV's `is_area_fast`: both scales (1 / (dst / src)) within DBL_EPSILON of an integer. */
function areaFastFactors(img: Image8, h: number, w: number): [number, number] | null {
  const sx = 1 / (w / img.width), sy = 1 / (h / img.height);
  const ix = Math.round(sx), iy = Math.round(sy);
  return Math.abs(sx - ix) < Number.EPSILON && Math.abs(sy - iy) < Number.EPSILON ? [ix, iy] : null;
}

/** OpenCV `resize(img, (w, h), INTER_LINEAR)` on a uint8 HWC image of any channel count. */
export function resizeLinear<T extends Image8>(img: T, h: number, w: number): T {
  const same = sameSize(img, h, w);
  if (same) return same;
  const f = areaFastFactors(img, h, w);
  if (f && f[0] === 2 && f[1] === 2) return resizeAreaFast(img, h, w, 2, 2);
  return resizeGenericLinear(img, h, w, false);
}

/** OpenCV `resize(img, (w, h), INTER_AREA)` on a uint8 HWC image of any channel count. */
export function resizeArea<T extends Image8>(img: T, h: number, w: number): T {
  const same = sameSize(img, h, w);
  if (same) return same;
  const scaleX = img.width / w, scaleY = img.height / h;
  if (scaleX >= 1 && scaleY >= 1) {
    const f = areaFastFactors(img, h, w);
    if (f) return resizeAreaFast(img, h, w, f[0], f[1]);
    return resizeAreaGeneral(img, h, w, 1 / (w / img.width), 1 / (h / img.height));
  }
  return resizeGenericLinear(img, h, w, true);
}
