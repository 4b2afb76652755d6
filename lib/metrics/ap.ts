/**
 * Average precision exactly as ultralytics 8.2 `ap_per_class` / `compute_ap` / `smooth` and the `Metric` summary
 * (mean P, R, mAP50, mAP50-95, fitness), in float64 with numpy's `interp`, `linspace`, `trapz` semantics.
 */
import { argsortQuick } from "./npsort.ts";

/** numpy.linspace(start, stop, num) (endpoint included). */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** numpy's pairwise summation (add.reduce on a contiguous float64 array). */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let s = -0;
    for (let i = 0; i < n; i++) s += a[start + i];
    return s;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let k = 0; k < 8; k++) r[k] = a[start + k];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let k = 0; k < 8; k++) r[k] += a[start + i + k];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** Mean of a float64 array as numpy computes it (pairwise sum / n); NaN for an empty array. */
export function npMean(a: ArrayLike<number>): number {
  return a.length ? pairwiseSum(a) / a.length : NaN;
}

/**
 * numpy.interp(x, xp, fp, left, right): xp non-decreasing (duplicates allowed; the last of equal xp wins, as
 * numpy's binary search does).
 */
export function interp(
  x: ArrayLike<number>,
  xp: ArrayLike<number>,
  fp: ArrayLike<number>,
  left?: number,
  right?: number,
): Float64Array {
  const n = xp.length, out = new Float64Array(x.length);
  const lv = left ?? fp[0], rv = right ?? fp[n - 1];
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (Number.isNaN(v)) {
      out[i] = v;
      continue;
    }
    if (n === 1) {
      out[i] = v < xp[0] ? lv : v > xp[0] ? rv : fp[0];
      continue;
    }
    if (v < xp[0]) out[i] = lv;
    else if (v > xp[n - 1]) out[i] = rv;
    else if (v === xp[n - 1]) out[i] = fp[n - 1];
    else {
      // last j with xp[j] <= v (then v < xp[j+1])
      let lo = 0, hi = n - 1;
      while (lo < hi - 1) {
        const mid = (lo + hi) >> 1;
        if (xp[mid] <= v) lo = mid;
        else hi = mid;
      }
      const j = lo;
      const slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
      let r = slope * (v - xp[j]) + fp[j];
      if (Number.isNaN(r)) {
        r = slope * (v - xp[j + 1]) + fp[j + 1];
        if (Number.isNaN(r) && fp[j] === fp[j + 1]) r = fp[j];
      }
      out[i] = r;
    }
  }
  return out;
}

/** numpy.trapz(y, x). */
export function trapz(y: ArrayLike<number>, x: ArrayLike<number>): number {
  const n = y.length;
  if (n < 2) return 0;
  const terms = new Float64Array(n - 1);
  for (let i = 0; i < n - 1; i++) terms[i] = ((x[i + 1] - x[i]) * (y[i + 1] + y[i])) / 2.0;
  return pairwiseSum(terms);
}

const GRID101 = linspace(0, 1, 101);

/** ultralytics `compute_ap`: 101-point interpolated AP of one PR curve → {ap, mpre, mrec} (envelope, padded). */
export function computeAp(
  recall: ArrayLike<number>,
  precision: ArrayLike<number>,
): { ap: number; mpre: Float64Array; mrec: Float64Array } {
  const n = recall.length;
  const mrec = new Float64Array(n + 2), mpre = new Float64Array(n + 2);
  mrec[0] = 0;
  mpre[0] = 1;
  for (let i = 0; i < n; i++) {
    mrec[i + 1] = recall[i];
    mpre[i + 1] = precision[i];
  }
  mrec[n + 1] = 1;
  mpre[n + 1] = 0;
  for (let i = n; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  const ap = trapz(interp(GRID101, mrec, mpre), GRID101);
  return { ap, mpre, mrec };
}

/** ultralytics `smooth(y, f)`: box filter of odd length round(len·f·2)//2+1 with edge padding. */
export function smooth(y: ArrayLike<number>, f = 0.05): Float64Array {
  const nf = Math.floor(roundHalfEven(y.length * f * 2) / 2) + 1;
  const half = Math.floor(nf / 2);
  const yp = new Float64Array(y.length + 2 * half);
  for (let i = 0; i < half; i++) {
    yp[i] = y[0];
    yp[half + y.length + i] = y[y.length - 1];
  }
  for (let i = 0; i < y.length; i++) yp[half + i] = y[i];
  const k = 1 / nf;
  const out = new Float64Array(yp.length - nf + 1);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < nf; j++) s += yp[i + j] * k;
    out[i] = s;
  }
  return out;
}

/** Python's round() (half to even). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Outputs of `apPerClass` (C = classes present in the ground truth, T = IoU thresholds). */
export interface ApPerClass {
  /** TP / FP counts per class at the max-mean-F1 confidence [C] */
  tp: Float64Array;
  fp: Float64Array;
  /** precision, recall, F1 per class at the max-mean-F1 confidence [C] */
  p: Float64Array;
  r: Float64Array;
  f1: Float64Array;
  /** AP per class and IoU threshold [C][T] */
  ap: Float64Array[];
  /** sorted class ids present in the ground truth [C] */
  uniqueClasses: number[];
  /** curves on the 1000-point confidence grid [C][1000] */
  pCurve: Float64Array[];
  rCurve: Float64Array[];
  f1Curve: Float64Array[];
  /** confidence grid linspace(0, 1, 1000) */
  x: Float64Array;
  /** precision at recall grid x for IoU 0.5 (for PR plots) [C][1000]; empty rows for classes without predictions */
  precValues: Float64Array[];
  /** index into x of the max-mean-F1 confidence */
  bestIndex: number;
}

