/**
 * The real steps of the ablation runner, bound to the project's modules: dataset synthesis (`lib/data`), training
 * (`lib/train`), evaluation with native- and proto-resolution masks (`lib/metrics/validate.ts`, on the fastest
 * engine: onnxruntime when it loads, else tfjs), optional SAM refinement, PR curves and a prediction gallery per run.
 * Also the demo's entry points (`runConfiguredAblation`, `runDemoAblation`) and the command-line overrides.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { backendInfo, initBackend } from "../backend/mod.ts";
import { buildDemoDatasets } from "../data/builtin.ts";
import { readYoloDataset } from "../data/yolo.ts";
import { validate, type ValResult } from "../metrics/validate.ts";
import { openEngine } from "../engine/mod.ts";
import { predict } from "../yolo/predict.ts";
import { decodeImage, drawInstances, encodePng } from "../image/mod.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { UserError } from "../util/errors.ts";
import { type AblationConfig, loadAblationConfig } from "./config.ts";
import { type AblationSteps, type DatasetPaths, type EvalOutcome, runAblation, type TrainOutcome } from "./runner.ts";
import type { BoxMask, MetricBlock } from "./summary.ts";
import { trainForAblation } from "./train_step.ts";
import { evaluateRefinement } from "../refine/evaluate.ts";
import type { SamModel } from "../sam/model.ts";
import { existsSync } from "../util/fs.ts";

const samCache = new Map<string, SamModel>();

/** SAM weights by file, or by registry name (downloaded on first use: sam_vit_b|l|h, mobile_sam). */
async function loadSam(spec: string): Promise<SamModel> {
  const hit = samCache.get(spec);
  if (hit) return hit;
  let file = spec;
  if (!existsSync(spec)) {
    const { fetchWeights } = await import("../io/weights.ts");
    file = await fetchWeights(spec);
  }
  const { SamModel } = await import("../sam/model.ts");
  const m = await SamModel.load(file);
  samCache.set(spec, m);
  return m;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Overrides for a tiny smoke run (CI, `quick=true`): a few images, one short epoch. */
export const QUICK_OVERRIDES = {
  seeds: [0, 1],
  data: { nTrain: 8, nTest: 4, imgsz: 96 },
  train: { epochs: 1, imgsz: 64, batch: 4, maxMinutes: 0.5, extra: { nbs: 4, warmupEpochs: 0 } },
  eval: { imgsz: 64 },
};

/** Command-line options (seeds, epochs, imgsz, weights, sam, name, quick) as config overrides. */
export function ablationOverrides(o: Record<string, unknown>): Record<string, unknown> {
  const over: Record<string, unknown> = o.quick ? structuredClone(QUICK_OVERRIDES) : {};
  if (o.seeds !== undefined) {
    const seeds = String(o.seeds).split(",").map((s) => Number(s.trim()));
    if (seeds.some((s) => !Number.isInteger(s))) throw new UserError(`seeds '${o.seeds}' is not a list of integers`);
    over.seeds = seeds;
  }
  const train = (over.train ?? {}) as Record<string, unknown>;
  const ev = (over.eval ?? {}) as Record<string, unknown>;
  if (o.epochs !== undefined) train.epochs = o.epochs;
  if (o.imgsz !== undefined) train.imgsz = ev.imgsz = o.imgsz;
  if (Object.keys(train).length) over.train = train;
  if (Object.keys(ev).length) over.eval = ev;
  if (o.weights !== undefined) over.model = { weights: o.weights };
  if (o.sam !== undefined) over.sam = o.sam;
  if (o.name !== undefined) over.name = o.name;
  else if (o.quick) over.name = "demo-quick";
  return over;
}

async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: ROOT, stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

function block(m: { P: number; R: number; mAP50: number; "mAP50-95": number }): MetricBlock {
  return { P: m.P, R: m.R, mAP50: m.mAP50, "mAP50-95": m["mAP50-95"] };
}

/** Mean over classes of the IoU-0.5 precision curve on the recall grid (for the PR plot). */
function prCurve(v: ValResult): { recall: number[]; precision: number[] } | null {
  const c = v.curves.maskNative ?? v.curves.mask;
  if (!c || !c.precValues.length) return null;
  const n = c.x.length;
  const prec = new Array(n).fill(0);
  for (const row of c.precValues) for (let i = 0; i < n; i++) prec[i] += (row[i] ?? 0) / c.precValues.length;
  // thin to 200 points: the plot does not need 1000
  const step = Math.max(1, Math.floor(n / 200));
  const idx = Array.from({ length: Math.ceil(n / step) }, (_, k) => Math.min(n - 1, k * step));
  return { recall: idx.map((i) => c.x[i]), precision: idx.map((i) => prec[i]) };
}

/** The project's steps for `runAblation`. */
export function projectSteps(): AblationSteps {
  return {
    async buildDatasets(cfg: AblationConfig, dir: string): Promise<DatasetPaths> {
      if (cfg.data.src) {
        throw new UserError(
          `data.src '${cfg.data.src}': building the ablation from a SkyTNT folder is done with 'animeseg data synth'; ` +
            "point data.test and the trainer at those YAMLs (built-in data is the default)",
        );
      }
      const d = await buildDemoDatasets(dir, {
        seed: cfg.data.seed,
        nTrain: cfg.data.nTrain,
        nTest: cfg.data.nTest,
        imgsz: cfg.data.imgsz,
        cocoPersonYaml: cfg.data.cocoPerson ?? undefined,
        personClass: cfg.model.personClass,
      });
      return { ...d, test: cfg.data.test ?? d.test };
    },
    train(a): Promise<TrainOutcome> {
      return trainForAblation(a);
    },
    async evaluate(a): Promise<EvalOutcome> {
      const t0 = performance.now();
      const imgsz = a.cfg.eval.imgsz;
      const eng = await openEngine(a.weights, { engine: "auto", imgsz: [imgsz, imgsz] });
      const valDir = path.join(a.runDir, `val-${a.refine}`);
      // ultralytics' validator on the test set with this run's settings, on the engine opened above
      const runValidate = (masks: "proto" | "both") =>
        validate(eng.model, a.test, {
          split: "val",
          imgsz,
          batch: 4,
          conf: a.cfg.eval.conf,
          iou: a.cfg.eval.iou,
          masks,
          classes: a.classMap === null ? null : [a.classMap],
          engine: eng.ort ? (x, B, H, W) => eng.ort!.runArrays(x, B, H, W) : undefined,
          verbose: false,
        });
      try {
        if (a.cfg.sam) {
          // with SAM weights every row (none too) is scored by the same native-resolution evaluator, so the
          // refinement gain is measured on one footing; ultralytics' proto-resolution figure is added for `none`
          const sam = await loadSam(a.cfg.sam);
          const r = await evaluateRefinement(eng.ort ?? eng.model, sam, a.test, "val", a.refine, {
            imgsz,
            conf: a.cfg.eval.conf,
            iou: a.cfg.eval.iou,
            classes: a.classMap === null ? null : [a.classMap],
          });
          let proto: BoxMask | null = null;
          if (a.refine === "none") {
            const v = await runValidate("proto");
            proto = { box: block(v.box), mask: block(v.mask) };
          }
          const native: BoxMask = { box: block(r.box), mask: block(r.mask), boundaryF: r.boundaryF };
          await writeJsonAtomic(path.join(valDir, "metrics.json"), {
            box: native.box,
            mask: native.mask,
            boundaryF: r.boundaryF,
            mask_proto: proto?.mask ?? null,
            ms_per_image: r.msPerImage,
            engine: eng.engine,
            sam: a.cfg.sam,
          });
          return { native, proto, engine: eng.engine, seconds: (performance.now() - t0) / 1000 };
        }
        const v = await runValidate("both");
        const native: BoxMask = { box: block(v.box), mask: block(v.maskNative ?? v.mask) };
        const proto: BoxMask = { box: block(v.box), mask: block(v.mask) };
        await writeJsonAtomic(path.join(valDir, "metrics.json"), {
          box: native.box,
          mask: native.mask,
          mask_proto: proto.mask,
          engine: eng.engine,
          settings: v.settings,
        });
        const pr = prCurve(v);
        if (pr) await writeJsonAtomic(path.join(valDir, "pr.json"), pr);
        await saveGallery(eng.model, a.test, path.join(valDir, "gallery"), imgsz, a.classMap);
        return { native, proto, engine: eng.engine, seconds: (performance.now() - t0) / 1000 };
      } finally {
        await eng.dispose();
      }
    },
    async environment() {
      const b = backendInfo() ?? await initBackend();
      return { backend: `${b.name} (${b.detail})`, commit: await gitCommit() };
    },
  };
}

/** Overlays of the model's predictions on the first test images (same images for every variant). */
async function saveGallery(
  model: Parameters<typeof predict>[0],
  testYaml: string,
  dir: string,
  imgsz: number,
  classMap: number | null,
  count = 4,
): Promise<void> {
  const ds = await readYoloDataset(testYaml, "val");
  const items = ds.items.slice(0, count);
  const images = await Promise.all(items.map((it) => decodeImage(it.imageFile)));
  const preds = await predict(model, images, {
    imgsz,
    conf: 0.25,
    classes: classMap === null ? null : [classMap],
  });
  for (let i = 0; i < items.length; i++) {
    const p = preds[i];
    const boxes: number[][] = [];
    for (let k = 0; k < p.n; k++) boxes.push(Array.from(p.boxes.subarray(4 * k, 4 * k + 4)));
    const labels = Array.from(p.conf, (c) => c.toFixed(2));
    const drawn = await drawInstances(images[i], p.masks, boxes, labels);
    await writeFileAtomic(
      path.join(dir, path.basename(items[i].imageFile).replace(/\.[^.]+$/, ".png")),
      await encodePng(drawn),
    );
  }
}

/** Run an ablation with the project's steps; `pretrained` = "true" downloads yolov8n-seg, or names a local file. */
export async function runConfiguredAblation(
  cfg: AblationConfig,
  opts: { pretrained?: string } = {},
): Promise<{ dir: string }> {
  await initBackend();
  if (opts.pretrained && opts.pretrained !== "false") {
    if (opts.pretrained === "true") {
      const { fetchWeights } = await import("../io/weights.ts");
      cfg.model.weights = await fetchWeights(`yolov8${cfg.model.scale}-seg`);
    } else cfg.model.weights = opts.pretrained;
  }
  const { dir } = await runAblation(cfg, projectSteps(), { root: ROOT });
  return { dir };
}

/** Run the demo preset into `dir` (its basename is the ablation name); `quick` uses the tiny budget. */
export async function runDemoAblation(opts: { dir: string; quick: boolean }): Promise<void> {
  const over: Record<string, unknown> = opts.quick ? structuredClone(QUICK_OVERRIDES) : {};
  over.name = path.basename(opts.dir);
  const cfg = await loadAblationConfig("demo", over);
  await initBackend();
  await runAblation(cfg, projectSteps(), { root: ROOT, dir: opts.dir });
}
