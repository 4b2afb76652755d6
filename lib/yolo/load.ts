/**
 * Building a `YoloSegModel` from whatever the user names: an ultralytics `.pt` checkpoint (or plain state dict),
 * the project's own checkpoint (`lib/io/checkpoint.ts`), a folder of per-tensor `.npy` files with `keys.json`, or
 * a scale / yaml name (`n`, `yolov8s-seg.yaml`) for a freshly initialised model.
 */
import * as path from "node:path";
import { UserError } from "../util/errors.ts";
import { inferConfig, scaleFromName } from "./config.ts";
import { YoloSegModel } from "./model.ts";
import { loadNpyStateDict } from "./npy_weights.ts";
import type { StateDict } from "./state_dict.ts";
import { loadAnyWeights, loadCheckpoint } from "../io/checkpoint.ts";
import { exists } from "../util/fs.ts";

/** Options of `loadYoloModel`. */
export interface LoadOptions {
  /** classes of a fresh model (scale / yaml name); default 80 as in ultralytics' yaml */
  nc?: number;
  /** class names of a fresh model */
  names?: Record<number, string>;
  /** print "Transferred X/Y items" (default true) */
  verbose?: boolean;
}

function namesRecord(names: unknown, nc: number): Record<number, string> {
  const out: Record<number, string> = {};
  if (Array.isArray(names)) names.forEach((n, i) => (out[i] = String(n)));
  else if (names && typeof names === "object") {
    for (const [k, v] of Object.entries(names as Record<string, unknown>)) out[Number(k)] = String(v);
  }
  for (let i = 0; i < nc; i++) if (out[i] === undefined) out[i] = String(i);
  return out;
}

/** Build a model from a state dict (scale and nc inferred from shapes); every tensor must load. */
export function modelFromStateDict(sd: StateDict, names: unknown, file: string, verbose = true): YoloSegModel {
  const { scale, nc } = inferConfig(sd, file);
  const model = YoloSegModel.create({ scale, nc, names: namesRecord(names, nc) });
  try {
    model.loadStateDict(sd, { strict: true, file, quiet: !verbose });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Load or create a YOLOv8-seg model: `.pt`/`.pth` (ultralytics checkpoint or plain state dict), the project's
 * checkpoint (`<path>.safetensors` + `.json`, with or without extension), an npy folder, or a scale/yaml name.
 */
export async function loadYoloModel(spec: string, opts: LoadOptions = {}): Promise<YoloSegModel> {
  const verbose = opts.verbose ?? true;
  const scale = scaleFromName(spec);
  if (scale && !(await exists(spec))) {
    return YoloSegModel.create({ scale, nc: opts.nc ?? 80, names: opts.names });
  }
  if (await exists(path.join(spec, "keys.json"))) {
    return modelFromStateDict(await loadNpyStateDict(spec), opts.names, spec, verbose);
  }
  const hasExt = /\.(pt|pth|bin|ckpt|safetensors|json)$/i.test(spec);
  if (!hasExt && ((await exists(`${spec}.json`)) || (await exists(`${spec}.safetensors`)))) {
    const ck = await loadCheckpoint(spec);
    return modelFromStateDict(ck.stateDict, ck.meta.names, spec, verbose);
  }
  if (!(await exists(spec))) {
    throw new UserError("no such file, and not a model name (n, s, m, l, x, yolov8n-seg.yaml)", spec);
  }
  const ck = await loadAnyWeights(spec);
  return modelFromStateDict(ck.stateDict, ck.meta.names, spec, verbose);
}
