/**
 * `vote` refinement (the study's method): SAM automatic masks vote on the YOLO foreground.
 * fg = union of YOLO masks; core = dilate(erode(fg, 3), 2) (3x3 kernel); keep each SAM mask whose share of pixels
 * inside `core` exceeds `shareThresh` (0.3); U = union of kept masks + YOLO pixels no SAM mask covers;
 * refined = dilate(erode(U, 3), 3). Instances: a refined pixel inside YOLO masks goes to the highest-confidence one
 * containing it; a pixel of a kept SAM mask goes to the instance overlapping that SAM mask most; remaining pixels
 * (from the final dilation) take an 8-neighbour's label (up to `dilateIter` passes). Boxes are recomputed.
 */
import { dilate, erode, maskBox } from "./morph.ts";
import type { Instances } from "./types.ts";

/** Parameters of `refineVote` (study defaults). */
export interface VoteOptions {
  /** keep a SAM mask when |mask ∩ core| / |mask| > shareThresh (0.3) */
  shareThresh: number;
  /** core: erode iterations (3) then dilate iterations (2) */
  coreErode: number;
  coreDilate: number;
  /** final opening-like cleanup: erode (3) then dilate (3) */
  finalErode: number;
  finalDilate: number;
}

/** Study defaults. */
export const VOTE_DEFAULTS: VoteOptions = {
  shareThresh: 0.3,
  coreErode: 3,
  coreDilate: 2,
  finalErode: 3,
  finalDilate: 3,
};

/** Foreground-level vote: returns the refined foreground mask and which SAM masks were kept. */
export function voteForeground(
  fg: Uint8Array,
  samMasks: Uint8Array[],
  h: number,
  w: number,
  opts: Partial<VoteOptions> = {},
): { refined: Uint8Array; kept: boolean[] } {
  const o = { ...VOTE_DEFAULTS, ...opts };
  const N = h * w;
  const core = dilate(erode(fg, h, w, o.coreErode), h, w, o.coreDilate);
  const u = new Uint8Array(N);
  const covered = new Uint8Array(N);
  const kept: boolean[] = [];
  for (const m of samMasks) {
    let area = 0, inside = 0;
    for (let i = 0; i < N; i++) {
      if (m[i]) {
        area++;
        covered[i] = 1;
        if (core[i]) inside++;
      }
    }
    const keep = area > 0 && inside / area > o.shareThresh;
    kept.push(keep);
    if (keep) { for (let i = 0; i < N; i++) if (m[i]) u[i] = 1; }
  }
  for (let i = 0; i < N; i++) if (fg[i] && !covered[i]) u[i] = 1;
  return { refined: dilate(erode(u, h, w, o.finalErode), h, w, o.finalDilate), kept };
}

/** Refine YOLO instances with SAM automatic masks (all H*W, binary) by the study's vote. */
export function refineVote(
  pred: Instances,
  samMasks: Uint8Array[],
  h: number,
  w: number,
  opts: Partial<VoteOptions> = {},
): Instances {
  const N = h * w;
  if (pred.n === 0) return { ...pred, masks: [] };
  const fg = new Uint8Array(N);
  for (const m of pred.masks) for (let i = 0; i < N; i++) if (m[i]) fg[i] = 1;
  const { refined, kept } = voteForeground(fg, samMasks, h, w, opts);
  // instance label per pixel (-1 none): YOLO masks by descending confidence
  const order = Array.from({ length: pred.n }, (_, i) => i).sort((a, b) => pred.conf[b] - pred.conf[a] || a - b);
  const yoloLab = new Int32Array(N).fill(-1);
  for (const k of order) {
    const m = pred.masks[k];
    for (let i = 0; i < N; i++) if (m[i] && yoloLab[i] < 0) yoloLab[i] = k;
  }
  const lab = new Int32Array(N).fill(-1);
  samMasks.forEach((m, j) => {
    if (!kept[j]) return;
    const votes = new Float64Array(pred.n);
    for (let i = 0; i < N; i++) if (m[i] && yoloLab[i] >= 0) votes[yoloLab[i]]++;
    let best = order[0];
    for (const k of order) if (votes[k] > votes[best]) best = k;
    for (let i = 0; i < N; i++) if (m[i] && refined[i] && lab[i] < 0 && yoloLab[i] < 0) lab[i] = best;
  });
  for (let i = 0; i < N; i++) if (refined[i] && yoloLab[i] >= 0) lab[i] = yoloLab[i];
  const passes = (opts.finalDilate ?? VOTE_DEFAULTS.finalDilate) + 1;
  for (let p = 0; p < passes; p++) {
    const next = lab.slice();
    let changed = false;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (!refined[i] || lab[i] >= 0) continue;
        search: for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy, xx = x + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            const l = lab[yy * w + xx];
            if (l >= 0) {
              next[i] = l;
              changed = true;
              break search;
            }
          }
        }
      }
    }
    lab.set(next);
    if (!changed) break;
  }
  return assemble(pred, lab, h, w);
}

/** Build per-instance masks and boxes from a label image (boxes kept from YOLO when a mask ends up empty). */
export function assemble(pred: Instances, lab: Int32Array, h: number, w: number): Instances {
  const masks = Array.from({ length: pred.n }, () => new Uint8Array(h * w));
  for (let i = 0; i < h * w; i++) if (lab[i] >= 0) masks[lab[i]][i] = 1;
  const boxes = pred.boxes.slice();
  masks.forEach((m, k) => {
    const b = maskBox(m, h, w);
    if (b) boxes.set(b, k * 4);
  });
  return { n: pred.n, boxes, conf: pred.conf.slice(), cls: pred.cls.slice(), masks };
}
