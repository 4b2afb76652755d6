/**
 * The project's own checkpoint: `<path>.safetensors` (weights, stored dtypes kept) + `<path>.json` (config, class
 * names, training args, metrics, free-form `meta`), both written atomically, weights first so that the JSON marks
 * a complete checkpoint. `loadAnyWeights` opens any weights file the project accepts: torch `.pt`/`.pth` (ultralytics
 * trainer checkpoints, plain state_dicts) or the project's own format.
 */
import * as path from "node:path";
import { UserError } from "../util/errors.ts";
import { writeJsonAtomic } from "./atomic.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { extractStateDict, isModule, readTorchFile, type StateDict, toPlain, ultralyticsFromObject } from "./torch.ts";

/** Format tag written into both files. */
export const CHECKPOINT_FORMAT = "animeseg-checkpoint";
/** Version of the checkpoint layout. */
export const CHECKPOINT_VERSION = 1;

/** A loaded checkpoint: weights and the JSON sidecar's content (or `{}` when it is absent). */
export interface Checkpoint {
  stateDict: StateDict;
  meta: Record<string, unknown>;
}

function stripExt(p: string): string {
  return p.replace(/\.(safetensors|json)$/i, "");
}

/**
 * Save `<pathNoExt>.safetensors` and `<pathNoExt>.json` atomically. `meta` must be JSON-serialisable (bigints and
 * Maps are converted); keys `format`, `version`, `weights`, `tensors` are set by this function.
 */
export async function saveCheckpoint(
  pathNoExt: string,
  stateDict: StateDict,
  meta: Record<string, unknown>,
): Promise<void> {
  const base = stripExt(pathNoExt);
  await Deno.mkdir(path.dirname(base), { recursive: true });
  const weights = `${base}.safetensors`;
  await writeSafetensors(weights, stateDict, {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
  });
  const sidecar = {
    ...(toPlain(meta) as Record<string, unknown>),
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    weights: path.basename(weights),
    tensors: stateDict.size,
  };
  await writeJsonAtomic(`${base}.json`, sidecar);
}

/** Load `<pathNoExt>.safetensors` and its `<pathNoExt>.json` (a path with either extension is accepted). */
export async function loadCheckpoint(pathNoExt: string): Promise<Checkpoint> {
  const base = stripExt(pathNoExt);
  const jsonFile = `${base}.json`;
  let meta: Record<string, unknown> = {};
  let weights = `${base}.safetensors`;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(jsonFile);
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    try {
      const parsed = JSON.parse(text);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      meta = parsed;
    } catch (e) {
      throw new UserError(`checkpoint sidecar is not a JSON object (${(e as Error).message})`, jsonFile);
    }
    if (typeof meta.weights === "string") weights = path.join(path.dirname(base), path.basename(meta.weights));
  }
  try {
    await Deno.stat(weights);
  } catch {
    throw new UserError(`checkpoint weights not found${text !== undefined ? ` (named in ${jsonFile})` : ""}`, weights);
  }
  const { stateDict } = await readSafetensors(weights);
  return { stateDict, meta };
}

/** Where `loadAnyWeights` found the weights. */
export type WeightsFormat = "ultralytics" | "torch" | "animeseg";

/**
 * Open any weights file by extension: `.pt`/`.pth`/`.bin` → torch reader (ultralytics checkpoint: meta gets `nc`,
 * `names`, `yaml`, `trainArgs`, `epoch`, `source`; else a plain state_dict), `.safetensors`/`.json` → own format.
 */
export async function loadAnyWeights(file: string): Promise<Checkpoint & { format: WeightsFormat }> {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".safetensors" || ext === ".json") return { ...(await loadCheckpoint(file)), format: "animeseg" };
  if (ext === ".pt" || ext === ".pth" || ext === ".bin" || ext === ".ckpt") {
    const obj = await readTorchFile(file);
    if (obj instanceof Map && (isModule(obj.get("ema")) || isModule(obj.get("model")))) {
      const ck = ultralyticsFromObject(obj, file);
      const { stateDict, ...rest } = ck;
      return { stateDict, meta: { ...rest }, format: "ultralytics" };
    }
    return { stateDict: extractStateDict(obj, file), meta: {}, format: "torch" };
  }
  throw new UserError(`unknown weights format '${ext}' (expected .pt, .pth, .safetensors or a checkpoint .json)`, file);
}
