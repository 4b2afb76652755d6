/**
 * COCO-style evaluation with pycocotools' `COCOeval` semantics (iouType "segm" or "bbox"): per image and category,
 * detections sorted by score (stable) and capped at maxDets; greedy matching per IoU threshold 0.50:0.05:0.95 that
 * prefers non-ignored ground truth; crowd regions matched with IoU = inter / area(det) and ignored; area ranges
 * all/small/medium/large by the annotations' `area`; precision at 101 recall points; -1 where undefined; the 12
 * standard summary numbers. Reads a COCO GT JSON and a results JSON (RLE masks, polygons or boxes).
 */
import { decodeRle, type Rle, rleArea, rleFromPolygons, rleFromString, rleIou } from "../data/rle.ts";
import { UserError } from "../util/errors.ts";
import { linspace } from "./ap.ts";

/** A COCO annotation or result (the fields COCOeval reads). */
export interface CocoAnn {
  id: number;
  image_id: number;
  category_id: number;
  bbox?: number[];
  area?: number;
  iscrowd?: number;
  ignore?: number;
  score?: number;
  segmentation?: number[][] | { size: [number, number]; counts: number[] | string };
}

/** A COCO dataset JSON (images, annotations, categories). */
export interface CocoJson {
  images: { id: number; height: number; width: number; file_name?: string }[];
  annotations: CocoAnn[];
  categories: { id: number; name: string }[];
}

/** COCOeval parameters. */
export interface CocoParams {
  iouType: "segm" | "bbox";
  iouThrs: Float64Array;
  recThrs: Float64Array;
  maxDets: number[];
  areaRng: [number, number][];
  areaRngLbl: string[];
  imgIds?: number[];
  catIds?: number[];
}

/** Default COCOeval parameters for instance segmentation or boxes. */
export function defaultParams(iouType: "segm" | "bbox" = "segm"): CocoParams {
  return {
    iouType,
    iouThrs: linspace(0.5, 0.95, 10),
    recThrs: linspace(0, 1, 101),
    maxDets: [1, 10, 100],
    areaRng: [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]],
    areaRngLbl: ["all", "small", "medium", "large"],
  };
}

/** Accumulated results: precision [T][R][K][A][M] and recall [T][K][A][M] flattened row-major, plus the summary. */
export interface CocoEvalResult {
  params: CocoParams;
  catIds: number[];
  imgIds: number[];
  /** [T, R, K, A, M] */
  precision: Float64Array;
  /** [T, K, A, M] */
  recall: Float64Array;
  /** the 12 numbers of `COCOeval.summarize()` */
  stats: number[];
  /** AP (IoU 0.50:0.95, area all, maxDets 100) per category id; -1 when undefined */
  perCategoryAP: Map<number, number>;
}

/** The labels of `stats`, in order. */
export const COCO_STAT_NAMES = [
  "AP@[.50:.95] all 100",
  "AP@.50 all 100",
  "AP@.75 all 100",
  "AP small",
  "AP medium",
  "AP large",
  "AR all 1",
  "AR all 10",
  "AR all 100",
  "AR small",
  "AR medium",
  "AR large",
];

interface Prepared {
  ann: CocoAnn;
  rle?: Rle;
  box: number[];
  area: number;
  crowd: boolean;
  ignore: boolean;
}

function toRle(ann: CocoAnn, h: number, w: number, file: string): Rle {
  const s = ann.segmentation;
  if (!s) throw new UserError(`annotation ${ann.id} has no segmentation`, file);
  if (Array.isArray(s)) return rleFromPolygons(s, h, w);
  if (typeof s.counts === "string") return rleFromString(s.counts, s.size[0], s.size[1]);
  if (Array.isArray(s.counts)) return { size: [s.size[0], s.size[1]], counts: s.counts.slice() };
  throw new UserError(`annotation ${ann.id}: unreadable segmentation`, file);
}

function rleBox(rle: Rle): number[] {
  const [h, w] = rle.size;
  const m = decodeRle(rle);
  let x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (m[y * w + x]) {
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        if (y > y2) y2 = y;
      }
    }
  }
  return x2 < 0 ? [0, 0, 0, 0] : [x1, y1, x2 - x1 + 1, y2 - y1 + 1];
}

function bbIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h, da = d[2] * d[3];
  return i / (crowd ? da : da + g[2] * g[3] - i);
}

/** Stable argsort by descending score (numpy mergesort on -score). */
function byScore(dts: Prepared[]): Prepared[] {
  return dts.map((d, i) => [d, i] as const).sort((a, b) => (b[0].ann.score ?? 0) - (a[0].ann.score ?? 0) || a[1] - b[1])
    .map((x) => x[0]);
}

