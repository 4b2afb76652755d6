/** `animeseg eval`: score predictions made elsewhere (COCO results JSON or YOLO txt) against a ground truth. */
import type { Command } from "../lib/cli/command.ts";
import * as path from "node:path";
import { writeJsonAtomic } from "../lib/io/atomic.ts";
import { UserError } from "../lib/util/errors.ts";
import {
  COCO_STAT_NAMES,
  cocoEvaluate,
  defaultParams,
  formatCocoStats,
  readCocoJson,
  readCocoResults,
} from "../lib/metrics/coco.ts";
import { evaluatePredictionDir } from "../lib/metrics/evaluate.ts";
import { fmtG } from "../lib/metrics/validate.ts";

export const command: Command = {
  name: "eval",
  summary: "evaluate external predictions (COCO results JSON or YOLO txt) against a ground truth",
  description: `Examples:
  animeseg eval gt=instances_val.json pred=results.json            (pycocotools COCOeval: segm, and bbox when present)
  animeseg eval gt=data.yaml split=val pred=runs/predict/labels    (ultralytics AP; masks at native resolution)

YOLO txt predictions: one file per image, lines 'cls x1 y1 ... xn yn [conf]' (normalised, ultralytics save_txt
with save_conf). COCO results: [{image_id, category_id, score, segmentation: RLE | bbox}].`,
  options: {
    gt: { type: "string", required: true, help: "COCO GT JSON, or a dataset YAML" },
    pred: { type: "string", required: true, help: "COCO results JSON, or a folder of YOLO txt predictions" },
    split: { type: "string", default: "val", choices: ["train", "val", "test"], help: "split (dataset YAML)" },
    iou_type: { type: "string", default: "auto", choices: ["auto", "segm", "bbox", "both"], help: "COCO IoU type" },
    out: { type: "string", help: "write metrics.json here" },
  },
  async run(args) {
    const gt = String(args.opts.gt), pred = String(args.opts.pred);
    let report: Record<string, unknown>;
    if (gt.toLowerCase().endsWith(".json")) {
      const g = await readCocoJson(gt);
      const r = await readCocoResults(pred);
      let types: ("segm" | "bbox")[];
      const t = String(args.opts.iou_type);
      if (t === "auto") {
        types = [];
        if (r.some((x) => x.segmentation)) types.push("segm");
        if (r.every((x) => x.bbox)) types.push("bbox");
        if (!types.length) throw new UserError("results have neither segmentation nor bbox", pred);
      } else types = t === "both" ? ["segm", "bbox"] : [t as "segm" | "bbox"];
      report = {};
      for (const ty of types) {
        const res = cocoEvaluate(g, r, defaultParams(ty), { gt, results: pred });
        console.log(formatCocoStats(res.stats, ty));
        report[ty] = Object.fromEntries(COCO_STAT_NAMES.map((n, i) => [n, res.stats[i]]));
      }
    } else {
      try {
        if (!(await Deno.stat(pred)).isDirectory) throw new Error();
      } catch {
        throw new UserError("expected a folder of YOLO txt prediction files", pred);
      }
      const r = await evaluatePredictionDir(gt, args.opts.split as "val", pred);
      const g = (v: number) => fmtG(v, 3).padStart(11);
      console.log(
        "Class".padStart(22) +
          ["Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)", "Mask(P", "R", "mAP50", "mAP50-95)"]
            .map((s) => s.padStart(11)).join(""),
      );
      const row = (n: string, im: string, inst: number, b: typeof r.box | typeof r.perClass[0]["box"], m: typeof b) =>
        n.padStart(22) + im.padStart(11) + String(inst).padStart(11) + g(b.P) + g(b.R) + g(b.mAP50) + g(b["mAP50-95"]) +
        g(m.P) + g(m.R) + g(m.mAP50) + g(m["mAP50-95"]);
      console.log(row("all", String(r.images), r.instances, r.box, r.mask));
      for (const c of r.perClass) console.log(row(c.name, "", c.instances, c.box, c.mask));
      if (r.missingPredictions) console.log(`${r.missingPredictions} images had no prediction file (no detections)`);
      const pick = (m: typeof r.box) => ({ P: m.P, R: m.R, mAP50: m.mAP50, "mAP50-95": m["mAP50-95"] });
      report = {
        box: pick(r.box),
        mask: pick(r.mask),
        images: r.images,
        instances: r.instances,
        per_class: Object.fromEntries(
          r.perClass.map((c) => [c.name, { box: c.box, mask: c.mask, instances: c.instances }]),
        ),
      };
    }
    if (args.opts.out) {
      await writeJsonAtomic(path.join(String(args.opts.out), "metrics.json"), report);
      console.log(`wrote ${path.join(String(args.opts.out), "metrics.json")}`);
    }
    return 0;
  },
};
