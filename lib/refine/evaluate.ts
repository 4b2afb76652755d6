/**
 * Measuring refinement: YOLO predictions (native-resolution masks) refined by SAM (`none`, `vote` or `box`) and scored
 * against a dataset split with the ultralytics matching and AP at native resolution, plus the boundary F-score of the
 * foreground (union of instances vs union of ground truth) and the time per image. One call per method, so the gain
 * is measured, never assumed.
 */
import { decodeImage } from "../image/mod.ts";
import { type ArraySegModel, predict, type SegModel } from "../yolo/predict.ts";
import { evaluateInstances, type ImageInstances } from "../metrics/evaluate.ts";
import { boundaryFScore } from "../metrics/foreground.ts";
import { readYoloDataset } from "../data/yolo.ts";
import { labelsFromItem } from "../dataset/labels.ts";
import { rasterizePolygons } from "../data/mask.ts";
import type { MetricSummary } from "../metrics/ap.ts";
import type { SamModel } from "../sam/model.ts";
import { refine, type RefineMethod, type RefineOptions } from "./mod.ts";

/** Settings of `evaluateRefinement` (YOLO predict settings as ultralytics' validator uses them). */
export interface RefineEvalOptions {
  imgsz?: number;
  /** YOLO confidence threshold (0.001 as in validation) */
  conf?: number;
  iou?: number;
  maxDet?: number;
  /** model classes kept, mapped in order to dataset classes 0, 1, ... */
  classes?: number[] | null;
  /** evaluate only the first N images */
  limit?: number;
  refine?: RefineOptions;
  onImage?: (i: number, total: number) => void;
}

/** What one method scores. */
export interface RefineEvalResult {
  method: RefineMethod;
  box: MetricSummary;
  mask: MetricSummary;
  /** mean boundary F-score (band 3 px) of the foreground, over images with ground truth */
  boundaryF: number;
  images: number;
  /** mean ms per image: YOLO prediction, refinement */
  msPerImage: { predict: number; refine: number };
}

function mapClasses(p: ImageInstances, classes: number[] | null | undefined): ImageInstances {
  if (!classes || !classes.length) return p;
  const keep: number[] = [];
  for (let i = 0; i < p.n; i++) if (classes.includes(p.cls[i])) keep.push(i);
  return {
    n: keep.length,
    boxes: Float32Array.from(keep.flatMap((i) => Array.from(p.boxes.subarray(4 * i, 4 * i + 4)))),
    conf: Float32Array.from(keep, (i) => p.conf[i]),
    cls: Int32Array.from(keep, (i) => classes.indexOf(p.cls[i])),
    masks: keep.map((i) => p.masks[i]),
  };
}

/** Score YOLO + `method` refinement on a dataset split (SAM needed unless method is `none`). */
export async function evaluateRefinement(
  model: SegModel | ArraySegModel,
  sam: SamModel | null,
  yamlFile: string,
  split: "train" | "val" | "test",
  method: RefineMethod,
  opts: RefineEvalOptions = {},
): Promise<RefineEvalResult> {
  if (method !== "none" && !sam) throw new Error(`refine=${method} needs SAM weights`);
  let tPredict = 0, tRefine = 0;
  const bf: number[] = [];
  const ds = readYoloDataset(yamlFile, split);
  const gtByFile = new Map(ds.items.map((it) => [it.imageFile, it]));
  const r = await evaluateInstances(yamlFile, split, async (file) => {
    const img = await decodeImage(file);
    const t0 = performance.now();
    const [p] = await predict(model, [img], {
      imgsz: opts.imgsz ?? 640,
      conf: opts.conf ?? 0.001,
      iou: opts.iou ?? 0.7,
      maxDet: opts.maxDet ?? 300,
      retinaMasks: true,
    });
    const t1 = performance.now();
    const mapped = mapClasses(p, opts.classes);
    const out = method === "none" ? mapped : refine(method, sam!, img, mapped, opts.refine);
    const t2 = performance.now();
    tPredict += t1 - t0;
    tRefine += t2 - t1;
    // foreground boundary F: union of confident instances vs union of ground truth
    const item = gtByFile.get(file);
    if (item) {
      const lab = labelsFromItem(item);
      const { height: h, width: w } = img;
      if (lab.polygons.length) {
        const gt = rasterizePolygons(
          lab.polygons.map((q) => Float32Array.from(q, (v, j) => v * (j % 2 ? h : w))),
          h,
          w,
          1,
        );
        const fg = new Uint8Array(h * w);
        for (let k = 0; k < out.n; k++) {
          if (out.conf[k] < 0.25) continue;
          const m = out.masks[k];
          for (let i = 0; i < m.length; i++) if (m[i]) fg[i] = 1;
        }
        bf.push(boundaryFScore(fg, gt, h, w, 3));
      }
    }
    return out;
  }, { limit: opts.limit, onImage: opts.onImage });
  const n = Math.max(1, r.images);
  return {
    method,
    box: r.box,
    mask: r.mask,
    boundaryF: bf.length ? bf.reduce((a, b) => a + b, 0) / bf.length : NaN,
    images: r.images,
    msPerImage: { predict: tPredict / n, refine: tRefine / n },
  };
}
