/**
 * Binary morphology like OpenCV `cv2.erode` / `cv2.dilate` with a 3x3 rectangular kernel and `iterations` (default
 * border: pixels outside the image never erode and never dilate). n iterations of a 3x3 box equal one
 * (2n+1)x(2n+1) box, computed separably (row min/max, then column min/max).
 */

/** Erode a (h, w) 0/1 mask with a 3x3 rect kernel `iterations` times. */
export function erode(mask: Uint8Array, h: number, w: number, iterations = 1): Uint8Array {
  return boxFilter(mask, h, w, iterations, true);
}

/** Dilate a (h, w) 0/1 mask with a 3x3 rect kernel `iterations` times. */
export function dilate(mask: Uint8Array, h: number, w: number, iterations = 1): Uint8Array {
  return boxFilter(mask, h, w, iterations, false);
}

function boxFilter(mask: Uint8Array, h: number, w: number, r: number, isMin: boolean): Uint8Array {
  if (mask.length !== h * w) throw new Error(`morph: mask has ${mask.length} values, expected ${h}x${w}`);
  if (r <= 0) return mask.slice();
  const tmp = new Uint8Array(h * w);
  const out = new Uint8Array(h * w);
  // rows: running count of ones in the clipped window
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const a = Math.max(0, x - r), b = Math.min(w - 1, x + r);
      let v = isMin ? 1 : 0;
      for (let k = a; k <= b; k++) {
        if (isMin ? !mask[o + k] : mask[o + k]) {
          v = isMin ? 0 : 1;
          break;
        }
      }
      tmp[o + x] = v;
    }
  }
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const a = Math.max(0, y - r), b = Math.min(h - 1, y + r);
      let v = isMin ? 1 : 0;
      for (let k = a; k <= b; k++) {
        if (isMin ? !tmp[k * w + x] : tmp[k * w + x]) {
          v = isMin ? 0 : 1;
          break;
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/** Pixel-wise OR of masks (all h*w). */
export function union(masks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (const m of masks) for (let i = 0; i < size; i++) if (m[i]) out[i] = 1;
  return out;
}

/** Tight xyxy box of a mask (x2/y2 exclusive: max + 1), or null when empty. */
export function maskBox(mask: Uint8Array, h: number, w: number): [number, number, number, number] | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}
