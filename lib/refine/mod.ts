/**
 * Refinement of YOLO instance predictions with Segment Anything: `refine(method, sam, image, pred)` runs SAM as the
 * method needs (vote: automatic mask generator with the study's settings on the image downscaled to <= 1920 px;
 * box: one predictor embedding + batched box prompts) and returns instances in the predict-result structure.
 */
import type { SamModel } from "../sam/model.ts";
import { type AmgParams, SamAutomaticMaskGenerator } from "../sam/amg.ts";
import { SamPredictor } from "../sam/predictor.ts";
import { resizePilBilinear, type RgbImage } from "../sam/transforms.ts";
import { rleToMask } from "../sam/amg_utils.ts";
import { refineVote, type VoteOptions } from "./vote.ts";
import { type BoxOptions, refineBox } from "./box.ts";
import type { Instances } from "./types.ts";

export type { Instances } from "./types.ts";
export { refineVote, VOTE_DEFAULTS, voteForeground } from "./vote.ts";
export { BOX_DEFAULTS, expandBoxes, maskIou, refineBox } from "./box.ts";
export { dilate, erode } from "./morph.ts";

/** Refinement methods (`none` returns the input). */
export type RefineMethod = "none" | "vote" | "box";

/** The study's AMG settings for `vote` (ViT-L in the study; any SAM model works). */
export const VOTE_AMG: Partial<AmgParams> = { predIouThresh: 0.6, stabilityScoreThresh: 0.8, cropNLayers: 1 };

/** Options of `refine`. */
export interface RefineOptions {
  /** longest image side given to the AMG (vote), default 1920 */
  maxSide?: number;
  amg?: Partial<AmgParams>;
  vote?: Partial<VoteOptions>;
  box?: Partial<BoxOptions>;
}

/** Nearest-neighbour resize of a 0/1 mask (cv2 INTER_NEAREST index rule: floor(dst * src / dst_size)). */
export function resizeMaskNearest(m: Uint8Array, h: number, w: number, oh: number, ow: number): Uint8Array {
  const out = new Uint8Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(h - 1, Math.floor((y * h) / oh));
    for (let x = 0; x < ow; x++) out[y * ow + x] = m[sy * w + Math.min(w - 1, Math.floor((x * w) / ow))];
  }
  return out;
}

/** SAM automatic masks at the original resolution, the image first downscaled so its long side <= maxSide. */
export function samAutoMasks(sam: SamModel, image: RgbImage, opts: RefineOptions = {}): Uint8Array[] {
  const maxSide = opts.maxSide ?? 1920;
  const { height: H, width: W } = image;
  const s = Math.min(1, maxSide / Math.max(H, W));
  const small = s < 1 ? resizePilBilinear(image, Math.round(H * s), Math.round(W * s)) : image;
  const gen = new SamAutomaticMaskGenerator(sam, { ...VOTE_AMG, ...opts.amg });
  const out = gen.generate(small).map((r) => rleToMask(r.segmentation));
  return s < 1 ? out.map((m) => resizeMaskNearest(m, small.height, small.width, H, W)) : out;
}

/** Refine one image's YOLO instances with SAM. */
export function refine(
  method: RefineMethod,
  sam: SamModel,
  image: RgbImage,
  pred: Instances,
  opts: RefineOptions = {},
): Instances {
  const { height: H, width: W } = image;
  if (method === "none" || pred.n === 0) return pred;
  if (method === "vote") return refineVote(pred, samAutoMasks(sam, image, opts), H, W, opts.vote);
  const p = new SamPredictor(sam);
  p.setImage(image);
  try {
    return refineBox(pred, (boxes) => p.predictBoxes(boxes, { multimask: true }).map((r) => r.masks), H, W, opts.box);
  } finally {
    p.reset();
  }
}
