/**
 * lib/image: decode/encode with sharp (OpenCV imread semantics), OpenCV-exact uint8 resizing, ultralytics
 * letterbox, image -> tensor, and preview drawing / cut-outs. Images are uint8 HWC (`RgbImage`, `RgbaImage`).
 */
export type { Image8, RgbaImage, RgbImage } from "./types.ts";
export { DECODABLE_FORMATS, decodeImage, decodeRgba, encodeJpeg, encodePng, writeImage } from "./codec.ts";
export { resizeArea, resizeLinear } from "./resize.ts";
export { letterbox, padConstant, pyRound } from "./letterbox.ts";
export type { LetterboxOptions, LetterboxResult } from "./letterbox.ts";
export { imagesToTensor } from "./tensor.ts";
export { cropRgba, drawInstances, PALETTE } from "./draw.ts";
export type { DrawOptions } from "./draw.ts";
