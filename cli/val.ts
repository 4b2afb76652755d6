/** `animeseg val`: validate a YOLOv8-seg checkpoint on a dataset split as ultralytics' SegmentationValidator does. */
import type { Command } from "../lib/cli/command.ts";
import { initBackend } from "../lib/backend/mod.ts";
import { type EngineName, openEngine } from "../lib/engine/mod.ts";
import { YoloSegDataset } from "../lib/dataset/yolo_dataset.ts";
import { formatTable, type MaskMode, validate } from "../lib/metrics/validate.ts";
import { writeValReport } from "../lib/metrics/report.ts";
import { progress } from "../lib/cli/progress.ts";
import { UserError } from "../lib/util/errors.ts";

/** Parse `classes=0,2` → [0, 2]; empty → null. */
export function parseClasses(v: unknown): number[] | null {
  if (v === undefined || v === null || v === "") return null;
  const out = String(v).split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (out.some((c) => !Number.isInteger(c) || c < 0)) throw new UserError(`classes: '${v}' is not a list of class ids`);
  return out;
}

/** `refine=vote|box`: YOLO predictions refined by SAM, scored at native resolution beside `refine=none`. */
async function valRefined(o: Record<string, unknown>, classes: number[] | null): Promise<number> {
  if (!o.sam) throw new UserError(`refine=${o.refine} needs sam=FILE (animeseg weights fetch mobile_sam)`);
  const { SamModel } = await import("../lib/sam/model.ts");
  const { evaluateRefinement } = await import("../lib/refine/evaluate.ts");
  const opened = await openEngine(String(o.model), {
    engine: o.engine as EngineName,
    imgsz: [o.imgsz as number, o.imgsz as number],
    verbose: !o.quiet,
  });
  const sam = await SamModel.load(String(o.sam));
  try {
    const rows = [];
    for (const method of ["none", o.refine] as ("none" | "vote" | "box")[]) {
      const r = await evaluateRefinement(opened.ort ?? opened.model, sam, String(o.data), o.split as "val", method, {
        imgsz: o.imgsz as number,
        conf: o.conf as number,
        iou: o.iou as number,
        maxDet: o.max_det as number,
        classes,
        onImage: (i, n) => {
          if (!o.quiet && (i === n || i % 10 === 0)) console.error(`  refine=${method}: ${i}/${n} images`);
        },
      });
      rows.push(r);
    }
    console.log("refine   box mAP50  box mAP50-95  mask mAP50  mask mAP50-95  boundary F  ms/img (predict+refine)");
    for (const r of rows) {
      console.log(
        `${r.method.padEnd(8)} ${r.box.mAP50.toFixed(4).padStart(9)} ${r.box["mAP50-95"].toFixed(4).padStart(13)} ${
          r.mask.mAP50.toFixed(4).padStart(11)
        } ${r.mask["mAP50-95"].toFixed(4).padStart(14)} ${r.boundaryF.toFixed(4).padStart(11)}  ${
          r.msPerImage.predict.toFixed(0)
        }+${r.msPerImage.refine.toFixed(0)}`,
      );
    }
    console.log(`(masks at native resolution; engine ${opened.engine}; SAM ${o.sam})`);
    if (o.out) {
      const { writeJsonAtomic } = await import("../lib/io/atomic.ts");
      await writeJsonAtomic(`${o.out}/refine_metrics.json`, rows);
      console.log(`wrote ${o.out}/refine_metrics.json`);
    }
  } finally {
    sam.dispose();
    await opened.dispose();
  }
  return 0;
}

