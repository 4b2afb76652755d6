/**
 * `animeseg predict source=FILE|DIR|GLOB model=WEIGHTS`: instance segmentation of images into an ultralytics-style
 * run folder (`runs/segment/predict[N]/`): overlays, and on request YOLO txt labels, COCO results JSON, RGBA
 * cut-outs and binary mask PNGs. Batched, with a progress bar; re-running into the same folder (exist_ok=true)
 * skips images already finished.
 */
import * as path from "node:path";
import type { Command } from "../lib/cli/command.ts";
import { progress } from "../lib/cli/progress.ts";
import { initBackend, tf } from "../lib/backend/mod.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic.ts";
import { UserError } from "../lib/util/errors.ts";
import { type EngineName, openEngine } from "../lib/engine/mod.ts";
import { checkImgsz, predict, type Prediction, type RgbImage } from "../lib/yolo/predict.ts";
import {
  type CocoResult,
  cocoResults,
  cutout,
  decodeImageFile,
  imageIdOf,
  maskPng,
  renderOverlay,
  yoloTxt,
} from "../lib/yolo/outputs.ts";

const IMAGE_EXT = new Set([".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif"]);

function isImage(p: string): boolean {
  return IMAGE_EXT.has(path.extname(p).toLowerCase());
}

function walk(dir: string, out: string[]): void {
  for (const e of Deno.readDirSync(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory) walk(p, out);
    else if (e.isFile && isImage(p)) out.push(p);
  }
}

/** Glob pattern → RegExp over full paths: `**` any depth, `*` and `?` inside one path part. */
function globRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
      if (pattern[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Image files named by a file, a folder (recursive) or a glob pattern, sorted. */
export function resolveSources(source: string): string[] {
  const out: string[] = [];
  if (/[*?]/.test(source)) {
    const abs = path.resolve(source);
    const base = abs.slice(0, abs.search(/[*?]/));
    const root = base.endsWith("/") ? base : path.dirname(base);
    const re = globRegex(abs);
    const all: string[] = [];
    try {
      walk(root, all);
    } catch {
      throw new UserError("no such folder for the pattern", root);
    }
    for (const p of all) if (re.test(p)) out.push(p);
  } else {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(source);
    } catch {
      throw new UserError("no such file or folder", source);
    }
    if (st.isDirectory) walk(source, out);
    else if (isImage(source)) out.push(source);
    else throw new UserError(`not an image file (extensions: ${[...IMAGE_EXT].join(" ")})`, source);
  }
  if (out.length === 0) throw new UserError("no images found", source);
  return out.sort();
}

/** ultralytics `increment_path`: DIR, DIR2, DIR3, ... (DIR itself when exist_ok). */
export function runDir(project: string, name: string, existOk: boolean): string {
  const base = path.join(project, name);
  if (existOk) return base;
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (!exists(base)) return base;
  for (let n = 2;; n++) if (!exists(`${base}${n}`)) return `${base}${n}`;
}

function parseClasses(v: unknown): number[] | null {
  if (v === undefined || v === null || v === "") return null;
  const parts = String(v).replace(/[[\]\s]/g, "").split(",").filter((s) => s);
  const ids = parts.map(Number);
  if (ids.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new UserError(`option classes: '${v}' is not a list of ids`);
  }
  return ids;
}

interface Done {
  file: string;
  stem: string;
  n: number;
  coco?: CocoResult[];
}

/** Unique output stem per source file (same stems in different folders get a suffix). */
function stems(files: string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const s = path.basename(f, path.extname(f));
    const k = seen.get(s) ?? 0;
    seen.set(s, k + 1);
    return k === 0 ? s : `${s}_${k}`;
  });
}

