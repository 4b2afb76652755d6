/**
 * IoU between boxes and between binary masks, computed in float32 the way torch does it in ultralytics'
 * `box_iou` and `mask_iou` (every arithmetic step rounded to float32), so that thresholds compare identically.
 */

const f32 = Math.fround;
const EPS32 = f32(1e-7);

/** A stack of n binary masks of size h×w: `data[(i*h + y)*w + x]` is 0 or 1. */
export interface MaskStack {
  n: number;
  h: number;
  w: number;
  data: Uint8Array;
}

/** Box IoU of a [n,4] and b [m,4] xyxy boxes (flat arrays) → Float32Array [n*m] row-major (a rows), as torch float32. */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const n = Math.floor(a.length / 4), m = Math.floor(b.length / 4);
  const out = new Float32Array(n * m);
  const areaB = new Float32Array(m);
  for (let j = 0; j < m; j++) areaB[j] = f32(f32(b[j * 4 + 2] - b[j * 4]) * f32(b[j * 4 + 3] - b[j * 4 + 1]));
  for (let i = 0; i < n; i++) {
    const ax1 = f32(a[i * 4]), ay1 = f32(a[i * 4 + 1]), ax2 = f32(a[i * 4 + 2]), ay2 = f32(a[i * 4 + 3]);
    const areaA = f32(f32(ax2 - ax1) * f32(ay2 - ay1));
    for (let j = 0; j < m; j++) {
      const bx1 = f32(b[j * 4]), by1 = f32(b[j * 4 + 1]), bx2 = f32(b[j * 4 + 2]), by2 = f32(b[j * 4 + 3]);
      const iw = Math.max(0, f32(Math.min(ax2, bx2) - Math.max(ax1, bx1)));
      const ih = Math.max(0, f32(Math.min(ay2, by2) - Math.max(ay1, by1)));
      const inter = f32(iw * ih);
      out[i * m + j] = f32(inter / f32(f32(f32(areaA + areaB[j]) - inter) + EPS32));
    }
  }
  return out;
}

/** Row/column extent of each mask's foreground: [y0, y1, x0, x1] (exclusive ends), or all -1 when empty. */
function extents(s: MaskStack): { ext: Int32Array; area: Float64Array } {
  const ext = new Int32Array(s.n * 4).fill(-1);
  const area = new Float64Array(s.n);
  const { h, w, data } = s;
  for (let i = 0; i < s.n; i++) {
    let y0 = h, y1 = -1, x0 = w, x1 = -1, a = 0;
    const base = i * h * w;
    for (let y = 0; y < h; y++) {
      const row = base + y * w;
      let rowHit = false;
      for (let x = 0; x < w; x++) {
        if (data[row + x]) {
          a++;
          rowHit = true;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
        }
      }
      if (rowHit) {
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
    area[i] = a;
    if (a > 0) ext.set([y0, y1 + 1, x0, x1 + 1], i * 4);
  }
  return { ext, area };
}

/**
 * Mask IoU of stacks a [n,h,w] and b [m,h,w] → Float32Array [n*m] (a rows), as ultralytics `mask_iou` in float32:
 * inter / (areaA + areaB − inter + 1e-7). `pairs(i, j)` may skip pairs (left 0), e.g. different classes.
 */
export function maskIou(a: MaskStack, b: MaskStack, pairs?: (i: number, j: number) => boolean): Float32Array {
  if (a.h !== b.h || a.w !== b.w) throw new Error(`maskIou: sizes differ (${a.h}x${a.w} vs ${b.h}x${b.w})`);
  const out = new Float32Array(a.n * b.n);
  const ea = extents(a), eb = extents(b);
  const { h, w } = a, hw = h * w;
  for (let i = 0; i < a.n; i++) {
    for (let j = 0; j < b.n; j++) {
      if (pairs && !pairs(i, j)) continue;
      let inter = 0;
      if (ea.area[i] > 0 && eb.area[j] > 0) {
        const y0 = Math.max(ea.ext[i * 4], eb.ext[j * 4]), y1 = Math.min(ea.ext[i * 4 + 1], eb.ext[j * 4 + 1]);
        const x0 = Math.max(ea.ext[i * 4 + 2], eb.ext[j * 4 + 2]), x1 = Math.min(ea.ext[i * 4 + 3], eb.ext[j * 4 + 3]);
        for (let y = y0; y < y1; y++) {
          const ra = i * hw + y * w, rb = j * hw + y * w;
          for (let x = x0; x < x1; x++) inter += a.data[ra + x] & b.data[rb + x];
        }
      }
      const union = f32(f32(ea.area[i] + eb.area[j]) - inter);
      out[i * b.n + j] = f32(inter / f32(union + EPS32));
    }
  }
  return out;
}