/**
 * ultralytics `ap_per_class`: tp [n, T] (row-major 0/1), conf [n], predCls [n], targetCls [nGt] → per-class
 * P/R/F1/AP. `plot` also fills `precValues` (ultralytics only computes them when plotting).
 */
export function apPerClass(
  tp: ArrayLike<number>,
  conf: ArrayLike<number>,
  predCls: ArrayLike<number>,
  targetCls: ArrayLike<number>,
  nThr = 10,
  plot = true,
): ApPerClass {
  const eps = 1e-16;
  const n = conf.length;
  // np.argsort(-conf) with numpy's quicksort (its tie order)
  const order = Array.from(argsortQuick(Float32Array.from({ length: n }, (_, i) => -conf[i])));
  const counts = new Map<number, number>();
  for (let i = 0; i < targetCls.length; i++) counts.set(targetCls[i], (counts.get(targetCls[i]) ?? 0) + 1);
  const uniqueClasses = [...counts.keys()].sort((a, b) => a - b);
  const nc = uniqueClasses.length;
  const x = linspace(0, 1, 1000);
  const negX = x.map((v) => -v);
  const ap: Float64Array[] = [],
    pCurve: Float64Array[] = [],
    rCurve: Float64Array[] = [],
    precValues: Float64Array[] = [];
  for (let ci = 0; ci < nc; ci++) {
    const c = uniqueClasses[ci];
    ap.push(new Float64Array(nThr));
    pCurve.push(new Float64Array(1000));
    rCurve.push(new Float64Array(1000));
    const idx = order.filter((i) => predCls[i] === c);
    const nL = counts.get(c)!;
    const nP = idx.length;
    if (nP === 0 || nL === 0) continue;
    const negConf = Float64Array.from(idx, (i) => -Math.fround(conf[i]));
    const recall: Float64Array[] = [], precision: Float64Array[] = [];
    for (let t = 0; t < nThr; t++) {
      const rec = new Float64Array(nP), pre = new Float64Array(nP);
      let tpc = 0, fpc = 0;
      for (let k = 0; k < nP; k++) {
        const v = tp[idx[k] * nThr + t] ? 1 : 0;
        tpc += v;
        fpc += 1 - v;
        rec[k] = tpc / (nL + eps);
        pre[k] = tpc / (tpc + fpc);
      }
      recall.push(rec);
      precision.push(pre);
    }
    rCurve[ci] = interp(negX, negConf, recall[0], 0);
    pCurve[ci] = interp(negX, negConf, precision[0], 1);
    for (let t = 0; t < nThr; t++) {
      const r = computeAp(recall[t], precision[t]);
      ap[ci][t] = r.ap;
      if (plot && t === 0) precValues[ci] = interp(x, r.mrec, r.mpre);
    }
  }
  if (plot) { for (let ci = 0; ci < nc; ci++) precValues[ci] ??= new Float64Array(0); }
  const f1Curve = pCurve.map((pc, ci) => pc.map((p, k) => (2 * p * rCurve[ci][k]) / (p + rCurve[ci][k] + eps)));
  const meanF1 = new Float64Array(1000);
  for (let k = 0; k < 1000; k++) {
    let s = 0;
    for (let ci = 0; ci < nc; ci++) s += f1Curve[ci][k];
    meanF1[k] = nc ? s / nc : NaN;
  }
  const sm = smooth(meanF1, 0.1);
  let best = 0;
  for (let k = 1; k < sm.length; k++) {
    if (sm[k] > sm[best] || (Number.isNaN(sm[best]) && !Number.isNaN(sm[k]))) best = k;
  }
  if (nc === 0) best = 0;
  const p = Float64Array.from(pCurve, (c) => c[best]);
  const r = Float64Array.from(rCurve, (c) => c[best]);
  const f1 = Float64Array.from(f1Curve, (c) => c[best]);
  const tpOut = Float64Array.from(r, (v, ci) => roundHalfEven(v * counts.get(uniqueClasses[ci])!));
  const fpOut = Float64Array.from(tpOut, (v, ci) => roundHalfEven(v / (p[ci] + eps) - v));
  return {
    tp: tpOut,
    fp: fpOut,
    p,
    r,
    f1,
    ap,
    uniqueClasses,
    pCurve,
    rCurve,
    f1Curve,
    x,
    precValues,
    bestIndex: best,
  };
}

/** Summary of one task (box or mask), as ultralytics' `Metric`: means over classes present in the ground truth. */
export interface MetricSummary {
  P: number;
  R: number;
  mAP50: number;
  "mAP50-95": number;
  /** 0.1·mAP50 + 0.9·mAP50-95 */
  fitness: number;
}

/** ultralytics `Metric.mean_results` + `fitness` from `apPerClass` output (zeros when no classes). */
export function summarize(res: ApPerClass | null): MetricSummary {
  if (!res || res.uniqueClasses.length === 0) return { P: 0, R: 0, mAP50: 0, "mAP50-95": 0, fitness: 0 };
  const P = npMean(res.p), R = npMean(res.r);
  const ap50 = Float64Array.from(res.ap, (a) => a[0]);
  const all = new Float64Array(res.ap.length * (res.ap[0]?.length ?? 0));
  res.ap.forEach((a, i) => all.set(a, i * a.length));
  const mAP50 = npMean(ap50), mAP = npMean(all);
  return { P, R, mAP50, "mAP50-95": mAP, fitness: 0.1 * mAP50 + 0.9 * mAP };
}

/** Per-class row: P, R, AP50, AP50-95 of class index ci (into `uniqueClasses`). */
export function classResult(res: ApPerClass, ci: number): { P: number; R: number; mAP50: number; "mAP50-95": number } {
  return { P: res.p[ci], R: res.r[ci], mAP50: res.ap[ci][0], "mAP50-95": npMean(res.ap[ci]) };
}
