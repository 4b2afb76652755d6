/**
 * TaskAlignedAssigner as ultralytics 8.2 (`utils/tal.py`): candidates whose anchor centre lies inside the GT box,
 * align metric score^alpha · CIoU^beta, top-k per GT, an anchor claimed by several GTs keeps the GT of highest CIoU,
 * target scores normalised per GT. Runs without gradient on typed arrays (it is `@torch.no_grad` upstream).
 */
import { ciou } from "./boxes.ts";

/** Assigner hyper-parameters (ultralytics v8 loss: topk 10, alpha 0.5, beta 6.0, eps 1e-9). */
export interface AssignerOptions {
  topk: number;
  alpha: number;
  beta: number;
  eps: number;
}

export const DEFAULT_ASSIGNER: AssignerOptions = { topk: 10, alpha: 0.5, beta: 6.0, eps: 1e-9 };

/** Assigner inputs. All flat, C order. Boxes xyxy in pixels. */
export interface AssignerInput {
  /** batch size B */
  batch: number;
  /** anchors A */
  anchors: number;
  /** classes nc */
  nc: number;
  /** padded GTs per image M */
  maxBoxes: number;
  /** [B, A, nc] class probabilities (sigmoid of logits) */
  pdScores: Float32Array;
  /** [B, A, 4] predicted boxes, xyxy pixels */
  pdBboxes: Float32Array;
  /** [A, 2] anchor centres in pixels */
  ancPoints: Float32Array;
  /** [B, M] class per GT (padding: 0) */
  gtLabels: Int32Array;
  /** [B, M, 4] GT boxes xyxy pixels */
  gtBboxes: Float32Array;
  /** [B, M] 1 for a real GT, 0 for padding */
  maskGt: Uint8Array;
}

/** Assigner outputs, as ultralytics returns them. */
export interface AssignerOutput {
  /** [B, A] class of the assigned GT (also for background anchors: the GT at index 0, as upstream) */
  targetLabels: Int32Array;
  /** [B, A, 4] assigned GT box xyxy pixels */
  targetBboxes: Float32Array;
  /** [B, A] normalised align metric of each foreground anchor (target score of its class; 0 for background) */
  targetNorm: Float32Array;
  /** [B, A] 1 where the anchor is foreground */
  fgMask: Uint8Array;
  /** [B, A] index of the assigned GT in the image's padded GT list */
  targetGtIdx: Int32Array;
}

/** Dense [B, A, nc] target scores from an assignment (one-hot of the label times the normalised metric). */
export function targetScoresDense(out: AssignerOutput, nc: number): Float32Array {
  const n = out.fgMask.length;
  const ts = new Float32Array(n * nc);
  for (let i = 0; i < n; i++) if (out.fgMask[i]) ts[i * nc + out.targetLabels[i]] = out.targetNorm[i];
  return ts;
}

/** Indices of the k largest values of `v` (ties: lower index first), k <= v.length. */
function topkIndices(v: Float64Array, k: number): Int32Array {
  const idx = new Int32Array(k).fill(-1);
  const val = new Float64Array(k).fill(-Infinity);
  let filled = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (filled === k && !(x > val[k - 1])) continue;
    let j = filled < k ? filled++ : k - 1;
    while (j > 0 && x > val[j - 1]) {
      val[j] = val[j - 1];
      idx[j] = idx[j - 1];
      j--;
    }
    val[j] = x;
    idx[j] = i;
  }
  return idx;
}