/**
 * Evaluate `results` (pycocotools loadRes format: image_id, category_id, score, segmentation RLE/polygon or bbox)
 * against the ground truth. `files` name the inputs in error messages.
 */
export function cocoEvaluate(
  gt: CocoJson,
  results: CocoAnn[],
  params: CocoParams = defaultParams(),
  files: { gt?: string; results?: string } = {},
): CocoEvalResult {
  const p = params;
  const gtFile = files.gt ?? "<gt>", dtFile = files.results ?? "<results>";
  const imgs = new Map(gt.images.map((im) => [im.id, im]));
  for (const r of results) {
    if (!imgs.has(r.image_id)) throw new UserError(`result for image_id ${r.image_id} not in the ground truth`, dtFile);
  }
  const imgIds = [...new Set(p.imgIds ?? gt.images.map((i) => i.id))].sort((a, b) => a - b);
  const catIds = [...new Set(p.catIds ?? gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const imgSet = new Set(imgIds), catSet = new Set(catIds);
  const key = (i: number, c: number) => `${i}:${c}`;
  const G = new Map<string, Prepared[]>(), D = new Map<string, Prepared[]>();
  const prep = (a: CocoAnn, isGt: boolean, file: string): Prepared => {
    const im = imgs.get(a.image_id)!;
    let rle: Rle | undefined;
    let box = a.bbox;
    let area = a.area;
    if (p.iouType === "segm") {
      rle = toRle(a, im.height, im.width, file);
      if (!isGt) area = rleArea(rle);
    } else {
      if (!box) {
        if (!a.segmentation) throw new UserError(`annotation ${a.id} has neither bbox nor segmentation`, file);
        box = rleBox(toRle(a, im.height, im.width, file));
      }
      if (!isGt) area = box[2] * box[3];
    }
    if (area === undefined) throw new UserError(`annotation ${a.id} has no area`, file);
    const crowd = isGt ? !!a.iscrowd : false;
    return { ann: a, rle, box: box ?? [0, 0, 0, 0], area, crowd, ignore: isGt ? crowd : false };
  };
  for (const a of gt.annotations) {
    if (!imgSet.has(a.image_id) || !catSet.has(a.category_id)) continue;
    const k = key(a.image_id, a.category_id);
    (G.get(k) ?? G.set(k, []).get(k)!).push(prep(a, true, gtFile));
  }
  results.forEach((r, i) => {
    if (!imgSet.has(r.image_id) || !catSet.has(r.category_id)) return;
    const a = { ...r, id: i + 1, iscrowd: 0 };
    const k = key(a.image_id, a.category_id);
    (D.get(k) ?? D.set(k, []).get(k)!).push(prep(a, false, dtFile));
  });
  const maxDet = p.maxDets[p.maxDets.length - 1];
  const T = p.iouThrs.length, R = p.recThrs.length, K = catIds.length, A = p.areaRng.length, M = p.maxDets.length;
  // IoU per (image, category): dt sorted by score, capped at maxDet → [D][G]
  const ious = new Map<string, { dts: Prepared[]; m: Float64Array }>();
  for (const i of imgIds) {
    for (const c of catIds) {
      const g = G.get(key(i, c)) ?? [], d0 = D.get(key(i, c)) ?? [];
      const dts = byScore(d0).slice(0, maxDet);
      const m = new Float64Array(dts.length * g.length);
      for (let di = 0; di < dts.length; di++) {
        for (let gi = 0; gi < g.length; gi++) {
          m[di * g.length + gi] = p.iouType === "segm"
            ? rleIou(dts[di].rle!, g[gi].rle!, g[gi].crowd)
            : bbIou(dts[di].box, g[gi].box, g[gi].crowd);
        }
      }
      ious.set(key(i, c), { dts, m });
    }
  }
  interface EvalImg {
    dtScores: number[];
    dtMatched: Uint8Array; // [T, D]
    dtIgnore: Uint8Array; // [T, D]
    gtIgnore: Uint8Array; // [G]
  }
  const evalImg = (i: number, c: number, rng: [number, number]): EvalImg | null => {
    const g0 = G.get(key(i, c)) ?? [];
    const { dts: dAll, m } = ious.get(key(i, c))!;
    if (g0.length === 0 && dAll.length === 0) return null;
    const gIgn = g0.map((g) => (g.ignore || g.area < rng[0] || g.area > rng[1] ? 1 : 0));
    const gOrder = g0.map((_, k) => k).sort((a, b) => gIgn[a] - gIgn[b] || a - b);
    const gts = gOrder.map((k) => g0[k]);
    const gtIg = Uint8Array.from(gOrder, (k) => gIgn[k]);
    const dts = dAll.slice(0, maxDet);
    const nG = gts.length, nD = dts.length, nG0 = g0.length;
    const gtm = new Uint8Array(T * nG), dtm = new Uint8Array(T * nD), dtIg = new Uint8Array(T * nD);
    if (nG && nD) {
      for (let t = 0; t < T; t++) {
        for (let di = 0; di < nD; di++) {
          let iou = Math.min(p.iouThrs[t], 1 - 1e-10);
          let mIdx = -1;
          for (let gi = 0; gi < nG; gi++) {
            if (gtm[t * nG + gi] && !gts[gi].crowd) continue;
            if (mIdx > -1 && gtIg[mIdx] === 0 && gtIg[gi] === 1) break;
            const v = m[di * nG0 + gOrder[gi]];
            if (v < iou) continue;
            iou = v;
            mIdx = gi;
          }
          if (mIdx === -1) continue;
          dtIg[t * nD + di] = gtIg[mIdx];
          dtm[t * nD + di] = 1;
          gtm[t * nG + mIdx] = 1;
        }
      }
    }
    for (let di = 0; di < nD; di++) {
      const out = dts[di].area < rng[0] || dts[di].area > rng[1];
      if (!out) continue;
      for (let t = 0; t < T; t++) if (!dtm[t * nD + di]) dtIg[t * nD + di] = 1;
    }
    return { dtScores: dts.map((d) => d.ann.score ?? 0), dtMatched: dtm, dtIgnore: dtIg, gtIgnore: gtIg };
  };
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const eps = 2.220446049250313e-16; // np.spacing(1)
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      const E = imgIds.map((i) => evalImg(i, catIds[k], p.areaRng[a])).filter((e): e is EvalImg => e !== null);
      if (E.length === 0) continue;
      for (let mi = 0; mi < M; mi++) {
        const md = p.maxDets[mi];
        const scores: number[] = [], src: [EvalImg, number][] = [];
        for (const e of E) {
          const n = Math.min(md, e.dtScores.length);
          for (let d = 0; d < n; d++) {
            scores.push(e.dtScores[d]);
            src.push([e, d]);
          }
        }
        const inds = scores.map((_, i) => i).sort((x, y) => scores[y] - scores[x] || x - y);
        let npig = 0;
        for (const e of E) for (const v of e.gtIgnore) if (!v) npig++;
        if (npig === 0) continue;
        for (let t = 0; t < T; t++) {
          const nd = inds.length;
          const rc = new Float64Array(nd), pr = new Float64Array(nd);
          let tp = 0, fp = 0;
          for (let j = 0; j < nd; j++) {
            const [e, d] = src[inds[j]];
            const nD = e.dtScores.length;
            const ig = e.dtIgnore[t * nD + d], mt = e.dtMatched[t * nD + d];
            if (mt && !ig) tp++;
            if (!mt && !ig) fp++;
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + eps);
          }
          recall[((t * K + k) * A + a) * M + mi] = nd ? rc[nd - 1] : 0;
          for (let j = nd - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          // searchsorted(rc, recThrs, side="left"): first j with rc[j] >= thr; stop at the first out of range
          let j = 0;
          for (let ri = 0; ri < R; ri++) {
            while (j < nd && rc[j] < p.recThrs[ri]) j++;
            if (j >= nd) break;
            precision[(((t * R + ri) * K + k) * A + a) * M + mi] = pr[j];
          }
          // entries after a break keep 0 (pycocotools fills q with zeros before the loop)
          for (let ri = 0; ri < R; ri++) {
            const idx = (((t * R + ri) * K + k) * A + a) * M + mi;
            if (precision[idx] === -1) precision[idx] = 0;
          }
        }
      }
    }
  }
  const res: CocoEvalResult = { params: p, catIds, imgIds, precision, recall, stats: [], perCategoryAP: new Map() };
  res.stats = summarizeCoco(res);
  const a0 = p.areaRngLbl.indexOf("all"), m100 = p.maxDets.indexOf(100);
  for (let k = 0; k < K; k++) res.perCategoryAP.set(catIds[k], meanValid(res, true, null, a0, m100, k));
  return res;
}

