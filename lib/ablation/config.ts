/**
 * The ablation's typed configuration: dataset variants x model scale x epochs x refinement x seeds, with the
 * presets `demo` (built-in data, small model, small images: minutes on 2 cores), `study` (the study's sizes, for a
 * GPU user with the real data) and `custom` (a YAML/JSON file over a preset). One model scale for every row, so
 * the table compares data, not models.
 */
import YAML from "yaml";
import { UserError } from "../util/errors.ts";

/** The study's dataset variants. `pretrained`: the COCO-pretrained model evaluated with no fine-tuning. */
export type VariantKind = "pretrained" | "simple" | "reinforced" | "reinforced+person";

/** One row of the table. */
export interface VariantSpec {
  /** row label */
  name: string;
  kind: VariantKind;
}

/** Refinement methods applied at evaluation (SAM weights needed for vote/box). */
export type RefineMethod = "none" | "vote" | "box";

/** Everything an ablation run needs; every field documented, every default named in a preset. */
export interface AblationConfig {
  /** folder name under `runs/ablation/` */
  name: string;
  preset: "demo" | "study" | "custom";
  variants: VariantSpec[];
  /** training seeds; >= 2 so that a difference can be told from noise */
  seeds: number[];
  model: {
    /** YOLOv8-seg scale used for every row */
    scale: "n" | "s" | "m" | "l" | "x";
    /** start weights (ultralytics .pt or project checkpoint); null = from scratch */
    weights: string | null;
    /** `pretrained` row class mapping: the checkpoint's class used as `character` (COCO person = 0) */
    personClass: number;
    /** initialise the new classifier from `personClass` when fine-tuning from weights */
    initClsFromPerson: boolean;
  };
  data: {
    /** SkyTNT-layout source folder; null = the built-in procedural characters */
    src: string | null;
    /** seed of dataset synthesis (fixed across training seeds) */
    seed: number;
    /** images per synthetic training set */
    nTrain: number;
    /** images in the held-out test set */
    nTest: number;
    /** synthesis image size (long side, px) */
    imgsz: number;
    /** a YOLO dataset YAML with COCO `person` instances for the reinforced+person row; null = skip that row */
    cocoPerson: string | null;
    /** a YOLO dataset YAML used as the test set instead of the built-in one */
    test: string | null;
  };
  train: {
    epochs: number;
    imgsz: number;
    batch: number;
    /** wall-clock budget per training run, minutes (0 = none) */
    maxMinutes: number;
    /** extra trainer arguments (ultralytics names) */
    extra: Record<string, string | number | boolean>;
  };
  eval: {
    imgsz: number;
    conf: number;
    iou: number;
    /** mask IoU resolution reported first; the other is reported alongside */
    masks: "native" | "proto";
  };
  refine: RefineMethod[];
  /** SAM / MobileSAM weights for refinement; null = refinement rows are skipped */
  sam: string | null;
}

const STUDY_VARIANTS: VariantSpec[] = [
  { name: "COCO-pretrained", kind: "pretrained" },
  { name: "simple", kind: "simple" },
  { name: "reinforced", kind: "reinforced" },
  { name: "reinforced + COCO person", kind: "reinforced+person" },
];

