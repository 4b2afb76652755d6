/** Image value types shared by lib/image: uint8 HWC pixel buffers with their size. */

/** A uint8 image, rows of pixels, channels interleaved (HWC). */
export interface Image8 {
  /** HWC uint8 pixels, length height * width * channels */
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** An RGB uint8 image (HWC, R G B order), what `decodeImage` returns (OpenCV imread semantics, RGB order). */
export interface RgbImage extends Image8 {
  channels: 3;
}

/** An RGBA uint8 image (HWC, straight alpha), for cut-outs. */
export interface RgbaImage extends Image8 {
  channels: 4;
}