/** Run the task-aligned assignment (ultralytics `TaskAlignedAssigner.forward`). */
export function taskAlignedAssign(inp: AssignerInput, opts: AssignerOptions = DEFAULT_ASSIGNER): AssignerOutput {
  const { batch: B, anchors: A, nc, maxBoxes: M } = inp;
  const targetLabels = new Int32Array(B * A);
  const targetBboxes = new Float32Array(B * A * 4);
  const targetNorm = new Float32Array(B * A);
  const fgMask = new Uint8Array(B * A);
  const targetGtIdx = new Int32Array(B * A);
  if (M === 0) {
    targetLabels.fill(nc);
    return { targetLabels, targetBboxes, targetNorm, fgMask, targetGtIdx };
  }
  const k = Math.min(opts.topk, A);
  const overlaps = new Float64Array(M * A);
  const align = new Float64Array(M * A);
  const inGt = new Uint8Array(M * A);
  const pos = new Uint8Array(M * A);
  const anc = inp.ancPoints;
  for (let b = 0; b < B; b++) {
    overlaps.fill(0);
    align.fill(0);
    inGt.fill(0);
    pos.fill(0);
    for (let m = 0; m < M; m++) {
      const g = (b * M + m) * 4;
      const x1 = inp.gtBboxes[g], y1 = inp.gtBboxes[g + 1], x2 = inp.gtBboxes[g + 2], y2 = inp.gtBboxes[g + 3];
      const valid = inp.maskGt[b * M + m] !== 0;
      const label = inp.gtLabels[b * M + m];
      for (let a = 0; a < A; a++) {
        const ax = anc[2 * a], ay = anc[2 * a + 1];
        const dmin = Math.min(Math.fround(ax - x1), Math.fround(ay - y1), Math.fround(x2 - ax), Math.fround(y2 - ay));
        if (!(dmin > opts.eps)) continue;
        inGt[m * A + a] = 1;
        if (!valid) continue;
        const p = (b * A + a) * 4;
        const pb = inp.pdBboxes;
        const ov = Math.max(ciou(x1, y1, x2, y2, pb[p], pb[p + 1], pb[p + 2], pb[p + 3]), 0);
        overlaps[m * A + a] = ov;
        const s = inp.pdScores[(b * A + a) * nc + label];
        align[m * A + a] = Math.pow(s, opts.alpha) * Math.pow(ov, opts.beta);
      }
      if (!valid) continue;
      const top = topkIndices(align.subarray(m * A, (m + 1) * A), k);
      for (const a of top) if (inGt[m * A + a]) pos[m * A + a] = 1;
    }
    // an anchor claimed by several GTs keeps the GT with the largest overlap (first on ties, as torch argmax)
    for (let a = 0; a < A; a++) {
      let cnt = 0;
      for (let m = 0; m < M; m++) cnt += pos[m * A + a];
      if (cnt > 1) {
        let best = 0;
        for (let m = 1; m < M; m++) if (overlaps[m * A + a] > overlaps[best * A + a]) best = m;
        for (let m = 0; m < M; m++) pos[m * A + a] = m === best ? 1 : 0;
      }
    }
    // per-GT normalisers over its positive anchors
    const posAlign = new Float64Array(M), posOv = new Float64Array(M);
    for (let m = 0; m < M; m++) {
      let ma = 0, mo = 0;
      for (let a = 0; a < A; a++) {
        if (!pos[m * A + a]) continue;
        ma = Math.max(ma, align[m * A + a]);
        mo = Math.max(mo, overlaps[m * A + a]);
      }
      posAlign[m] = ma;
      posOv[m] = mo;
    }
    for (let a = 0; a < A; a++) {
      let idx = 0, fg = 0, norm = 0;
      for (let m = 0; m < M; m++) {
        if (!pos[m * A + a]) continue;
        if (!fg) idx = m;
        fg = 1;
        norm = Math.max(norm, (align[m * A + a] * posOv[m]) / (posAlign[m] + opts.eps));
      }
      const o = b * A + a;
      fgMask[o] = fg;
      targetGtIdx[o] = idx;
      targetLabels[o] = Math.max(inp.gtLabels[b * M + idx], 0);
      for (let j = 0; j < 4; j++) targetBboxes[o * 4 + j] = inp.gtBboxes[(b * M + idx) * 4 + j];
      targetNorm[o] = fg ? norm : 0;
    }
  }
  return { targetLabels, targetBboxes, targetNorm, fgMask, targetGtIdx };
}
