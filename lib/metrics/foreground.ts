/**
 * Foreground (salient-object / background-removal) metrics of one predicted map against a binary ground truth, as
 * that literature reports them: IoU and F-beta (beta^2 = 0.3) of the map binarised at a threshold, max F-beta over
 * 256 thresholds, MAE of the soft map, and the boundary F-score (boundary pixels matched within a band of a few
 * pixels, DAVIS-style disk tolerance). Maps are row-major [h*w]; predictions in 0..1, ground truth 0/1 (> 0.5).
 */

/** Per-image foreground metrics. */
export interface ForegroundScores {
  iou: number;
  /** F-beta of the binarised map */
  fBeta: number;
  /** max F-beta over thresholds 0..255 / 255 */
  maxFBeta: number;
  /** mean |pred − gt| of the soft map */
  mae: number;
  /** boundary F-score with the given band */
  boundaryF: number;
}

/** Options of `foregroundScores`. */
export interface ForegroundOptions {
  /** binarisation threshold on the 0..1 map (default 0.5, pixels > threshold are foreground) */
  threshold?: number;
  /** beta^2 of the F-measure (default 0.3) */
  beta2?: number;
  /** boundary tolerance in pixels (default 3) */
  band?: number;
}

function fMeasure(tp: number, fp: number, fn: number, beta2: number): number {
  if (tp + fp + fn === 0) return 1; // both empty
  const p = tp + fp > 0 ? tp / (tp + fp) : 0, r = tp + fn > 0 ? tp / (tp + fn) : 0;
  return p + r > 0 ? ((1 + beta2) * p * r) / (beta2 * p + r) : 0;
}

/** Boundary of a binary mask: foreground pixels with a 4-neighbour outside the mask or on the image border. */
export function boundaryOf(mask: Uint8Array, h: number, w: number): Uint8Array {
  const b = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      if (
        x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w]
      ) {
        b[i] = 1;
      }
    }
  }
  return b;
}

/** Dilate a binary map with a disk of radius r (pixels within Euclidean distance r). */
export function dilateDisk(m: Uint8Array, h: number, w: number, r: number): Uint8Array {
  if (r <= 0) return m.slice();
  const offs: [number, number][] = [];
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) offs.push([dy, dx]);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!m[y * w + x]) continue;
      for (const [dy, dx] of offs) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) out[yy * w + xx] = 1;
      }
    }
  }
  return out;
}

/** Boundary F-score: precision = predicted boundary within `band` of the GT boundary, recall the converse. */
export function boundaryFScore(pred: Uint8Array, gt: Uint8Array, h: number, w: number, band = 3): number {
  const bp = boundaryOf(pred, h, w), bg = boundaryOf(gt, h, w);
  let np = 0, ng = 0;
  for (let i = 0; i < h * w; i++) np += bp[i], ng += bg[i];
  if (np === 0 && ng === 0) return 1;
  if (np === 0 || ng === 0) return 0;
  const dg = dilateDisk(bg, h, w, band), dp = dilateDisk(bp, h, w, band);
  let pHit = 0, gHit = 0;
  for (let i = 0; i < h * w; i++) {
    if (bp[i] && dg[i]) pHit++;
    if (bg[i] && dp[i]) gHit++;
  }
  const P = pHit / np, R = gHit / ng;
  return P + R > 0 ? (2 * P * R) / (P + R) : 0;
}

/** All foreground metrics of one image: `pred` soft map 0..1, `gt` 0/1 (values > 0.5 are foreground). */
export function foregroundScores(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
  h: number,
  w: number,
  opts: ForegroundOptions = {},
): ForegroundScores {
  const n = h * w;
  if (pred.length !== n || gt.length !== n) throw new Error(`foregroundScores: maps must be ${h}x${w}`);
  const thr = opts.threshold ?? 0.5, beta2 = opts.beta2 ?? 0.3;
  const g = new Uint8Array(n), b = new Uint8Array(n);
  let tp = 0, fp = 0, fn = 0, abs = 0;
  // histogram of predicted levels (0..255) for foreground / background GT pixels → F at every threshold
  const hf = new Float64Array(256), hb = new Float64Array(256);
  let nPos = 0;
  for (let i = 0; i < n; i++) {
    const gv = gt[i] > 0.5 ? 1 : 0, pv = Math.min(1, Math.max(0, pred[i]));
    g[i] = gv;
    nPos += gv;
    const bv = pv > thr ? 1 : 0;
    b[i] = bv;
    if (bv && gv) tp++;
    else if (bv) fp++;
    else if (gv) fn++;
    abs += Math.abs(pv - gv);
    const lvl = Math.round(pv * 255);
    (gv ? hf : hb)[lvl]++;
  }
  let maxF = 0, cf = 0, cb = 0;
  for (let t = 255; t >= 0; t--) {
    cf += hf[t];
    cb += hb[t];
    maxF = Math.max(maxF, fMeasure(cf, cb, nPos - cf, beta2));
  }
  if (nPos === 0 && fp === 0) maxF = 1;
  const uni = tp + fp + fn;
  return {
    iou: uni === 0 ? 1 : tp / uni,
    fBeta: fMeasure(tp, fp, fn, beta2),
    maxFBeta: maxF,
    mae: abs / n,
    boundaryF: boundaryFScore(b, g, h, w, opts.band ?? 3),
  };
}

/** Mean of each metric over images (the per-dataset numbers papers report). */
export function meanForeground(scores: ForegroundScores[]): ForegroundScores {
  const keys = ["iou", "fBeta", "maxFBeta", "mae", "boundaryF"] as const;
  const out = { iou: 0, fBeta: 0, maxFBeta: 0, mae: 0, boundaryF: 0 };
  for (const k of keys) out[k] = scores.length ? scores.reduce((a, s) => a + s[k], 0) / scores.length : NaN;
  return out;
}