export const command: Command = {
  name: "val",
  summary: "validate a model on a dataset split (ultralytics metrics; masks at proto or native resolution)",
  description: `Examples:
  animeseg val model=yolov8n-seg.pt data=coco128-seg.yaml imgsz=640 batch=4
  animeseg val model=best.pt data=anime.yaml split=test masks=both out=runs/val/anime
  animeseg val model=yolov8n-seg-coco.pt data=anime.yaml classes=0   (COCO person scored as class 0)

masks=proto matches masks at prototype resolution (H/4 x W/4), exactly as ultralytics reports;
masks=native at the original image resolution; masks=both reports both (the table gains Native columns).
classes=a,b keeps only those model classes after NMS and scores class a as dataset class 0, b as 1, ...`,
  options: {
    model: { type: "string", required: true, help: "checkpoint (.pt, project checkpoint, npy folder)" },
    data: { type: "string", required: true, help: "dataset YAML" },
    split: { type: "string", default: "val", choices: ["train", "val", "test"], help: "split to evaluate" },
    imgsz: { type: "number", default: 640, help: "image size (long side)" },
    batch: { type: "number", default: 4, help: "batch size (also sets rect batch shapes)" },
    rect: { type: "boolean", default: true, help: "rectangular batches as ultralytics' val loader" },
    conf: { type: "number", default: 0.001, help: "NMS confidence threshold" },
    iou: { type: "number", default: 0.7, help: "NMS IoU threshold" },
    max_det: { type: "number", default: 300, help: "detections per image" },
    masks: { type: "string", default: "proto", choices: ["proto", "native", "both"], help: "mask resolution" },
    classes: { type: "string", help: "model classes to keep, mapped in order to dataset classes 0,1,..." },
    out: { type: "string", help: "folder for metrics.json, per_class.csv, PR curves and the worst-image gallery" },
    gallery: { type: "number", default: 8, help: "worst images to draw into out/worst (0: none)" },
    engine: {
      type: "string",
      default: "auto",
      choices: ["auto", "tfjs", "ort"],
      help:
        "inference engine: auto (ort when onnxruntime-node loads), tfjs (the project's model), ort (its ONNX export)",
    },
    quiet: { type: "boolean", default: false, help: "no progress bar" },
    refine: {
      type: "string",
      default: "none",
      choices: ["none", "vote", "box"],
      help: "score YOLO + SAM refinement at native resolution (needs sam=); none keeps ultralytics' validator",
    },
    sam: { type: "string", help: "SAM / MobileSAM checkpoint for refine=vote|box (animeseg weights fetch mobile_sam)" },
  },
  async run(args) {
    const o = args.opts;
    await initBackend();
    const classes = parseClasses(o.classes);
    if (o.refine !== "none") return await valRefined(o, classes);
    const opened = await openEngine(String(o.model), {
      engine: o.engine as EngineName,
      imgsz: [o.imgsz as number, o.imgsz as number],
      verbose: !o.quiet,
    });
    if (opened.note && !o.quiet) console.error(`val: ${opened.note}`);
    const model = opened.model;
    const ort = opened.ort;
    const t0 = performance.now();
    const ds = await YoloSegDataset.open(String(o.data), o.split as "val", {
      imgsz: o.imgsz as number,
      batch: o.batch as number,
      rect: o.rect as boolean,
    });
    const bar = progress("val", ds.length, "img", { quiet: o.quiet as boolean });
    let last = 0;
    const r = await validate(model, ds, {
      conf: o.conf as number,
      iou: o.iou as number,
      maxDet: o.max_det as number,
      masks: o.masks as MaskMode,
      classes,
      verbose: false,
      ...(ort ? { engine: (x: Float32Array, B: number, H: number, W: number) => ort.runArrays(x, B, H, W) } : {}),
      onProgress: (d) => {
        bar.tick(d - last);
        last = d;
      },
    });
    bar.stop();
    console.log(formatTable(r));
    console.log(
      `validated ${r.images} images in ${((performance.now() - t0) / 1000).toFixed(1)} s (engine ${opened.engine})`,
    );
    if (o.out) {
      const files = await writeValReport(String(o.out), r, {
        model,
        dataset: ds,
        gallery: o.gallery as number,
        classes,
      });
      console.log(`wrote ${files.length} files to ${o.out}`);
    }
    await opened.dispose();
    return 0;
  },
};