export const command: Command = {
  name: "predict",
  summary: "segment instances in images with a YOLOv8-seg model; writes overlays, labels, crops, masks",
  options: {
    source: { type: "string", required: true, help: "image file, folder (recursive) or glob pattern" },
    model: { type: "string", required: true, help: "weights: ultralytics .pt, project checkpoint, or a scale name" },
    imgsz: { type: "number", default: 640, help: "inference size (pixels, rounded up to a multiple of 32)" },
    conf: { type: "number", default: 0.25, help: "confidence threshold" },
    iou: { type: "number", default: 0.7, help: "NMS IoU threshold" },
    max_det: { type: "number", default: 300, help: "maximum detections per image" },
    classes: { type: "string", help: "keep only these class ids, e.g. 0,2" },
    agnostic_nms: { type: "boolean", default: false, help: "class-agnostic NMS" },
    retina_masks: { type: "boolean", default: false, help: "masks from full-resolution logits" },
    batch: { type: "number", default: 1, help: "images per forward pass" },
    save: { type: "boolean", default: true, help: "save overlay images" },
    save_txt: { type: "boolean", default: false, help: "save YOLO-seg txt labels (labels/)" },
    save_conf: { type: "boolean", default: false, help: "append the score to txt label lines" },
    save_coco: { type: "boolean", default: false, help: "save COCO results JSON (predictions.json, RLE masks)" },
    save_crop: { type: "boolean", default: false, help: "save RGBA cut-outs per instance (crops/<class>/)" },
    save_masks: { type: "boolean", default: false, help: "save binary mask PNGs per instance (masks/)" },
    project: { type: "string", default: "runs/segment", help: "parent folder of runs" },
    name: { type: "string", default: "predict", help: "run folder name (numbered when it exists)" },
    exist_ok: { type: "boolean", default: false, help: "reuse the run folder; skip images already finished" },
    backend: { type: "string", help: "tfjs backend (wasm, cpu); default: the ladder" },
    refine: {
      type: "string",
      default: "none",
      choices: ["none", "vote", "box"],
      help: "refine the masks with Segment Anything (needs sam=)",
    },
    sam: { type: "string", help: "SAM / MobileSAM checkpoint for refine=vote|box" },
    engine: {
      type: "string",
      default: "auto",
      choices: ["auto", "ort", "tfjs"],
      help: "inference engine: ort (ONNX export in onnxruntime-node), tfjs, or auto (ort when it loads)",
    },
    quiet: { type: "boolean", default: false, help: "no progress bar" },
  },
  description: `examples:
  animeseg predict source=photo.jpg model=yolov8n-seg.pt
  animeseg predict source='data/images/*.png' model=best.pt imgsz=320 save_txt save_crop exist_ok=true`,
  async run(args) {
    const o = args.opts;
    // ultralytics style: a bare boolean option name (e.g. `save_txt`) means true
    for (const word of args.positional) {
      if (command.options[word]?.type === "boolean") o[word] = true;
      else throw new UserError(`unexpected argument '${word}' (see 'predict --help')`);
    }
    const batch = Math.floor(Number(o.batch));
    if (!(batch >= 1)) throw new UserError(`option batch: ${o.batch} must be >= 1`);
    for (const k of ["conf", "iou"]) {
      const v = Number(o[k]);
      if (!(v >= 0 && v <= 1)) throw new UserError(`option ${k}: ${v} must be in [0, 1]`);
    }
    const files = resolveSources(String(o.source));
    const names = stems(files);
    const dir = runDir(String(o.project), String(o.name), Boolean(o.exist_ok));
    const logFile = path.join(dir, "predictions.jsonl");
    const done = new Map<string, Done>();
    try {
      for (const line of (await Deno.readTextFile(logFile)).split("\n")) {
        if (!line.trim()) continue;
        try {
          const d = JSON.parse(line) as Done;
          done.set(d.file, d);
        } catch { /* a line cut by an interrupted run: that image is redone */ }
      }
    } catch { /* new run */ }
    const todo = files.map((f, i) => ({ file: path.resolve(f), stem: names[i] }))
      .filter((t) => !done.has(t.file) || (o.save_coco && !done.get(t.file)!.coco));
    if (done.size) {
      console.error(`predict: ${files.length - todo.length} of ${files.length} images already done in ${dir}`);
    }
    if (todo.length === 0) {
      if (o.save_coco) await writeCoco(dir, files, done);
      console.log(`predict: nothing to do; results in ${dir}`);
      return 0;
    }
    await initBackend(o.backend ? { backend: o.backend as "wasm" } : {});
    const opened = await openEngine(String(o.model), {
      engine: o.engine as EngineName,
      imgsz: checkImgsz(Number(o.imgsz)),
      verbose: !o.quiet,
    });
    if (opened.note && !o.quiet) console.error(`predict: ${opened.note}`);
    const model = opened.ort ?? opened.model;
    if (o.refine !== "none" && !o.sam) throw new UserError(`refine=${o.refine} needs sam=FILE`);
    const sam = o.refine !== "none" ? await (await import("../lib/sam/model.ts")).SamModel.load(String(o.sam)) : null;
    const { refine } = await import("../lib/refine/mod.ts");
    await Deno.mkdir(dir, { recursive: true });
    const bar = progress("predict", todo.length, "img", { quiet: Boolean(o.quiet) });
    const log = await Deno.open(logFile, { append: true, create: true });
    let instances = 0;
    const t0 = performance.now();
    const speed = { preprocess: 0, inference: 0, postprocess: 0 };
    try {
      for (let s = 0; s < todo.length; s += batch) {
        const chunk = todo.slice(s, s + batch);
        const imgs: RgbImage[] = [];
        for (const t of chunk) imgs.push(await decodeImageFile(t.file));
        const preds = await predict(model, imgs, {
          imgsz: Number(o.imgsz),
          conf: Number(o.conf),
          iou: Number(o.iou),
          maxDet: Number(o.max_det),
          classes: parseClasses(o.classes),
          agnostic: Boolean(o.agnostic_nms),
          retinaMasks: Boolean(o.retina_masks),
          batch,
        });
        for (let b = 0; b < chunk.length; b++) {
          if (sam) Object.assign(preds[b], refine(o.refine as "vote" | "box", sam, imgs[b], preds[b]));
          const rec = await writeOutputs(dir, chunk[b].file, chunk[b].stem, imgs[b], preds[b], o);
          await log.write(new TextEncoder().encode(JSON.stringify(rec) + "\n"));
          done.set(rec.file, rec);
          instances += preds[b].n;
          for (const k of ["preprocess", "inference", "postprocess"] as const) speed[k] += preds[b].speed[k];
          bar.tick(1, `${preds[b].n} instances`);
        }
      }
    } finally {
      bar.stop();
      log.close();
      sam?.dispose();
      await opened.dispose();
    }
    if (o.save_coco) await writeCoco(dir, files, done);
    const n = Math.max(todo.length, 1);
    console.log(
      `predict: ${todo.length} images, ${instances} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
        `(per image: preprocess ${(speed.preprocess / n).toFixed(1)} ms, inference ${
          (speed.inference / n).toFixed(1)
        } ms, postprocess ${
          (speed.postprocess / n).toFixed(1)
        } ms; engine ${opened.engine}, backend ${tf.getBackend()})`,
    );
    console.log(`results saved to ${dir}`);
    return 0;
  },
};

/** COCO results of every source file (this run's and earlier runs' records), in source order. */
async function writeCoco(dir: string, files: string[], done: Map<string, Done>): Promise<void> {
  const all: CocoResult[] = [];
  for (const f of files) all.push(...(done.get(path.resolve(f))?.coco ?? []));
  await writeJsonAtomic(path.join(dir, "predictions.json"), all);
}

async function writeOutputs(
  dir: string,
  file: string,
  stem: string,
  img: RgbImage,
  pred: Prediction,
  o: Record<string, unknown>,
): Promise<Done> {
  const [h, w] = pred.origHW;
  if (o.save) {
    const jpeg = /\.jpe?g$/i.test(file);
    await writeFileAtomic(path.join(dir, `${stem}${jpeg ? ".jpg" : ".png"}`), await renderOverlay(img, pred, { jpeg }));
  }
  if (o.save_txt) {
    await Deno.mkdir(path.join(dir, "labels"), { recursive: true });
    await writeFileAtomic(path.join(dir, "labels", `${stem}.txt`), yoloTxt(pred, Boolean(o.save_conf)));
  }
  for (let i = 0; i < pred.n; i++) {
    const cname = (pred.names[pred.cls[i]] ?? String(pred.cls[i])).replace(/[^\w.-]+/g, "_");
    if (o.save_crop) {
      await Deno.mkdir(path.join(dir, "crops", cname), { recursive: true });
      await writeFileAtomic(path.join(dir, "crops", cname, `${stem}_${i}.png`), await cutout(img, pred, i));
    }
    if (o.save_masks) {
      await Deno.mkdir(path.join(dir, "masks"), { recursive: true });
      await writeFileAtomic(path.join(dir, "masks", `${stem}_${i}_${cname}.png`), await maskPng(pred.masks[i], h, w));
    }
  }
  const rec: Done = { file, stem, n: pred.n };
  if (o.save_coco) rec.coco = cocoResults(pred, imageIdOf(stem));
  return rec;
}
