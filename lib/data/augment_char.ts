/**
 * Per-character augmentation on raw RGBA cut-outs for synthesis: crop, horizontal flip, PIL-style enhancement
 * (Color = saturation, Brightness, Contrast, Sharpness: blends with a degenerate image, RGB only, alpha kept), and
 * one affine warp (scale + rotation about the centre, bicubic a = -0.5 on premultiplied colour, canvas expanded to the
 * rotated bounds as PIL `rotate(expand=True)`).
 */
import type { RawImage } from "./image_io.ts";

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Crop `[x, y, w, h]` of an RGBA image. */
export function cropRgba(img: RawImage, x: number, y: number, w: number, h: number): RawImage {
  const out = new Uint8Array(w * h * 4);
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * img.width + x) * 4;
    out.set(img.data.subarray(s, s + w * 4), r * w * 4);
  }
  return { data: out, width: w, height: h, channels: 4 };
}

/** Mirror left-right. */
export function flipRgba(img: RawImage): RawImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 4, d = (y * w + (w - 1 - x)) * 4;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
      out[d + 3] = data[s + 3];
    }
  }
  return { data: out, width: w, height: h, channels: 4 };
}

/** PIL luma of an RGB triple (ITU-R 601-2, PIL's fixed-point rounding). */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/**
 * PIL `ImageEnhance` chain on the RGB of an RGBA image, in place order Color, Brightness, Contrast, Sharpness, each
 * `out = degenerate + f * (img - degenerate)` rounded and clipped; factor 1 leaves the image unchanged.
 */
export function enhanceRgba(
  img: RawImage,
  f: { color: number; brightness: number; contrast: number; sharpness: number },
): RawImage {
  const { width: w, height: h } = img;
  const d = img.data.slice();
  const n = w * h;
  if (f.color !== 1) {
    for (let i = 0; i < n; i++) {
      const p = i * 4, L = luma(d[p], d[p + 1], d[p + 2]);
      for (let c = 0; c < 3; c++) d[p + c] = clamp8(L + f.color * (d[p + c] - L));
    }
  }
  if (f.brightness !== 1) {
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) d[i * 4 + c] = clamp8(f.brightness * d[i * 4 + c]);
  }
  if (f.contrast !== 1) {
    // mean grey of the character's own (alpha > 0) pixels; PIL would average the transparent ones too
    let s = 0, m = 0;
    for (let i = 0; i < n; i++) {
      if (!d[i * 4 + 3]) continue;
      s += luma(d[i * 4], d[i * 4 + 1], d[i * 4 + 2]);
      m++;
    }
    const mean = Math.floor(s / Math.max(1, m) + 0.5);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) d[i * 4 + c] = clamp8(mean + f.contrast * (d[i * 4 + c] - mean));
    }
  }
  if (f.sharpness !== 1 && w > 2 && h > 2) {
    // degenerate = SMOOTH filter (3x3, centre 5, others 1, / 13), border pixels unchanged
    const src = d.slice();
    for (let y = 1; y < h - 1; y++) {
      for (let x = 1; x < w - 1; x++) {
        const p = (y * w + x) * 4;
        for (let c = 0; c < 3; c++) {
          let acc = 4 * src[p + c];
          for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) acc += src[p + (dy * w + dx) * 4 + c];
          const deg = clamp8(acc / 13);
          d[p + c] = clamp8(deg + f.sharpness * (src[p + c] - deg));
        }
      }
    }
  }
  return { data: d, width: w, height: h, channels: 4 };
}

/** Keys cubic (a = -0.5) weights of the 4 taps around a fractional offset t in [0, 1), into `out`. */
function cubic(t: number, out: Float64Array): void {
  const a = -0.5;
  const far = (x: number) => (((x - 5) * x + 8) * x - 4) * a; // 1 <= x < 2
  const near = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1; // 0 <= x < 1
  out[0] = far(t + 1);
  out[1] = near(t);
  out[2] = near(1 - t);
  out[3] = far(2 - t);
}

/**
 * Scale by `scale` and rotate by `deg` degrees counter-clockwise (as PIL `rotate`) about the centre, into a canvas
 * expanded to hold the whole result; bicubic on premultiplied RGBA, outside = transparent.
 */
export function warpRgba(img: RawImage, scale: number, deg: number): RawImage {
  const { width: sw, height: sh, data } = img;
  const t = (deg * Math.PI) / 180, c = Math.cos(t), s = Math.sin(t);
  // forward map (y down): rotate counter-clockwise on screen = x' = c*x + s*y, y' = -s*x + c*y
  const hw = (sw * scale) / 2, hh = (sh * scale) / 2;
  const xs = [-hw, hw, hw, -hw].map((x, i) => c * x + s * [-hh, -hh, hh, hh][i]);
  const ys = [-hw, hw, hw, -hw].map((x, i) => -s * x + c * [-hh, -hh, hh, hh][i]);
  const ow = Math.max(1, Math.ceil(Math.max(...xs) - Math.min(...xs) - 1e-9));
  const oh = Math.max(1, Math.ceil(Math.max(...ys) - Math.min(...ys) - 1e-9));
  const out = new Uint8Array(ow * oh * 4);
  // premultiplied float source
  const pm = new Float32Array(sw * sh * 4);
  for (let i = 0; i < sw * sh; i++) {
    const a = data[i * 4 + 3] / 255;
    pm[i * 4] = data[i * 4] * a;
    pm[i * 4 + 1] = data[i * 4 + 1] * a;
    pm[i * 4 + 2] = data[i * 4 + 2] * a;
    pm[i * 4 + 3] = data[i * 4 + 3];
  }
  const inv = 1 / scale;
  const wx = new Float64Array(4), wy = new Float64Array(4);
  for (let v = 0; v < oh; v++) {
    const oy = v + 0.5 - oh / 2;
    for (let u = 0; u < ow; u++) {
      const ox = u + 0.5 - ow / 2;
      // inverse rotation then inverse scale, to source pixel coordinates (centres at +0.5)
      const x = (c * ox - s * oy) * inv + sw / 2 - 0.5;
      const y = (s * ox + c * oy) * inv + sh / 2 - 0.5;
      if (x < -2 || y < -2 || x > sw + 1 || y > sh + 1) continue;
      const x0 = Math.floor(x), y0 = Math.floor(y);
      cubic(x - x0, wx);
      cubic(y - y0, wy);
      let r = 0, g = 0, b = 0, a = 0;
      for (let j = 0; j < 4; j++) {
        const yy = y0 - 1 + j;
        if (yy < 0 || yy >= sh || wy[j] === 0) continue;
        for (let i = 0; i < 4; i++) {
          const xx = x0 - 1 + i;
          if (xx < 0 || xx >= sw) continue;
          const wgt = wx[i] * wy[j];
          const p = (yy * sw + xx) * 4;
          r += wgt * pm[p];
          g += wgt * pm[p + 1];
          b += wgt * pm[p + 2];
          a += wgt * pm[p + 3];
        }
      }
      if (a <= 0.5) continue;
      const q = (v * ow + u) * 4;
      const k = 255 / a;
      out[q] = clamp8(r * k);
      out[q + 1] = clamp8(g * k);
      out[q + 2] = clamp8(b * k);
      out[q + 3] = clamp8(a);
    }
  }
  return { data: out, width: ow, height: oh, channels: 4 };
}
