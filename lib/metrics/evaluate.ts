/**
 * Evaluating predictions made elsewhere against a YOLO-seg dataset split, on the ultralytics footing: prediction
 * files `<pred_dir>/<image stem>.txt` with lines `cls x1 y1 ... xn yn [conf]` (normalised polygons, ultralytics'
 * `save_txt`/`save_conf` format; conf 1 when absent); boxes from polygon extents, masks rasterised at the native
 * image size (cv2.fillPoly rule) for both sides; matching and AP as `validate`.
 */
import * as path from "node:path";
import sharp from "sharp";
import { readYoloDataset } from "../data/yolo.ts";
import { rasterizePolygons } from "../data/mask.ts";
import { UserError } from "../util/errors.ts";
import { labelsFromItem } from "../dataset/labels.ts";
import { boxIou, maskIou, type MaskStack } from "./iou.ts";
import { IOU_THRESHOLDS, matchPredictions } from "./match.ts";
import { type ApPerClass, apPerClass, classResult, type MetricSummary, summarize } from "./ap.ts";

/** One predicted instance read from a text file. */
export interface TextPrediction {
  cls: number;
  conf: number;
  /** flat normalised xy */
  polygon: Float32Array;
}

/** Parse a prediction text file (`cls x1 y1 ... [conf]`); errors name file:line. */
export function parsePredictionText(text: string, file: string): TextPrediction[] {
  const out: TextPrediction[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim().split(/\s+/).filter(Boolean);
    if (!t.length) return;
    const v = t.map(Number);
    if (v.some((x) => !Number.isFinite(x))) throw new UserError("non-numeric value", `${file}:${i + 1}`);
    if (!Number.isInteger(v[0]) || v[0] < 0) {
      throw new UserError(`class '${t[0]}' is not an integer`, `${file}:${i + 1}`);
    }
    const rest = v.slice(1);
    const conf = rest.length % 2 === 1 ? rest.pop()! : 1;
    if (rest.length < 6) throw new UserError("a polygon needs at least 3 points", `${file}:${i + 1}`);
    out.push({ cls: v[0], conf, polygon: Float32Array.from(rest) });
  });
  return out;
}

/** Result of `evaluatePredictionDir`. */
export interface TextEvalResult {
  box: MetricSummary;
  mask: MetricSummary;
  perClass: {
    cls: number;
    name: string;
    instances: number;
    box: Omit<MetricSummary, "fitness">;
    mask: Omit<MetricSummary, "fitness">;
  }[];
  images: number;
  instances: number;
  /** images with no prediction file */
  missingPredictions: number;
  curves: { box: ApPerClass | null; mask: ApPerClass | null };
}

function polyBoxPx(p: Float32Array, w: number, h: number): number[] {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i < p.length; i += 2) {
    x1 = Math.min(x1, p[i] * w), x2 = Math.max(x2, p[i] * w);
    y1 = Math.min(y1, p[i + 1] * h), y2 = Math.max(y2, p[i + 1] * h);
  }
  return [x1, y1, x2, y2];
}

function rasterStack(polys: Float32Array[], h: number, w: number): MaskStack {
  const data = new Uint8Array(polys.length * h * w);
  polys.forEach((p, k) => {
    const px = Float32Array.from(p, (v, j) => v * (j % 2 ? h : w));
    data.set(rasterizePolygons([px], h, w, 1), k * h * w);
  });
  return { n: polys.length, h, w, data };
}

/** Evaluate a folder of prediction text files against a dataset split (native-resolution masks). */
export async function evaluatePredictionDir(
  yamlFile: string,
  split: "train" | "val" | "test",
  predDir: string,
): Promise<TextEvalResult> {
  const ds = readYoloDataset(yamlFile, split);
  const nT = IOU_THRESHOLDS.length;
  const st = {
    tp: [] as number[],
    tpM: [] as number[],
    conf: [] as number[],
    cls: [] as number[],
    target: [] as number[],
  };
  let missing = 0;
  for (const item of ds.items) {
    const lab = labelsFromItem(item);
    const meta = await sharp(item.imageFile).metadata().catch(() => {
      throw new UserError("cannot read image header", item.imageFile);
    });
    const rot = (meta.orientation ?? 1) >= 5;
    const w = rot ? meta.height! : meta.width!, h = rot ? meta.width! : meta.height!;
    const file = path.join(predDir, path.basename(item.imageFile).replace(/\.[^.]+$/, "") + ".txt");
    let preds: TextPrediction[] = [];
    try {
      preds = parsePredictionText(await Deno.readTextFile(file), file);
    } catch (e) {
      if (e instanceof UserError) throw e;
      missing++;
    }
    preds.sort((a, b) => b.conf - a.conf);
    const gtCls = lab.cls, nl = gtCls.length, npr = preds.length;
    if (!nl && !npr) continue;
    let tp = new Uint8Array(npr * nT), tpM = new Uint8Array(npr * nT);
    if (nl && npr) {
      const predCls = preds.map((p) => p.cls);
      const gb = lab.polygons.flatMap((p) => polyBoxPx(p, w, h)), pb = preds.flatMap((p) => polyBoxPx(p.polygon, w, h));
      tp = new Uint8Array(matchPredictions(predCls, gtCls, boxIou(gb, pb)));
      const gm = rasterStack(lab.polygons, h, w), pm = rasterStack(preds.map((p) => p.polygon), h, w);
      tpM = new Uint8Array(matchPredictions(predCls, gtCls, maskIou(gm, pm, (g, j) => gtCls[g] === predCls[j])));
    }
    for (let k = 0; k < npr * nT; k++) st.tp.push(tp[k]), st.tpM.push(tpM[k]);
    for (const p of preds) st.conf.push(p.conf), st.cls.push(p.cls);
    for (const c of gtCls) st.target.push(c);
  }
  const any = st.tp.some((v) => v);
  const box = any ? apPerClass(st.tp, st.conf, st.cls, st.target, nT, true) : null;
  const mask = any ? apPerClass(st.tpM, st.conf, st.cls, st.target, nT, true) : null;
  const counts = new Map<number, number>();
  for (const c of st.target) counts.set(c, (counts.get(c) ?? 0) + 1);
  return {
    box: summarize(box),
    mask: summarize(mask),
    perClass: (box?.uniqueClasses ?? []).map((c, ci) => ({
      cls: c,
      name: ds.names[c] ?? String(c),
      instances: counts.get(c) ?? 0,
      box: classResult(box!, ci),
      mask: classResult(mask!, ci),
    })),
    images: ds.items.length,
    instances: st.target.length,
    missingPredictions: missing,
    curves: { box, mask },
  };
}
