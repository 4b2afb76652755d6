/**
 * `box` refinement: each YOLO box, expanded by `expand` (5% of its width/height per side, clipped to the image), is
 * a SAM box prompt (one decoder batch, 3 candidates each); per instance the candidate with the highest IoU against
 * the YOLO mask replaces it, unless that IoU is below `minIou` (0.5: SAM disagrees strongly → keep YOLO's mask).
 * Boxes are recomputed from the chosen masks.
 */
import { maskBox } from "./morph.ts";
import type { Instances } from "./types.ts";

/** Parameters of `refineBox`. */
export interface BoxOptions {
  /** box expansion per side, as a fraction of the box width/height (0.05) */
  expand: number;
  /** below this IoU with the YOLO mask, keep the YOLO mask (0.5) */
  minIou: number;
}

/** Defaults. */
export const BOX_DEFAULTS: BoxOptions = { expand: 0.05, minIou: 0.5 };

/** Candidate masks per box prompt: boxes (n, 4) xyxy original pixels → n lists of H*W binary masks. */
export type BoxSegmenter = (boxes: Float32Array) => Uint8Array[][];

/** IoU of two binary masks (0 when both empty). */
export function maskIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, uni = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0, y = b[i] ? 1 : 0;
    inter += x & y;
    uni += x | y;
  }
  return uni ? inter / uni : 0;
}

/** Expanded, clipped prompt boxes (n, 4). */
export function expandBoxes(boxes: Float32Array, h: number, w: number, expand: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const bw = boxes[i + 2] - boxes[i], bh = boxes[i + 3] - boxes[i + 1];
    out[i] = Math.max(0, boxes[i] - expand * bw);
    out[i + 1] = Math.max(0, boxes[i + 1] - expand * bh);
    out[i + 2] = Math.min(w, boxes[i + 2] + expand * bw);
    out[i + 3] = Math.min(h, boxes[i + 3] + expand * bh);
  }
  return out;
}

/** Refine instances with SAM box prompts; `which[k]` says whether instance k took SAM's mask. */
export function refineBox(
  pred: Instances,
  segment: BoxSegmenter,
  h: number,
  w: number,
  opts: Partial<BoxOptions> = {},
): Instances & { which: boolean[]; iou: number[] } {
  const o = { ...BOX_DEFAULTS, ...opts };
  if (pred.n === 0) return { ...pred, masks: [], which: [], iou: [] };
  const cands = segment(expandBoxes(pred.boxes, h, w, o.expand));
  const masks: Uint8Array[] = [];
  const which: boolean[] = [];
  const ious: number[] = [];
  const boxes = pred.boxes.slice();
  for (let k = 0; k < pred.n; k++) {
    let best = -1, bestIou = -1;
    cands[k].forEach((c, j) => {
      const v = maskIou(c, pred.masks[k]);
      if (v > bestIou) {
        bestIou = v;
        best = j;
      }
    });
    const take = best >= 0 && bestIou >= o.minIou;
    const m = take ? cands[k][best].slice() : pred.masks[k].slice();
    masks.push(m);
    which.push(take);
    ious.push(bestIou);
    if (take) {
      const b = maskBox(m, h, w);
      if (b) boxes.set(b, k * 4);
    }
  }
  return { n: pred.n, boxes, conf: pred.conf.slice(), cls: pred.cls.slice(), masks, which, iou: ious };
}
