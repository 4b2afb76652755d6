/**
 * `animeseg refine source=... model=YOLO sam=SAM method=vote|box`: YOLOv8-seg predictions refined with Segment
 * Anything (lib/refine): writes before/after overlays, optional mask PNGs, and `refine.json` with per-image
 * instance counts, changed-pixel fractions and times per stage, into `runs/segment/refine[N]/`.
 */
import * as path from "node:path";
import type { Command } from "../lib/cli/command.ts";
import { initBackend } from "../lib/backend/mod.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic.ts";
import { UserError } from "../lib/util/errors.ts";
import { loadYoloModel } from "../lib/yolo/load.ts";
import { predict, type Prediction } from "../lib/yolo/predict.ts";
import { decodeImageFile, maskPng, renderOverlay } from "../lib/yolo/outputs.ts";
import { SamModel } from "../lib/sam/model.ts";
import { refine, type RefineMethod } from "../lib/refine/mod.ts";
import { resolveSources, runDir } from "./predict.ts";

export const command: Command = {
  name: "refine",
  summary: "refine YOLO instance masks with Segment Anything (method=vote|box); writes before/after overlays",
  options: {
    source: { type: "string", required: true, help: "image file, folder (recursive) or glob pattern" },
    model: { type: "string", required: true, help: "YOLO weights: ultralytics .pt, project checkpoint, or scale name" },
    sam: {
      type: "string",
      required: true,
      help: "SAM checkpoint (.pth/.pt: ViT-B/L/H or MobileSAM) or fixture folder",
    },
    method: { type: "string", default: "vote", choices: ["vote", "box", "none"], help: "refinement method" },
    imgsz: { type: "number", default: 640, help: "YOLO inference size" },
    conf: { type: "number", default: 0.25, help: "YOLO confidence threshold" },
    iou: { type: "number", default: 0.7, help: "YOLO NMS IoU threshold" },
    max_side: { type: "number", default: 1920, help: "vote: longest side of the image given to the SAM AMG" },
    points_per_side: { type: "number", default: 32, help: "vote: AMG point grid per side" },
    share: { type: "number", default: 0.3, help: "vote: min share of a SAM mask inside the eroded YOLO foreground" },
    min_iou: { type: "number", default: 0.5, help: "box: keep YOLO's mask when SAM's best IoU is below this" },
    save_masks: { type: "boolean", default: false, help: "save refined binary mask PNGs (masks/)" },
    project: { type: "string", default: "runs/segment", help: "parent folder of runs" },
    name: { type: "string", default: "refine", help: "run folder name (numbered when it exists)" },
    exist_ok: { type: "boolean", default: false, help: "reuse the run folder" },
  },
  description: `examples:
  animeseg refine source=img.png model=best.pt sam=mobile_sam.pt method=box
  animeseg refine source=data/test model=best.pt sam=sam_vit_l_0b3195.pth method=vote save_masks`,
  async run(args) {
    const o = args.opts;
    for (const word of args.positional) {
      if (command.options[word]?.type === "boolean") o[word] = true;
      else throw new UserError(`unexpected argument '${word}' (see 'refine --help')`);
    }
    const method = String(o.method) as RefineMethod;
    await initBackend();
    const files = resolveSources(String(o.source));
    const yolo = await loadYoloModel(String(o.model));
    const sam = await SamModel.load(String(o.sam));
    const dir = runDir(String(o.project), String(o.name), Boolean(o.exist_ok));
    await Deno.mkdir(dir, { recursive: true });
    const summary: Record<string, unknown>[] = [];
    for (const f of files) {
      const stem = path.basename(f, path.extname(f));
      const img = await decodeImageFile(f);
      const t0 = performance.now();
      const [pred] = await predict(yolo, [img], { imgsz: Number(o.imgsz), conf: Number(o.conf), iou: Number(o.iou) });
      const t1 = performance.now();
      const ref = refine(method, sam, img, pred, {
        maxSide: Number(o.max_side),
        amg: { pointsPerSide: Number(o.points_per_side) },
        vote: { shareThresh: Number(o.share) },
        box: { minIou: Number(o.min_iou) },
      });
      const t2 = performance.now();
      const after: Prediction = { ...pred, boxes: ref.boxes, conf: ref.conf, cls: ref.cls, masks: ref.masks, n: ref.n };
      await writeFileAtomic(path.join(dir, `${stem}_yolo.png`), await renderOverlay(img, pred));
      await writeFileAtomic(path.join(dir, `${stem}_${method}.png`), await renderOverlay(img, after));
      if (o.save_masks) {
        await Deno.mkdir(path.join(dir, "masks"), { recursive: true });
        for (let i = 0; i < after.n; i++) {
          const p = path.join(dir, "masks", `${stem}_${i}.png`);
          await writeFileAtomic(p, await maskPng(after.masks[i], img.height, img.width));
        }
      }
      const changed = pred.masks.map((m, i) => {
        let d = 0;
        for (let k = 0; k < m.length; k++) if (m[k] !== after.masks[i][k]) d++;
        return d / m.length;
      });
      summary.push({ image: f, n: pred.n, changed_fraction: changed, ms: { yolo: t1 - t0, refine: t2 - t1 } });
      console.log(
        `${stem}: ${pred.n} instances, yolo ${(t1 - t0).toFixed(0)} ms, ${method} ${(t2 - t1).toFixed(0)} ms`,
      );
    }
    await writeJsonAtomic(path.join(dir, "refine.json"), { method, sam: String(o.sam), images: summary });
    sam.dispose();
    console.log(`results saved to ${dir}`);
    return 0;
  },
};
