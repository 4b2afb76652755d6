/**
 * The training loop as ultralytics 8.2 `BaseTrainer` / `SegmentationTrainer`: dataset + augmentation, model from
 * scratch or transferred from a checkpoint (shape-matching tensors kept; optional `initClsFrom` copies one class's
 * classifier rows into every new class), optimiser groups with warmup and lr schedule, gradient accumulation to nbs,
 * clip 10, EMA, validation of the EMA each epoch, `runs/segment/<name>/` with args.json, results.csv, weights/last
 * and weights/best (project checkpoint format), and exact resume (model, EMA, optimiser, accumulated gradients,
 * scheduler position; sample randomness is a function of (seed, epoch, index)).
 */
import * as path from "node:path";
import { initBackend, tf } from "../backend/mod.ts";
import { loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import type { StateDict } from "../io/torch.ts";
import { UserError } from "../util/errors.ts";
import { YoloSegDataset } from "../dataset/yolo_dataset.ts";
import { loadYoloModel } from "../yolo/load.ts";
import { YoloSegModel } from "../yolo/model.ts";
import { validate, type ValResult } from "../metrics/validate.ts";
import { progress } from "../cli/progress.ts";
import { makeRng } from "../data/rng.ts";
import { DEFAULT_AUGMENT, type Labeled, loadLabeled, previewBatch, type TrainSample, trainSample } from "./augment.ts";
import { encodePng } from "../image/codec.ts";
import { type SegBatch, segLoss } from "./loss.ts";
import {
  accumulationAndDecay,
  applyWarmup,
  clipGradNorm,
  lrLambda,
  Optimizer,
  type OptimizerState,
  resolveOptimizer,
  warmupIterations,
} from "./optim.ts";
import { ModelEMA } from "./ema.ts";

/** Training options: ultralytics argument names (camelCase here; the CLI accepts snake_case) and defaults. */
export interface TrainOptions {
  data: string;
  /** `.pt` / project checkpoint / npy folder / `yolov8n-seg.yaml` / scale letter */
  model: string;
  epochs: number;
  imgsz: number;
  /** -1: AutoBatch idea (falls back to 16 where memory cannot be read) */
  batch: number;
  lr0: number;
  lrf: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
  warmupMomentum: number;
  warmupBiasLr: number;
  optimizer: string;
  cosLr: boolean;
  closeMosaic: number;
  nbs: number;
  seed: number;
  name: string;
  project: string;
  existOk: boolean;
  /** true: continue the run `project/name`; or a path to a run folder / its weights/last */
  resume: boolean | string;
  /** initialise every new class's classifier rows from this class of the checkpoint (-1: off) */
  initClsFrom: number;
  box: number;
  cls: number;
  dfl: number;
  hsvH: number;
  hsvS: number;
  hsvV: number;
  degrees: number;
  translate: number;
  scale: number;
  shear: number;
  perspective: number;
  flipud: number;
  fliplr: number;
  mosaic: number;
  /** wall-clock budget in hours (ultralytics `time`), 0 = off */
  time: number;
  /** wall-clock budget in minutes (adds to `time`), 0 = off */
  maxMinutes: number;
  /** validate every epoch (the final epoch is always validated) */
  val: boolean;
  /** fraction of the training set used */
  fraction: number;
  /** stop after this many batches per epoch (0 = all); for tests and demos */
  maxBatches: number;
  /** validation batch size */
  valBatch: number;
  /** dataset YAML to validate on (its `val` split); default: `data` */
  valData: string;
  quiet: boolean;
  /** called after each epoch with the results row */
  onEpoch?: (row: Record<string, number>) => void;
  /** called after each batch (epoch, batch index, loss items) */
  onBatch?: (epoch: number, i: number, items: Float32Array) => void;
}

export const TRAIN_DEFAULTS: Omit<TrainOptions, "data" | "model"> = {
  epochs: 100,
  imgsz: 640,
  batch: 16,
  lr0: 0.01,
  lrf: 0.01,
  momentum: 0.937,
  weightDecay: 0.0005,
  warmupEpochs: 3.0,
  warmupMomentum: 0.8,
  warmupBiasLr: 0.1,
  optimizer: "auto",
  cosLr: false,
  closeMosaic: 10,
  nbs: 64,
  seed: 0,
  name: "train",
  project: "runs/segment",
  existOk: false,
  resume: false,
  initClsFrom: -1,
  box: 7.5,
  cls: 0.5,
  dfl: 1.5,
  ...{
    hsvH: DEFAULT_AUGMENT.hsvH,
    hsvS: DEFAULT_AUGMENT.hsvS,
    hsvV: DEFAULT_AUGMENT.hsvV,
    degrees: DEFAULT_AUGMENT.degrees,
    translate: DEFAULT_AUGMENT.translate,
    scale: DEFAULT_AUGMENT.scale,
    shear: DEFAULT_AUGMENT.shear,
    perspective: DEFAULT_AUGMENT.perspective,
    flipud: DEFAULT_AUGMENT.flipud,
    fliplr: DEFAULT_AUGMENT.fliplr,
    mosaic: DEFAULT_AUGMENT.mosaic,
  },
  time: 0,
  maxMinutes: 0,
  val: true,
  fraction: 1.0,
  maxBatches: 0,
  valBatch: 8,
  valData: "",
  quiet: false,
};

/** What `train` returns. */
export interface TrainResult {
  runDir: string;
  /** checkpoint paths without extension */
  best: string;
  last: string;
  /** one row per epoch (results.csv) */
  results: Record<string, number>[];
}

const LOSS_NAMES = ["box_loss", "seg_loss", "cls_loss", "dfl_loss"];

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function gitCommit(): Promise<string> {
  try {
    const here = path.dirname(new URL(import.meta.url).pathname);
    const out = await new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd: here, stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

async function newRunDir(project: string, name: string, existOk: boolean): Promise<string> {
  let dir = path.resolve(project, name);
  if (!existOk) {
    for (let k = 2; await exists(dir); k++) dir = path.resolve(project, `${name}${k}`);
  }
  await Deno.mkdir(path.join(dir, "weights"), { recursive: true });
  return dir;
}

/** Run `fn` with Math.random drawn from a seeded generator (tfjs random initialisers seed from Math.random). */
async function withSeededRandom<T>(seed: number, fn: () => Promise<T>): Promise<T> {
  const orig = Math.random;
  const r = makeRng(seed, 0x1a17);
  Math.random = () => r.next();
  try {
    return await fn();
  } finally {
    Math.random = orig;
  }
}

/**
 * The model to train for `nc` classes from `spec`: as is when the class count matches, else a fresh model of the same
 * scale with every shape-matching tensor transferred (ultralytics `intersect_dicts`); `initClsFrom` >= 0 copies that
 * checkpoint class's rows of the class-output convs (`model.22.cv3.i.2`) into every new class.
 */
export async function buildModel(
  spec: string,
  nc: number,
  names: string[],
  initClsFrom: number,
  quiet: boolean,
): Promise<YoloSegModel> {
  const namesRec = Object.fromEntries(names.map((n, i) => [i, n]));
  const src = await loadYoloModel(spec, { nc, names: namesRec, verbose: false });
  if (src.nc === nc) {
    src.names = namesRec;
    return src;
  }
  const model = YoloSegModel.create({ scale: src.scale, nc, names: namesRec });
  const sd = src.stateDict();
  const rep = model.loadStateDict(sd, { quiet: true });
  if (!quiet) console.log(`Transferred ${rep.transferred}/${rep.total} items from pretrained weights (${spec})`);
  if (initClsFrom >= 0) {
    if (initClsFrom >= src.nc) {
      throw new UserError(`init_cls_from=${initClsFrom} but the checkpoint has ${src.nc} classes`);
    }
    const patch: StateDict = new Map();
    const target = new Map([...model.stateDict()].filter(([k]) => /\.cv3\.\d+\.2\./.test(k)));
    let partial = false;
    for (const [k, rec] of sd) {
      const m = /^model\.(\d+)\.cv3\.(\d+)\.2\.(weight|bias)$/.exec(k);
      const want = target.get(k);
      if (!m || !want) continue;
      const per = rec.data.length / src.nc, perNew = want.data.length / nc;
      if (per !== perNew) {
        partial = true; // the class branch's hidden width depends on nc (n scale, nc < 64): it was re-initialised
        continue;
      }
      const data = new Float32Array(per * nc);
      const row = (rec.data as Float32Array).subarray(initClsFrom * per, (initClsFrom + 1) * per);
      for (let c = 0; c < nc; c++) data.set(row, c * per);
      patch.set(k, { shape: want.shape, dtype: "float32", data });
    }
    if (partial && !quiet) {
      console.log(
        `init_cls_from: the class branch width differs from the checkpoint (${src.describe()} → nc=${nc}); ` +
          "only the class biases were copied",
      );
    }
    model.loadStateDict(patch, { quiet: true });
    if (!quiet) console.log(`Initialised ${nc} classifier row(s) from checkpoint class ${initClsFrom}`);
  }
  src.dispose();
  return model;
}

/** Stack samples into the model input and the loss batch. */
function collate(samples: TrainSample[]): { img: tf.Tensor4D; batch: SegBatch } {
  const B = samples.length, H = samples[0].img.height, W = samples[0].img.width;
  const x = new Float32Array(B * H * W * 3);
  samples.forEach((s, b) => {
    const d = s.img.data, o = b * H * W * 3;
    for (let i = 0; i < d.length; i++) x[o + i] = d[i] / 255;
  });
  const cls: number[] = [], bidx: number[] = [], boxes: number[] = [];
  samples.forEach((s, b) => {
    s.cls.forEach((c, k) => {
      cls.push(c);
      bidx.push(b);
      boxes.push(...s.bboxes.subarray(4 * k, 4 * k + 4));
    });
  });
  const [mh, mw] = samples[0].maskHW;
  const masks = new Float32Array(B * mh * mw);
  samples.forEach((s, b) => masks.set(s.masks, b * mh * mw));
  return {
    img: tf.tensor4d(x, [B, H, W, 3]),
    batch: { cls, bboxes: Float32Array.from(boxes), batchIdx: bidx, masks, masksShape: [B, mh, mw] },
  };
}

function resultsCsv(rows: Record<string, number>[]): string {
  if (!rows.length) return "";
  const keys = Object.keys(rows[0]);
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(6));
  return [
    keys.map((k) => k.padStart(24)).join(","),
    ...rows.map((r) => keys.map((k) => fmt(r[k]).padStart(24)).join(",")),
  ]
    .join("\n") + "\n";
}

function metricsRow(v: ValResult | null): Record<string, number> {
  const z = { P: 0, R: 0, mAP50: 0, "mAP50-95": 0 };
  const b = v?.box ?? z, m = v?.mask ?? z;
  return {
    "metrics/precision(B)": b.P,
    "metrics/recall(B)": b.R,
    "metrics/mAP50(B)": b.mAP50,
    "metrics/mAP50-95(B)": b["mAP50-95"],
    "metrics/precision(M)": m.P,
    "metrics/recall(M)": m.R,
    "metrics/mAP50(M)": m.mAP50,
    "metrics/mAP50-95(M)": m["mAP50-95"],
  };
}

function toRecords(prefix: string, vars: Map<string, tf.Tensor>): StateDict {
  const sd: StateDict = new Map();
  for (const [k, v] of vars) {
    sd.set(prefix + k, { shape: v.shape, dtype: "float32", data: v.dataSync() as Float32Array });
  }
  return sd;
}

interface TrainStateMeta {
  epochsDone: number;
  epochs: number;
  bestFitness: number;
  lastOptStep: number;
  emaUpdates: number;
  optimizer: Omit<OptimizerState, "slots">;
  slotCounts: Record<string, number>;
  accumulated: string[];
  results: Record<string, number>[];
  args: Record<string, unknown>;
  trainSeconds: number;
}

/** AutoBatch idea: backends here cannot report free accelerator memory, so batch -1 falls back to 16. */
function autoBatch(requested: number, quiet: boolean): number {
  if (requested > 0) return Math.floor(requested);
  if (!quiet) console.log("AutoBatch: this backend cannot report free accelerator memory; using batch=16");
  return 16;
}

/** Train a YOLOv8-seg model (library entry used by the CLI, the ablation runner and the demo). */
export async function train(options: Partial<TrainOptions> & { data?: string; model?: string }): Promise<TrainResult> {
  const backend = await initBackend();
  let o: TrainOptions;
  let runDir: string;
  let resumeState: { meta: TrainStateMeta; sd: StateDict } | null = null;
  if (options.resume) {
    const guess = typeof options.resume === "string"
      ? options.resume
      : path.resolve(options.project ?? TRAIN_DEFAULTS.project, options.name ?? TRAIN_DEFAULTS.name);
    runDir = /weights[\\/]?(last)?$/.test(guess) ? path.resolve(guess.replace(/weights[\\/]?(last)?$/, "")) : guess;
    const stFile = path.join(runDir, "weights", "last_state");
    if (!(await exists(stFile + ".json"))) throw new UserError("nothing to resume (no weights/last_state)", runDir);
    const ck = await loadCheckpoint(stFile);
    resumeState = { meta: ck.meta as unknown as TrainStateMeta, sd: ck.stateDict };
    o = { ...TRAIN_DEFAULTS, ...(resumeState.meta.args as Partial<TrainOptions>), resume: false } as TrainOptions;
    o.onEpoch = options.onEpoch;
    o.onBatch = options.onBatch;
    if (options.quiet !== undefined) o.quiet = options.quiet;
  } else {
    if (!options.data) throw new UserError("train: data=YAML is required");
    if (!options.model) throw new UserError("train: model=FILE|yaml|scale is required");
    o = { ...TRAIN_DEFAULTS, ...options } as TrainOptions;
    runDir = "";
  }
  const log = (s: string) => {
    if (!o.quiet) console.log(s);
  };

  // --- data (fails before any training on an empty set or missing labels) ---
  const ds = await YoloSegDataset.open(o.data, "train", { imgsz: o.imgsz, rect: false, augment: true });
  if (ds.instanceCount === 0) throw new UserError("training split has no labelled instances", o.data);
  if (ds.missingLabels === ds.length) throw new UserError("no label files found for the training images", o.data);
  const nTrain = Math.max(1, Math.round(ds.length * o.fraction));
  const batch = Math.min(autoBatch(o.batch, o.quiet), nTrain);
  const cache = new Map<number, Labeled>();
  const load = async (i: number): Promise<Labeled> => {
    let v = cache.get(i);
    if (!v) {
      v = await loadLabeled(ds, i, o.imgsz);
      if (nTrain <= 4000) cache.set(i, v);
    }
    return v;
  };

  // --- model ---
  const model = resumeState
    ? YoloSegModel.create({
      scale: (resumeState.meta.args.scaleResolved as "n") ?? "n",
      nc: ds.names.length,
      names: Object.fromEntries(ds.names.map((n, i) => [i, n])),
    })
    : await withSeededRandom(o.seed, () => buildModel(o.model, ds.names.length, ds.names, o.initClsFrom, o.quiet));
  const evalModel = YoloSegModel.create({ scale: model.scale, nc: model.nc, names: model.names });
  const params = model.namedParameters();
  const buffers = model.namedBuffers();
  const paramNames = [...params.keys()];
  const varList = paramNames.map((n) => params.get(n)!);

  // --- optimiser, schedule, EMA (ultralytics _setup_train) ---
  let nb = Math.ceil(nTrain / batch);
  if (o.maxBatches > 0) nb = Math.min(nb, o.maxBatches);
  const ad = accumulationAndDecay(batch, o.weightDecay, o.nbs);
  let accumulate = ad.accumulate;
  const iterations = Math.ceil(nTrain / Math.max(batch, o.nbs)) * o.epochs;
  const res = resolveOptimizer(o.optimizer, o.lr0, o.momentum, model.nc, iterations);
  const warmupBiasLr = res.auto ? 0.0 : o.warmupBiasLr;
  log(
    `optimizer: ${res.name}(lr=${res.lr}, momentum=${res.momentum}) with parameter groups ` +
      `(weight decay ${ad.weightDecay} on weights)`,
  );
  const opt = new Optimizer(res.name, paramNames, { lr: res.lr, momentum: res.momentum, decay: ad.weightDecay });
  let epochs = o.epochs;
  let lf = lrLambda(o.cosLr, o.lrf, epochs);
  const nw = warmupIterations(o.warmupEpochs, nb);
  const emaSource = new Map<string, tf.Tensor>([...params, ...buffers]);
  const ema = new ModelEMA(emaSource);
  let startEpoch = 0, bestFitness = -Infinity, lastOptStep = -1, trainSecondsBefore = 0;
  let results: Record<string, number>[] = [];
  let accum: Map<string, tf.Tensor> | null = null;

  if (resumeState) {
    const { meta, sd } = resumeState;
    const modelSd: StateDict = new Map();
    const emaVals: Record<string, Float32Array> = {};
    for (const [k, rec] of sd) {
      if (k.startsWith("model.")) modelSd.set(k, rec);
      else if (k.startsWith("ema.")) emaVals[k.slice(4)] = rec.data as Float32Array;
    }
    model.loadStateDict(modelSd, { quiet: true });
    ema.restore(emaVals, meta.emaUpdates);
    const slots: Record<string, Float32Array[]> = {};
    for (const [p, n] of Object.entries(meta.slotCounts)) {
      slots[p] = Array.from({ length: n }, (_, k) => sd.get(`opt.${p}.${k}`)!.data as Float32Array);
    }
    opt.setState({ ...meta.optimizer, slots }, params);
    if (meta.accumulated.length) {
      accum = new Map();
      for (const p of meta.accumulated) {
        accum.set(p, tf.tensor(sd.get(`accum.${p}`)!.data as Float32Array, params.get(p)!.shape, "float32"));
      }
    }
    startEpoch = meta.epochsDone;
    epochs = meta.epochs;
    lf = lrLambda(o.cosLr, o.lrf, epochs);
    bestFitness = meta.bestFitness;
    lastOptStep = meta.lastOptStep;
    results = meta.results;
    trainSecondsBefore = meta.trainSeconds;
    log(`Resuming ${runDir} from epoch ${startEpoch + 1}`);
  } else {
    runDir = await newRunDir(o.project, o.name, o.existOk);
  }
  const argsRecord: Record<string, unknown> = {
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== "function")),
    batchResolved: batch,
    scaleResolved: model.scale,
    optimizerResolved: res.name,
    lrResolved: res.lr,
    backend: backend.name,
    backendDetail: backend.detail,
    commit: await gitCommit(),
    data: path.resolve(o.data),
    valData: o.valData ? path.resolve(o.valData) : "",
  };
  await writeJsonAtomic(path.join(runDir, "args.json"), argsRecord);
  const lastPath = path.join(runDir, "weights", "last");
  const bestPath = path.join(runDir, "weights", "best");
  const budgetS = o.time * 3600 + o.maxMinutes * 60;
  const t0 = performance.now();
  const elapsed = () => trainSecondsBefore + (performance.now() - t0) / 1000;
  const lossOpts = { box: o.box, cls: o.cls, dfl: o.dfl, strides: model.config.strides };
  const hyp = { ...DEFAULT_AUGMENT, ...pick(o) };

  const copyEmaToEval = () => {
    const ev = new Map<string, tf.Variable>([...evalModel.namedParameters(), ...evalModel.namedBuffers()]);
    for (const [k, v] of ema.vars) ev.get(k)?.assign(v);
  };

  const phase = { data: 0, step: 0, opt: 0 };
  const profilePhases = !!Deno.env.get("ANIMESEG_TRAIN_PROFILE");
  let stop = false;
  for (let epoch = startEpoch; epoch < epochs && !stop; epoch++) {
    const epochStart = performance.now();
    const lfE = lf(epoch);
    for (const g of opt.groups) g.lr = g.initialLr * lfE; // scheduler.step() at epoch start
    const mosaicP = epoch >= epochs - o.closeMosaic ? 0 : o.mosaic;
    const perm = permutation(ds.length, makeRng(o.seed, 0x5eed0000 + epoch)).slice(0, nTrain);
    const tloss = new Float64Array(4);
    const bar = progress(`epoch ${epoch + 1}/${epochs}`, nb, "batch", { quiet: o.quiet });
    for (let i = 0; i < nb; i++) {
      const ni = i + nb * epoch;
      if (ni <= nw) {
        accumulate = applyWarmup(opt.groups, ni, lf(epoch), {
          nw,
          warmupBiasLr,
          warmupMomentum: o.warmupMomentum,
          momentum: res.momentum,
          nbs: o.nbs,
          batch,
        });
      }
      const tData = performance.now();
      const idx = perm.slice(i * batch, Math.min((i + 1) * batch, nTrain));
      const samples = await Promise.all(
        idx.map((k) =>
          trainSample(load, ds.length, k, epoch, o.seed, { imgsz: o.imgsz, hyp, mosaic: mosaicP, maskRatio: 4 })
        ),
      );
      if (ni < 3 || (mosaicP === 0 && o.mosaic > 0 && epoch === epochs - o.closeMosaic && i < 3)) {
        // ultralytics plots train_batch0..2 (and the first batches after close_mosaic)
        const p = previewBatch(samples.slice(0, 16), 4);
        await writeFileAtomic(
          path.join(runDir, `train_batch${ni}.png`),
          await encodePng({ data: p.data, width: p.width, height: p.height, channels: 3 }),
        );
      }
      const { img, batch: lb } = collate(samples);
      const tStep = performance.now();
      phase.data += tStep - tData;
      let items = new Float32Array(4) as Float32Array<ArrayBufferLike>;
      const { value, grads } = tf.variableGrads(() => {
        const preds = model.forward(img, { train: true });
        const r = segLoss(preds, lb, lossOpts);
        items = r.items;
        return r.total;
      }, varList);
      img.dispose();
      const lossVal = (await value.data())[0];
      value.dispose();
      if (!Number.isFinite(lossVal)) {
        tf.dispose(Object.values(grads));
        bar.stop();
        throw new UserError(`loss is ${lossVal} at epoch ${epoch + 1}, batch ${i + 1} (step ${ni}); stopping`);
      }
      const tOpt = performance.now();
      phase.step += tOpt - tStep;
      // accumulate gradients (torch .backward() adds into .grad)
      if (!accum) accum = new Map();
      for (const [n, v] of params) {
        const g = grads[v.name];
        if (!g) continue;
        const prev = accum.get(n);
        if (prev) {
          accum.set(n, tf.tidy(() => prev.add(g)));
          prev.dispose();
          g.dispose();
        } else accum.set(n, g);
      }
      for (let k = 0; k < 4; k++) tloss[k] = (tloss[k] * i + items[k]) / (i + 1);
      if (ni - lastOptStep >= accumulate) {
        const clipped = clipGradNorm(accum, 10.0);
        tf.dispose([...accum.values()]);
        accum = null;
        opt.step(params, clipped.grads);
        tf.dispose([...clipped.grads.values()]);
        ema.update(emaSource);
        lastOptStep = ni;
        if (budgetS > 0 && elapsed() > budgetS) stop = true;
      }
      phase.opt += performance.now() - tOpt;
      o.onBatch?.(epoch, i, items);
      bar.tick(1, LOSS_NAMES.map((n, k) => `${n.split("_")[0]} ${tloss[k].toFixed(3)}`).join(" "));
      if (stop) break;
    }
    bar.stop();
    if (profilePhases) {
      const f = (x: number) => (x / 1000).toFixed(1);
      console.log(`phases (s): data ${f(phase.data)} fwd+bwd ${f(phase.step)} clip+opt+ema ${f(phase.opt)}`);
    }

    // --- validation of the EMA, results, checkpoints ---
    const final = epoch + 1 >= epochs || stop;
    copyEmaToEval();
    let v: ValResult | null = null;
    if (o.val || final) {
      v = await validate(evalModel, o.valData || o.data, {
        imgsz: o.imgsz,
        batch: o.valBatch,
        verbose: false,
        split: "val",
      });
    }
    const fitness = v ? v.fitness : 0;
    const row: Record<string, number> = {
      epoch: epoch + 1,
      ...Object.fromEntries(LOSS_NAMES.map((n, k) => [`train/${n}`, tloss[k]])),
      ...metricsRow(v),
      "lr/pg0": opt.groups[0].lr,
      "lr/pg1": opt.groups[1].lr,
      "lr/pg2": opt.groups[2].lr,
      time: elapsed(),
    };
    results.push(row);
    await writeFileAtomic(path.join(runDir, "results.csv"), resultsCsv(results));
    const improved = fitness >= bestFitness;
    if (improved) bestFitness = fitness;
    // ultralytics `time`: re-estimate the epoch count from the mean epoch time
    if (budgetS > 0) {
      const meanEpoch = elapsed() / (epoch - startEpoch + 1 + (startEpoch > 0 ? startEpoch : 0));
      epochs = Math.max(epoch + 1, Math.ceil(budgetS / Math.max(meanEpoch, 1e-9)));
      lf = lrLambda(o.cosLr, o.lrf, epochs);
      if (elapsed() > budgetS) stop = true;
    }
    const meta = {
      epoch: epoch + 1,
      best_fitness: bestFitness,
      fitness,
      names: ds.names,
      nc: model.nc,
      scale: model.scale,
      train_args: argsRecord,
      date: new Date().toISOString(),
      backend: backend.name,
      seed: o.seed,
      commit: argsRecord.commit,
    };
    // resume state first (raw model, EMA, optimiser slots, pending gradients), then the user-facing checkpoints
    const stSd: StateDict = new Map();
    for (const [k, rec] of model.stateDict()) stSd.set(k, rec);
    for (const [k, rec] of toRecords("ema.", ema.vars)) stSd.set(k, rec);
    const ost = opt.getState();
    const slotCounts: Record<string, number> = {};
    for (const [p, arrs] of Object.entries(ost.slots)) {
      slotCounts[p] = arrs.length;
      arrs.forEach((a, k) => stSd.set(`opt.${p}.${k}`, { shape: [a.length], dtype: "float32", data: a }));
    }
    const accNames: string[] = [];
    if (accum) {
      for (const [p, g] of accum) {
        accNames.push(p);
        stSd.set(`accum.${p}`, { shape: g.shape, dtype: "float32", data: g.dataSync() as Float32Array });
      }
    }
    const stMeta: TrainStateMeta = {
      epochsDone: epoch + 1,
      epochs,
      bestFitness,
      lastOptStep,
      emaUpdates: ema.updates,
      optimizer: { name: ost.name, groups: ost.groups, step: ost.step },
      slotCounts,
      accumulated: accNames,
      results,
      args: argsRecord,
      trainSeconds: elapsed(),
    };
    await saveCheckpoint(
      path.join(runDir, "weights", "last_state"),
      stSd,
      stMeta as unknown as Record<string, unknown>,
    );
    const evalSd = evalModel.stateDict();
    await saveCheckpoint(lastPath, evalSd, meta);
    if (improved) await saveCheckpoint(bestPath, evalSd, meta);
    log(
      `epoch ${epoch + 1}/${epochs}: ` + LOSS_NAMES.map((n, k) => `${n} ${tloss[k].toFixed(4)}`).join(" ") +
        (v ? ` | mask mAP50 ${v.mask.mAP50.toFixed(4)} mAP50-95 ${v.mask["mAP50-95"].toFixed(4)}` : "") +
        ` | ${((performance.now() - epochStart) / 1000).toFixed(1)}s`,
    );
    o.onEpoch?.(row);
  }
  if (accum) tf.dispose([...accum.values()]);
  opt.dispose();
  ema.dispose();
  model.dispose();
  evalModel.dispose();
  return { runDir, best: bestPath, last: lastPath, results };
}

function pick(o: TrainOptions) {
  return {
    hsvH: o.hsvH,
    hsvS: o.hsvS,
    hsvV: o.hsvV,
    degrees: o.degrees,
    translate: o.translate,
    scale: o.scale,
    shear: o.shear,
    perspective: o.perspective,
    flipud: o.flipud,
    fliplr: o.fliplr,
    mosaic: o.mosaic,
  };
}

/** Seeded Fisher–Yates permutation of 0..n-1. */
function permutation(n: number, rng: { next(): number }): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}