function meanValid(r: CocoEvalResult, ap: boolean, t: number | null, a: number, m: number, k?: number): number {
  const p = r.params, T = p.iouThrs.length, R = p.recThrs.length, K = r.catIds.length, A = p.areaRng.length;
  const M = p.maxDets.length;
  let s = 0, n = 0;
  const ts = t === null ? [...Array(T).keys()] : [t];
  const ks = k === undefined ? [...Array(K).keys()] : [k];
  for (const ti of ts) {
    for (const ki of ks) {
      if (ap) {
        for (let ri = 0; ri < R; ri++) {
          const v = r.precision[(((ti * R + ri) * K + ki) * A + a) * M + m];
          if (v > -1) s += v, n++;
        }
      } else {
        const v = r.recall[((ti * K + ki) * A + a) * M + m];
        if (v > -1) s += v, n++;
      }
    }
  }
  return n ? s / n : -1;
}

/** `COCOeval.summarize()` stats (12 numbers, -1 where nothing is defined). */
export function summarizeCoco(r: CocoEvalResult): number[] {
  const p = r.params;
  const A = (l: string) => p.areaRngLbl.indexOf(l);
  const Mi = (m: number) => p.maxDets.indexOf(m);
  const tIdx = (v: number) => {
    const i = Array.from(p.iouThrs).findIndex((x) => Math.abs(x - v) < 1e-12);
    return i;
  };
  const md = p.maxDets[p.maxDets.length - 1];
  return [
    meanValid(r, true, null, A("all"), Mi(md)),
    meanValid(r, true, tIdx(0.5), A("all"), Mi(md)),
    meanValid(r, true, tIdx(0.75), A("all"), Mi(md)),
    meanValid(r, true, null, A("small"), Mi(md)),
    meanValid(r, true, null, A("medium"), Mi(md)),
    meanValid(r, true, null, A("large"), Mi(md)),
    meanValid(r, false, null, A("all"), Mi(p.maxDets[0])),
    meanValid(r, false, null, A("all"), Mi(p.maxDets[1])),
    meanValid(r, false, null, A("all"), Mi(md)),
    meanValid(r, false, null, A("small"), Mi(md)),
    meanValid(r, false, null, A("medium"), Mi(md)),
    meanValid(r, false, null, A("large"), Mi(md)),
  ];
}

