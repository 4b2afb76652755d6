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

/** One image's instances in original pixels (a prediction or refined prediction held in memory). */
export interface ImageInstances {
  n: number;
  /** [n, 4] xyxy original pixels */
  boxes: Float32Array;
  conf: Float32Array;
  cls: Int32Array;
  /** n masks, each h*w 0/1 at the original resolution */
  masks: Uint8Array[];
}

/** Collects per-image matches (box and native-resolution mask) and computes ultralytics-style AP at the end. */
export class MatchAccumulator {
  private tp: number[] = [];
  private tpM: number[] = [];
  private conf: number[] = [];
  private cls: number[] = [];
  private target: number[] = [];
  private readonly nT = IOU_THRESHOLDS.length;

  /** Add one image: GT classes/boxes/masks and predictions (any order; sorted by confidence here). */
  add(
    gtCls: number[],
    gtBoxes: number[],
    gtMasks: MaskStack,
    pred: { cls: number[]; conf: number[]; boxes: number[]; masks: MaskStack },
  ): void {
    const nl = gtCls.length, npr = pred.cls.length, nT = this.nT;
    if (!nl && !npr) return;
    const order = Array.from({ length: npr }, (_, i) => i).sort((a, b) => pred.conf[b] - pred.conf[a]);
    const cls = order.map((i) => pred.cls[i]), conf = order.map((i) => pred.conf[i]);
    let tp = new Uint8Array(npr * nT), tpM = new Uint8Array(npr * nT);
    if (nl && npr) {
      const boxes = order.flatMap((i) => pred.boxes.slice(4 * i, 4 * i + 4));
      const { h, w } = pred.masks, hw = h * w;
      const md = new Uint8Array(npr * hw);
      order.forEach((i, k) => md.set(pred.masks.data.subarray(i * hw, (i + 1) * hw), k * hw));
      tp = new Uint8Array(matchPredictions(cls, gtCls, boxIou(gtBoxes, boxes)));
      const pm: MaskStack = { n: npr, h, w, data: md };
      tpM = new Uint8Array(matchPredictions(cls, gtCls, maskIou(gtMasks, pm, (g, j) => gtCls[g] === cls[j])));
    }
    for (let k = 0; k < npr * nT; k++) this.tp.push(tp[k]), this.tpM.push(tpM[k]);
    for (let k = 0; k < npr; k++) this.conf.push(conf[k]), this.cls.push(cls[k]);
    for (const c of gtCls) this.target.push(c);
  }

  /** AP per class and the summaries (`names` labels the per-class rows). */
  finish(names: string[]): Omit<TextEvalResult, "images" | "missingPredictions"> {
    const any = this.tp.some((v) => v);
    const box = any ? apPerClass(this.tp, this.conf, this.cls, this.target, this.nT, true) : null;
    const mask = any ? apPerClass(this.tpM, this.conf, this.cls, this.target, this.nT, true) : null;
    const counts = new Map<number, number>();
    for (const c of this.target) counts.set(c, (counts.get(c) ?? 0) + 1);
    return {
      box: summarize(box),
      mask: summarize(mask),
      perClass: (box?.uniqueClasses ?? []).map((c, ci) => ({
        cls: c,
        name: names[c] ?? String(c),
        instances: counts.get(c) ?? 0,
        box: classResult(box!, ci),
        mask: classResult(mask!, ci),
      })),
      instances: this.target.length,
      curves: { box, mask },
    };
  }
}

async function imageSize(file: string): Promise<{ h: number; w: number }> {
  const meta = await sharp(file).metadata().catch(() => {
    throw new UserError("cannot read image header", file);
  });
  const rot = (meta.orientation ?? 1) >= 5;
  return { w: rot ? meta.height! : meta.width!, h: rot ? meta.width! : meta.height! };
}

/** Evaluate a folder of prediction text files against a dataset split (native-resolution masks). */
export async function evaluatePredictionDir(
  yamlFile: string,
  split: "train" | "val" | "test",
  predDir: string,
): Promise<TextEvalResult> {
  const ds = readYoloDataset(yamlFile, split);
  const acc = new MatchAccumulator();
  let missing = 0;
  for (const item of ds.items) {
    const lab = labelsFromItem(item);
    const { h, w } = await imageSize(item.imageFile);
    const file = path.join(predDir, path.basename(item.imageFile).replace(/\.[^.]+$/, "") + ".txt");
    let preds: TextPrediction[] = [];
    try {
      preds = parsePredictionText(await Deno.readTextFile(file), file);
    } catch (e) {
      if (e instanceof UserError) throw e;
      missing++;
    }
    acc.add(Array.from(lab.cls), lab.polygons.flatMap((p) => polyBoxPx(p, w, h)), rasterStack(lab.polygons, h, w), {
      cls: preds.map((p) => p.cls),
      conf: preds.map((p) => p.conf),
      boxes: preds.flatMap((p) => polyBoxPx(p.polygon, w, h)),
      masks: rasterStack(preds.map((p) => p.polygon), h, w),
    });
  }
  return { ...acc.finish(ds.names), images: ds.items.length, missingPredictions: missing };
}

/**
 * Evaluate predictions produced in memory (for example YOLO + SAM refinement) against a dataset split: `predictFn`
 * returns one image's instances at its original resolution. Matching and AP as `validate`, masks at native size.
 */
export async function evaluateInstances(
  yamlFile: string,
  split: "train" | "val" | "test",
  predictFn: (imageFile: string) => Promise<ImageInstances>,
  opts: { limit?: number; onImage?: (i: number, total: number) => void } = {},
): Promise<Omit<TextEvalResult, "missingPredictions">> {
  const ds = readYoloDataset(yamlFile, split);
  const items = opts.limit ? ds.items.slice(0, opts.limit) : ds.items;
  const acc = new MatchAccumulator();
  for (const [i, item] of items.entries()) {
    const lab = labelsFromItem(item);
    const p = await predictFn(item.imageFile);
    const { h: ih, w: iw } = await imageSize(item.imageFile);
    const data = new Uint8Array(p.n * ih * iw);
    p.masks.forEach((m, k) => data.set(m, k * ih * iw));
    acc.add(Array.from(lab.cls), lab.polygons.flatMap((q) => polyBoxPx(q, iw, ih)), rasterStack(lab.polygons, ih, iw), {
      cls: Array.from(p.cls),
      conf: Array.from(p.conf),
      boxes: Array.from(p.boxes),
      masks: { n: p.n, h: ih, w: iw, data },
    });
    opts.onImage?.(i + 1, items.length);
  }
  return { ...acc.finish(ds.names), images: items.length };
}
