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
import { loadStateDict as loadPlainStateDict, loadUltralyticsCheckpoint } from "../io/torch.ts";

/** Options of `loadYoloModel`. */
export interface LoadOptions {
  /** classes of a fresh model (scale / yaml name); default 80 as in ultralytics' yaml */
  nc?: number;
  /** class names of a fresh model */
  names?: Record<number, string>;
  /** print "Transferred X/Y items" (default true) */
  verbose?: boolean;
}

interface ProjectCheckpoint {
  stateDict: StateDict;
  meta: Record<string, unknown>;
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

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Load or create a YOLOv8-seg model: `.pt` file, project checkpoint (path with or without extension), npy folder, or scale/yaml name. */
export async function loadYoloModel(spec: string, opts: LoadOptions = {}): Promise<YoloSegModel> {
  const verbose = opts.verbose ?? true;
  const scale = scaleFromName(spec);
  if (scale && !(await exists(spec))) {
    return YoloSegModel.create({ scale, nc: opts.nc ?? 80, names: opts.names });
  }
  if (spec.endsWith(".pt") || spec.endsWith(".pth")) {
    if (!(await exists(spec))) throw new UserError("no such file", spec);
    let sd: StateDict;
    let names: unknown = undefined;
    try {
      const ck = await loadUltralyticsCheckpoint(spec);
      sd = ck.stateDict;
      names = ck.names;
    } catch (e) {
      if (!(e instanceof UserError) || !/not an ultralytics checkpoint/.test(e.message)) throw e;
      sd = await loadPlainStateDict(spec); // a plain torch.save(state_dict)
    }
    return modelFromStateDict(sd, names, spec, verbose);
  }
  if (await exists(path.join(spec, "keys.json"))) {
    return modelFromStateDict(await loadNpyStateDict(spec), opts.names, spec, verbose);
  }
  // The project's own checkpoint format (lib/io/checkpoint.ts), addressed without extension.
  const base = spec.replace(/\.(json|bin|safetensors|npz)$/, "");
  const modUrl = new URL("../io/checkpoint.ts", import.meta.url).href;
  let mod: { loadCheckpoint: (p: string) => Promise<ProjectCheckpoint> };
  try {
    mod = await import(modUrl);
  } catch {
    throw new UserError("not a .pt file, npy folder or model name, and project checkpoints are not supported", spec);
  }
  const ck = await mod.loadCheckpoint(base);
  return modelFromStateDict(ck.stateDict, ck.meta?.names, spec, verbose);
}
