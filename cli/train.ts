/**
 * `animeseg train data=YAML model=FILE|yolov8n-seg.yaml|n ...`: trains YOLOv8-seg as ultralytics does (argument names
 * and defaults of ultralytics 8.2) into `runs/segment/<name>/`; `resume=true` (or a run folder) continues exactly.
 */
import type { Command, OptionSpec } from "../lib/cli/command.ts";
import { train, TRAIN_DEFAULTS, type TrainOptions } from "../lib/train/trainer.ts";

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

const HELP: Record<string, string> = {
  epochs: "epochs to train",
  imgsz: "train/val image size (square)",
  batch: "batch size (-1: AutoBatch; falls back to 16 where memory cannot be read)",
  lr0: "initial learning rate (ignored by optimizer=auto)",
  lrf: "final lr as a fraction of lr0",
  momentum: "SGD momentum / Adam beta1",
  weight_decay: "weight decay (scaled by batch*accumulate/64)",
  warmup_epochs: "warmup epochs (at least 100 iterations)",
  optimizer: "SGD, Adam, AdamW or auto",
  close_mosaic: "final epochs without mosaic",
  seed: "random seed (model init, shuffling, augmentation)",
  name: "run name under project",
  project: "project folder",
  init_cls_from: "initialise new classifier rows from this checkpoint class (-1 off)",
  time: "wall-clock budget in hours (overrides epochs)",
  max_minutes: "wall-clock budget in minutes",
  max_batches: "batches per epoch limit (0 = all)",
};

const options: Record<string, OptionSpec> = {
  data: { type: "string", help: "dataset YAML", required: true },
  model: { type: "string", default: "yolov8n-seg.yaml", help: "checkpoint (.pt / project checkpoint), yaml or scale" },
  resume: { type: "string", default: "false", help: "true to continue project/name, or a run folder" },
};
for (const [k, v] of Object.entries(TRAIN_DEFAULTS)) {
  if (k === "resume" || typeof v === "function" || v === undefined) continue;
  const type = typeof v === "boolean" ? "boolean" : typeof v === "number" ? "number" : "string";
  options[snake(k)] = { type, default: v as string | number | boolean, help: HELP[snake(k)] ?? snake(k) };
}

export const command: Command = {
  name: "train",
  summary: "train YOLOv8-seg (ultralytics arguments and defaults), with exact resume",
  description:
    "Examples:\n  animeseg train data=data/anime.yaml model=yolov8n-seg.pt epochs=50 imgsz=320 init_cls_from=0\n" +
    "  animeseg train resume=true name=train",
  options,
  async run({ opts }) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) o[camel(k)] = v;
    const r = String(o.resume ?? "false");
    o.resume = r === "true" ? true : r === "false" || r === "" ? false : r;
    const res = await train(o as Partial<TrainOptions>);
    console.log(`Results saved to ${res.runDir}`);
    return 0;
  },
};
