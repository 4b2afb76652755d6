/**
 * SAM pre/post-processing: ResizeLongestSide (target shape, PIL-exact bilinear resize with antialiasing, coordinate
 * and box transforms), pixel normalisation + zero padding, and mask logits back to the original image
 * (bilinear align_corners=False upsample → crop → resize).
 */
import { tf } from "../backend/mod.ts";

/** SAM's pixel mean/std (RGB, 0..255). */
export const PIXEL_MEAN = [123.675, 116.28, 103.53];
export const PIXEL_STD = [58.395, 57.12, 57.375];

/** ResizeLongestSide.get_preprocess_shape: (h, w) with the long side = target, other int(side*scale + 0.5). */
export function preprocessShape(h: number, w: number, target: number): [number, number] {
  const scale = target / Math.max(h, w);
  return [Math.trunc(h * scale + 0.5), Math.trunc(w * scale + 0.5)];
}

/** An RGB uint8 image, HWC row-major. */
export interface RgbImage {
  data: Uint8Array;
  height: number;
  width: number;
}

const PRECISION_BITS = 32 - 8 - 2;

/** PIL precompute_coeffs for the bilinear (triangle) filter, normalised to 8bpc fixed point. */
function coeffs(inSize: number, outSize: number): { bounds: Int32Array; k: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const tmp = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      tmp[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? tmp[x] / ww : tmp[x];
      k[xx * ksize + x] = v < 0
        ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, k, ksize };
}

function clip8(v: number): number {
  const s = Math.floor(v / (1 << PRECISION_BITS));
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

/** Resize like PIL `Image.resize((w, h), BILINEAR)` on an RGB uint8 image (fixed-point, antialiased, 2 passes). */
export function resizePilBilinear(img: RgbImage, outH: number, outW: number): RgbImage {
  const { data, height: H, width: W } = img;
  let cur = data, curW = W;
  const half = 1 << (PRECISION_BITS - 1);
  if (outW !== W) {
    const { bounds, k, ksize } = coeffs(W, outW);
    const out = new Uint8Array(H * outW * 3);
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < xmax; x++) {
          const kv = k[xx * ksize + x];
          const p = (y * W + x + xmin) * 3;
          s0 += data[p] * kv;
          s1 += data[p + 1] * kv;
          s2 += data[p + 2] * kv;
        }
        const o = (y * outW + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    cur = out;
    curW = outW;
  }
  if (outH !== H) {
    const { bounds, k, ksize } = coeffs(H, outH);
    const out = new Uint8Array(outH * curW * 3);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
      for (let xx = 0; xx < curW; xx++) {
        let s0 = half, s1 = half, s2 = half;
        for (let y = 0; y < ymax; y++) {
          const kv = k[yy * ksize + y];
          const p = ((y + ymin) * curW + xx) * 3;
          s0 += cur[p] * kv;
          s1 += cur[p + 1] * kv;
          s2 += cur[p + 2] * kv;
        }
        const o = (yy * curW + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    cur = out;
  }
  return { data: cur === data ? data.slice() : cur, height: outH, width: outW };
}

/** ResizeLongestSide(target).apply_image. */
export function applyImage(img: RgbImage, target: number): RgbImage {
  const [h, w] = preprocessShape(img.height, img.width, target);
  return resizePilBilinear(img, h, w);
}

/** ResizeLongestSide.apply_coords: (N,2) xy in original pixels → resized-image pixels (float64 math, f32 out). */
export function applyCoords(coords: ArrayLike<number>, origHW: [number, number], target: number): Float32Array {
  const [nh, nw] = preprocessShape(origHW[0], origHW[1], target);
  const out = new Float32Array(coords.length);
  for (let i = 0; i < coords.length; i += 2) {
    out[i] = coords[i] * (nw / origHW[1]);
    out[i + 1] = coords[i + 1] * (nh / origHW[0]);
  }
  return out;
}

/** ResizeLongestSide.apply_boxes: (N,4) xyxy → resized-image pixels. */
export function applyBoxes(boxes: ArrayLike<number>, origHW: [number, number], target: number): Float32Array {
  return applyCoords(boxes, origHW, target);
}

/** Normalise with SAM's mean/std and zero-pad right/bottom to (1, S, S, 3) NHWC float32. */
export function preprocess(resized: RgbImage, imgSize: number): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor3d(resized.data, [resized.height, resized.width, 3], "int32").toFloat();
    const n = tf.div(tf.sub(x, tf.tensor1d(PIXEL_MEAN)), tf.tensor1d(PIXEL_STD));
    return tf.pad(n, [[0, imgSize - resized.height], [0, imgSize - resized.width], [0, 0]]).expandDims(0);
  });
}

/**
 * Sam.postprocess_masks: low-res logits (B, h4, w4, C) NHWC → bilinear (align_corners=False) to (S, S), crop to the
 * resized input (h, w), bilinear to the original (H, W). Returns (B, H, W, C) logits.
 */
export function postprocessMasks(
  lowRes: tf.Tensor4D,
  imgSize: number,
  inputHW: [number, number],
  origHW: [number, number],
): tf.Tensor4D {
  return tf.tidy(() => {
    const up = tf.image.resizeBilinear(lowRes, [imgSize, imgSize], false, true);
    const [b, , , c] = up.shape;
    const crop = tf.slice(up, [0, 0, 0, 0], [b, inputHW[0], inputHW[1], c]);
    return tf.image.resizeBilinear(crop, origHW, false, true);
  });
}
