/**
 * Image steps of ultralytics' dataset pipeline on top of `lib/image`: decode like `cv2.imread`, OpenCV INTER_LINEAR
 * resize of uint8 images of any channel count (also used for the loss masks), and the dataset `LetterBox`
 * (scaleup=False, centred, pad 114) with the padding values `_update_labels` adds to label coordinates.
 */
import { decodeImage, padConstant, pyRound, resizeLinear } from "../image/mod.ts";

export { pyRound };

/** An RGB image, HWC uint8 (`channels` is always 3; optional so plain {data, height, width} records fit). */
export interface RgbImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels?: 3;
}

/** Decode an image file to RGB HWC uint8 as `cv2.imread(IMREAD_COLOR)` would (grey replicated, alpha dropped). */
export function decodeImageFile(file: string): Promise<RgbImage> {
  return decodeImage(file);
}

/** Resize an HWC uint8 buffer with c channels to [nh, nw] exactly as OpenCV `INTER_LINEAR` (a copy when unchanged). */
export function resizeLinearU8(src: Uint8Array, h: number, w: number, c: number, nh: number, nw: number): Uint8Array {
  if (nh === h && nw === w) return src.slice();
  return resizeLinear({ data: src, height: h, width: w, channels: c }, nh, nw).data;
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
  const im = { data: img.data, height: img.height, width: img.width, channels: 3 as const };
  const resized = nh === im.height && nw === im.width ? im : resizeLinear(im, nh, nw);
  return padConstant(resized, g.top, g.bottom, g.left, g.right, 114);
}