/** Format the stats as pycocotools prints them. */
export function formatCocoStats(stats: number[], iouType = "segm"): string {
  const rows: [string, string, string, string][] = [
    ["Average Precision", "0.50:0.95", "all", "100"],
    ["Average Precision", "0.50", "all", "100"],
    ["Average Precision", "0.75", "all", "100"],
    ["Average Precision", "0.50:0.95", "small", "100"],
    ["Average Precision", "0.50:0.95", "medium", "100"],
    ["Average Precision", "0.50:0.95", "large", "100"],
    ["Average Recall", "0.50:0.95", "all", "1"],
    ["Average Recall", "0.50:0.95", "all", "10"],
    ["Average Recall", "0.50:0.95", "all", "100"],
    ["Average Recall", "0.50:0.95", "small", "100"],
    ["Average Recall", "0.50:0.95", "medium", "100"],
    ["Average Recall", "0.50:0.95", "large", "100"],
  ];
  return [
    `IoU metric: ${iouType}`,
    ...rows.map(([t, iou, a, m], i) =>
      ` ${t.padEnd(18)} ${t.startsWith("Average Precision") ? "(AP)" : "(AR)"} @[ IoU=${iou.padEnd(9)} | area=${
        a.padStart(6)
      } | maxDets=${m.padStart(3)} ] = ${stats[i].toFixed(3)}`
    ),
  ].join("\n");
}

/** Read and check a COCO GT JSON file. */
export async function readCocoJson(file: string): Promise<CocoJson> {
  let j: CocoJson;
  try {
    j = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new UserError(`cannot read COCO JSON (${(e as Error).message.split("\n")[0]})`, file);
  }
  if (!j || !Array.isArray(j.images) || !Array.isArray(j.annotations) || !Array.isArray(j.categories)) {
    throw new UserError("not a COCO dataset JSON (needs images, annotations, categories)", file);
  }
  return j;
}

/** Read a COCO results JSON (a list of {image_id, category_id, score, segmentation|bbox}). */
export async function readCocoResults(file: string): Promise<CocoAnn[]> {
  let j: unknown;
  try {
    j = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new UserError(`cannot read results JSON (${(e as Error).message.split("\n")[0]})`, file);
  }
  if (!Array.isArray(j)) throw new UserError("results JSON must be a list of detections", file);
  j.forEach((r, i) => {
    if (typeof r?.image_id !== "number" || typeof r?.category_id !== "number" || typeof r?.score !== "number") {
      throw new UserError(`entry ${i} needs numeric image_id, category_id and score`, file);
    }
  });
  return j as CocoAnn[];
}
