/**
 * Image steps of ultralytics' dataset pipeline: decode like `cv2.imread` (EXIF-oriented, 3 channels, alpha dropped;
 * RGB order here), OpenCV-style INTER_LINEAR resize of uint8 images (fixed-point weights), and the dataset
 * `LetterBox` (scaleup=False, centred, pad 114) that returns the padding as `_update_labels` uses it.
 * (Kept here until `lib/image` offers the same; the formulas follow OpenCV and ultralytics 8.2.)
 */
import sharp from "sharp";
import { UserError } from "../util/errors.ts";

/** A decoded image: HWC RGB uint8. */
export interface RgbImage {
  data: Uint8Array;
  height: number;
  width: number;
}

/** Decode an image file to RGB HWC uint8 as `cv2.imread(IMREAD_COLOR)` would (grey replicated, alpha dropped). */
export async function decodeImageFile(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    const px = width * height;
    const out = new Uint8Array(px * 3);
    if (channels === 3) out.set(data);
    else {
      for (let i = 0; i < px; i++) {
        const v = data[i * channels];
        out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = v;
      }
    }
    return { data: out, height, width };
  } catch (e) {
    throw new UserError(`cannot decode image (${(e as Error).message.split("\n")[0]})`, file);
  }
}

const COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS;

function cvRound(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function linearTaps(src: number, dst: number): { i0: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = 1 / (dst / src); // OpenCV: scale_x = 1 / inv_scale_x
  const i0 = new Int32Array(dst), w0 = new Int32Array(dst), w1 = new Int32Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) f = 0, s = 0;
    if (s >= src - 1) f = 0, s = src - 1;
    i0[d] = s;
    w0[d] = cvRound(Math.fround(1 - f) * COEF_SCALE);
    w1[d] = cvRound(f * COEF_SCALE);
  }
  return { i0, w0, w1 };
}

/**
 * Resize an HWC uint8 image with c channels to [nh, nw] like OpenCV `INTER_LINEAR` (half-pixel centres, 11-bit
 * fixed-point weights, no antialias), bit for bit with OpenCV's x86 build: the vertical pass rounds as its 128-bit
 * SIMD kernel (`VResizeLinearVec_32s8u`) on the first multiple-of-8 elements of each row and as the scalar
 * `FixedPtCast` on the rest. Identity when the size is unchanged.
 */
export function resizeLinearU8(src: Uint8Array, h: number, w: number, c: number, nh: number, nw: number): Uint8Array {
  if (nh === h && nw === w) return src.slice();
  const tx = linearTaps(w, nw), ty = linearTaps(h, nh);
  const out = new Uint8Array(nh * nw * c);
  const rowA = new Int32Array(nw * c), rowB = new Int32Array(nw * c);
  const hresize = (y: number, dst: Int32Array) => {
    const base = y * w * c;
    for (let x = 0; x < nw; x++) {
      const s = tx.i0[x], s1 = Math.min(s + 1, w - 1);
      for (let k = 0; k < c; k++) {
        dst[x * c + k] = src[base + s * c + k] * tx.w0[x] + src[base + s1 * c + k] * tx.w1[x];
      }
    }
  };
  for (let y = 0; y < nh; y++) {
    const s = ty.i0[y], s1 = Math.min(s + 1, h - 1);
    hresize(s, rowA);
    hresize(s1, rowB);
    const b0 = ty.w0[y], b1 = ty.w1[y], o = y * nw * c, width = nw * c, simd = width - (width % 8);
    for (let i = 0; i < simd; i++) {
      const v = (((rowA[i] >> 4) * b0) >> 16) + (((rowB[i] >> 4) * b1) >> 16);
      const r = (v + 2) >> 2;
      out[o + i] = r < 0 ? 0 : r > 255 ? 255 : r;
    }
    for (let i = simd; i < width; i++) {
      const v = (rowA[i] * b0 + rowB[i] * b1 + (1 << 21)) >> 22;
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** Python's round() (half to even). */
export function pyRound(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Geometry of a dataset letterbox: ratio r, padding as added to labels (dw, dh halves) and as drawn (left, top). */
export interface LetterboxGeometry {
  ratio: number;
  /** resized size before padding [h, w] */
  unpadHW: [number, number];
  /** float half paddings, added to label coordinates (ultralytics passes dw, dh to `_update_labels`) */
  dw: number;
  dh: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** ultralytics `LetterBox` geometry for an image [h, w] into `newHW` (auto=False, centred). */
export function letterboxGeometry(h: number, w: number, newHW: [number, number], scaleup = false): LetterboxGeometry {
  let r = Math.min(newHW[0] / h, newHW[1] / w);
  if (!scaleup) r = Math.min(r, 1.0);
  const nw = pyRound(w * r), nh = pyRound(h * r);
  const dw = (newHW[1] - nw) / 2, dh = (newHW[0] - nh) / 2;
  return {
    ratio: r,
    unpadHW: [nh, nw],
    dw,
    dh,
    top: pyRound(dh - 0.1),
    bottom: pyRound(dh + 0.1),
    left: pyRound(dw - 0.1),
    right: pyRound(dw + 0.1),
  };
}

/** Apply a letterbox geometry to an RGB image: resize (INTER_LINEAR when the size changes) and pad with 114. */
export function applyLetterbox(img: RgbImage, g: LetterboxGeometry): RgbImage {
  const [nh, nw] = g.unpadHW;
  const resized = resizeLinearU8(img.data, img.height, img.width, 3, nh, nw);
  const H = nh + g.top + g.bottom, W = nw + g.left + g.right;
  const out = new Uint8Array(H * W * 3).fill(114);
  for (let y = 0; y < nh; y++) out.set(resized.subarray(y * nw * 3, (y + 1) * nw * 3), ((y + g.top) * W + g.left) * 3);
  return { data: out, height: H, width: W };
}