/** The presets; `demo` is the README's main job. */
export const PRESETS: Record<"demo" | "study", AblationConfig> = {
  demo: {
    name: "demo",
    preset: "demo",
    variants: STUDY_VARIANTS,
    seeds: [0, 1],
    model: { scale: "n", weights: null, personClass: 0, initClsFromPerson: true },
    data: { src: null, seed: 0, nTrain: 48, nTest: 16, imgsz: 192, cocoPerson: null, test: null },
    // small sets: one optimiser step per batch (nbs = batch) and no 100-iteration warmup, or nothing is learned;
    // the recipe of bench/train.ts learn=1 (96 px, batch 16, AdamW 0.003, no mosaic), validated only at the end
    train: {
      epochs: 60,
      imgsz: 96,
      batch: 16,
      maxMinutes: 3,
      extra: { nbs: 16, warmupEpochs: 0, optimizer: "AdamW", lr0: 0.003, mosaic: 0, val: false },
    },
    // evaluate at the training size: a 96-px model scored mask mAP50 0.31 at 96 px, 0.03 at 160 px
    eval: { imgsz: 96, conf: 0.001, iou: 0.7, masks: "native" },
    refine: ["none", "vote", "box"],
    sam: null,
  },
  study: {
    name: "study",
    preset: "study",
    variants: STUDY_VARIANTS,
    seeds: [0, 1, 2],
    model: { scale: "m", weights: "yolov8m-seg.pt", personClass: 0, initClsFromPerson: true },
    data: { src: "data/skytnt", seed: 0, nTrain: 10000, nTest: 500, imgsz: 640, cocoPerson: null, test: null },
    train: { epochs: 100, imgsz: 640, batch: -1, maxMinutes: 0, extra: {} },
    eval: { imgsz: 640, conf: 0.001, iou: 0.7, masks: "native" },
    refine: ["none", "vote", "box"],
    sam: "sam_vit_l",
  },
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge of `over` onto `base` (arrays replaced), checking that every key exists in the base. */
function merge<T>(base: T, over: unknown, where: string, file: string): T {
  if (!isObj(over)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in out)) throw new UserError(`unknown setting '${where}${k}'`, file);
    const b = out[k];
    out[k] = isObj(b) && isObj(v) && k !== "extra" ? merge(b, v, `${where}${k}.`, file) : v;
  }
  return out as T;
}

/** Check the shape and ranges of a config; throws a one-line `UserError` naming the file. */
export function validateConfig(c: AblationConfig, file = "<config>"): AblationConfig {
  const bad = (m: string) => {
    throw new UserError(m, file);
  };
  if (!/^[\w.-]+$/.test(c.name)) bad(`name '${c.name}' must be a plain folder name`);
  if (!Array.isArray(c.variants) || !c.variants.length) bad("variants must be a non-empty list");
  for (const v of c.variants) {
    if (!["pretrained", "simple", "reinforced", "reinforced+person"].includes(v.kind)) {
      bad(`variant kind '${v.kind}' is not one of pretrained, simple, reinforced, reinforced+person`);
    }
  }
  if (!Array.isArray(c.seeds) || !c.seeds.length || c.seeds.some((s) => !Number.isInteger(s))) {
    bad("seeds must be a non-empty list of integers");
  }
  if (!["n", "s", "m", "l", "x"].includes(c.model.scale)) bad(`model.scale '${c.model.scale}' is not n/s/m/l/x`);
  for (const r of c.refine) if (!["none", "vote", "box"].includes(r)) bad(`refine '${r}' is not none/vote/box`);
  for (const [k, v] of Object.entries({ epochs: c.train.epochs, imgsz: c.train.imgsz, nTrain: c.data.nTrain })) {
    if (!(typeof v === "number" && v > 0)) bad(`${k} must be a positive number`);
  }
  return c;
}

/** A preset by name, or a YAML/JSON file (with `preset: demo|study` as its base, default demo), plus overrides. */
export async function loadAblationConfig(
  source: string,
  overrides: Partial<Record<string, unknown>> = {},
): Promise<AblationConfig> {
  let cfg: AblationConfig;
  let file = source;
  if (source === "demo" || source === "study") {
    cfg = structuredClone(PRESETS[source]);
    file = `preset ${source}`;
  } else {
    let text: string;
    try {
      text = await Deno.readTextFile(source);
    } catch (e) {
      throw new UserError(`cannot read (${(e as Error).message.split("\n")[0]})`, source);
    }
    let raw: unknown;
    try {
      raw = YAML.parse(text);
    } catch (e) {
      throw new UserError(`not valid YAML/JSON (${(e as Error).message.split("\n")[0]})`, source);
    }
    if (!isObj(raw)) throw new UserError("the config must be a mapping", source);
    const base = raw.preset === "study" ? "study" : "demo";
    const { preset: _p, ...rest } = raw;
    cfg = merge(structuredClone(PRESETS[base]), rest, "", source);
    cfg.preset = "custom";
  }
  cfg = merge(cfg, overrides, "", file);
  return validateConfig(cfg, file);
}
