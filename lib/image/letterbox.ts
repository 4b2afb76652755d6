/**
 * Letterbox exactly as ultralytics' `LetterBox` (8.2): scale to fit with OpenCV INTER_LINEAR, pad with a constant.
 * Python's `round` (half to even) and float arithmetic are reproduced, so the geometry is exact.
 */
import { resizeLinear } from "./resize.ts";
import type { Image8 } from "./types.ts";
import { pyRound } from "../util/math.ts";

/** Options of `letterbox`, with ultralytics' defaults. */
export interface LetterboxOptions {
  /** target size: one number (square) or [h, w] */
  newShape: number | [number, number];
  /** minimum rectangle: pad only up to a multiple of `stride` (ultralytics `auto`); default false */
  auto?: boolean;
  /** stride for `auto`; default 32 */
  stride?: number;
  /** allow enlarging; default true */
  scaleup?: boolean;
  /** centre the image (pad both sides); default true */
  center?: boolean;
  /** pad value for every channel; default 114 */
  padValue?: number;
}

/** Result of `letterbox`: the padded image and the geometry (pixels). */
export interface LetterboxResult<T extends Image8> {
  image: T;
  /** scale factor r applied to both axes */
  ratio: number;
  /** size of the resized image before padding, [w, h] */
  newUnpadWh: [number, number];
  /** horizontal / vertical padding before rounding (halved when centred) */
  dw: number;
  dh: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export { pyRound };

/** Python's `a % b` for numbers (sign of the divisor). */
function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** Pad `img` with a constant: `top`/`bottom` rows, `left`/`right` columns (OpenCV copyMakeBorder CONSTANT). */
export function padConstant<T extends Image8>(
  img: T,
  top: number,
  bottom: number,
  left: number,
  right: number,
  value = 114,
): T {
  const { height: h, width: w, channels: cn } = img;
  const H = h + top + bottom, W = w + left + right;
  const out = new Uint8Array(H * W * cn).fill(value);
  const rowLen = w * cn;
  for (let y = 0; y < h; y++) {
    out.set(img.data.subarray(y * rowLen, (y + 1) * rowLen), ((y + top) * W + left) * cn);
  }
  return { ...img, data: out, height: H, width: W };
}

/** ultralytics `LetterBox(new_shape, auto, scaleFill=False, scaleup, center, stride)(image=img)` on a uint8 image. */
export function letterbox<T extends Image8>(img: T, opts: LetterboxOptions): LetterboxResult<T> {
  const { auto = false, stride = 32, scaleup = true, center = true, padValue = 114 } = opts;
  const [nh, nw] = typeof opts.newShape === "number" ? [opts.newShape, opts.newShape] : opts.newShape;
  const { height: h, width: w } = img;
  let r = Math.min(nh / h, nw / w);
  if (!scaleup) r = Math.min(r, 1.0);
  const unpadW = pyRound(w * r), unpadH = pyRound(h * r);
  let dw = nw - unpadW, dh = nh - unpadH;
  if (auto) {
    dw = pyMod(dw, stride);
    dh = pyMod(dh, stride);
  }
  if (center) {
    dw /= 2;
    dh /= 2;
  }
  const resized = unpadW !== w || unpadH !== h ? resizeLinear(img, unpadH, unpadW) : img;
  const top = center ? pyRound(dh - 0.1) : 0, bottom = pyRound(dh + 0.1);
  const left = center ? pyRound(dw - 0.1) : 0, right = pyRound(dw + 0.1);
  const image = padConstant(resized, top, bottom, left, right, padValue);
  return { image, ratio: r, newUnpadWh: [unpadW, unpadH], dw, dh, top, bottom, left, right };
}
