/**
 * Matching predictions to ground truth exactly as ultralytics 8.2 `BaseValidator.match_predictions` (non-scipy
 * path): per IoU threshold, candidate pairs with IoU ≥ threshold and equal class, sorted by IoU descending; each
 * prediction keeps its best pair, then each ground truth keeps its pair with the lowest prediction index.
 */
import { argsortQuick } from "./npsort.ts";

/** IoU thresholds 0.50:0.05:0.95 as float32 values (torch.linspace(0.5, 0.95, 10)). */
export const IOU_THRESHOLDS: Float32Array = Float32Array.from(
  Array.from({ length: 10 }, (_, i) => 0.5 + i * 0.05),
);

/**
 * tp matrix [nPred, nThr] (row-major, 1 = true positive at that threshold) from IoU [nGt, nPred] (row-major).
 * Classes must match; `thresholds` defaults to `IOU_THRESHOLDS`.
 */
export function matchPredictions(
  predCls: ArrayLike<number>,
  gtCls: ArrayLike<number>,
  iou: ArrayLike<number>,
  thresholds: ArrayLike<number> = IOU_THRESHOLDS,
): Uint8Array {
  const nP = predCls.length, nG = gtCls.length, nT = thresholds.length;
  const correct = new Uint8Array(nP * nT);
  if (nP === 0 || nG === 0) return correct;
  // iou * correct_class, as float32
  const masked = new Float32Array(nG * nP);
  for (let g = 0; g < nG; g++) {
    for (let p = 0; p < nP; p++) masked[g * nP + p] = gtCls[g] === predCls[p] ? iou[g * nP + p] : 0;
  }
  const usedP = new Uint8Array(nP), usedG = new Uint8Array(nG);
  for (let t = 0; t < nT; t++) {
    const thr = Math.fround(thresholds[t]);
    // np.nonzero(iou >= thr): flat indices in row-major order (gt, pred)
    const cand: number[] = [];
    for (let k = 0; k < masked.length; k++) if (masked[k] >= thr) cand.push(k);
    if (cand.length === 0) continue;
    let ordered = cand;
    if (cand.length > 1) {
      // numpy argsort (quicksort) ascending, then reversed: IoU descending
      const idx = argsortQuick(Float32Array.from(cand, (k) => masked[k])).reverse();
      const sorted = Array.from(idx, (i) => cand[i]);
      // np.unique on the prediction column (first occurrence), result ordered by prediction index
      usedP.fill(0);
      const byPred: number[] = [];
      for (const k of sorted) {
        const p = k % nP;
        if (!usedP[p]) {
          usedP[p] = 1;
          byPred.push(k);
        }
      }
      byPred.sort((x, y) => (x % nP) - (y % nP));
      // np.unique on the gt column (first occurrence in prediction order)
      usedG.fill(0);
      ordered = [];
      for (const k of byPred) {
        const g = Math.floor(k / nP);
        if (!usedG[g]) {
          usedG[g] = 1;
          ordered.push(k);
        }
      }
    }
    for (const k of ordered) correct[(k % nP) * nT + t] = 1;
  }
  return correct;
}
