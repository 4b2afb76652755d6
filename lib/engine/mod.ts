/**
 * Choosing the inference engine for `predict`, `val` and refinement: `tfjs` (the project's model on the tfjs
 * backend) or `ort` (the model exported to ONNX and run by onnxruntime-node, the fast CPU path). `auto` uses ort
 * when onnxruntime-node loads, else tfjs. The exported ONNX file is cached, keyed by the checkpoint's hash, the
 * image size and the class count: next to the checkpoint when it lives inside the project, else in the cache folder.
 */
import * as path from "node:path";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { loadYoloModel } from "../yolo/load.ts";
import type { YoloSegModel } from "../yolo/model.ts";
import { exportYoloSegOnnx } from "../export/onnx.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { ortAvailable, ortLoadError, OrtSegEngine } from "./ort.ts";
import type { ForwardArrays } from "../yolo/predict.ts";

/** Engine names accepted by the commands. */
export type EngineName = "auto" | "ort" | "tfjs";

/** Something that runs a letterboxed HWC float batch and returns typed arrays (both engines). */
export interface ArrayEngine {
  readonly engine: string;
  readonly nc: number;
  readonly names: Record<number, string>;
  runArrays(input: Float32Array, B: number, H: number, W: number): Promise<ForwardArrays>;
}

/** What `openEngine` returns: the engine actually used, the tfjs model when it is the tfjs engine. */
export interface OpenedEngine {
  engine: "ort" | "tfjs";
  /** the tfjs model (always loaded: names, class count, and the tfjs path) */
  model: YoloSegModel;
  /** the ONNX runtime engine when `engine` is "ort" */
  ort: OrtSegEngine | null;
  /** the cached ONNX file used by ort */
  onnxFile: string | null;
  /** why ort was not used, when `auto` fell back to tfjs */
  note: string;
  dispose(): Promise<void>;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Folder for cached exports outside the project (`ANIMESEG_CACHE/onnx`, default `data/cache/onnx`). */
export function onnxCacheDir(): string {
  const base = Deno.env.get("ANIMESEG_CACHE") ?? path.join(ROOT, "data", "cache");
  return path.join(base, "onnx");
}

async function fileHash(spec: string): Promise<string> {
  // a project checkpoint is named without its extension
  let file = spec;
  for (const cand of [spec, `${spec}.safetensors`]) {
    try {
      await Deno.stat(cand);
      file = cand;
      break;
    } catch { /* next */ }
  }
  try {
    const st = await Deno.stat(file);
    if (st.isDirectory) {
      const h = createHash("sha256");
      const names: string[] = [];
      for await (const e of Deno.readDir(file)) if (e.isFile) names.push(e.name);
      names.sort();
      for (const n of names) h.update(n).update(await Deno.readFile(path.join(file, n)));
      return h.digest("hex").slice(0, 16);
    }
    return createHash("sha256").update(await Deno.readFile(file)).digest("hex").slice(0, 16);
  } catch {
    return createHash("sha256").update(file).digest("hex").slice(0, 16);
  }
}

/** The cache path of the ONNX export of `spec` at `imgsz` with `nc` classes. */
export async function onnxCachePath(spec: string, imgsz: [number, number], nc: number): Promise<string> {
  const abs = path.resolve(spec);
  const key = `${path.basename(abs).replace(/\.[^.]+$/, "")}-${await fileHash(abs)}-${imgsz[0]}x${
    imgsz[1]
  }-nc${nc}.onnx`;
  const inProject = abs.startsWith(ROOT + path.sep) && !abs.startsWith(path.join(ROOT, "node_modules"));
  let dir = onnxCacheDir();
  for (const cand of [abs, `${abs}.safetensors`]) {
    try {
      if (inProject && (await Deno.stat(cand)).isFile) {
        dir = path.dirname(cand);
        break;
      }
    } catch { /* not a file: cache folder */ }
  }
  return path.join(dir, key);
}

/** Export (or reuse the cached export of) a loaded model to ONNX; returns the file path. */
export async function ensureOnnx(spec: string, model: YoloSegModel, imgsz: [number, number]): Promise<string> {
  const file = await onnxCachePath(spec, imgsz, model.nc);
  try {
    await Deno.stat(file);
    return file;
  } catch { /* export below */ }
  const names = Array.from({ length: model.nc }, (_, i) => model.names[i] ?? String(i));
  const { bytes } = exportYoloSegOnnx(model.stateDict(), { imgsz, dynamic: true, names });
  await writeFileAtomic(file, bytes);
  return file;
}

/** Open a model for inference with the requested engine (`auto`: ort when onnxruntime-node loads). */
export async function openEngine(
  spec: string,
  opts: { engine?: EngineName; imgsz?: [number, number]; verbose?: boolean } = {},
): Promise<OpenedEngine> {
  const want = opts.engine ?? "auto";
  const model = await loadYoloModel(spec, { verbose: opts.verbose ?? false });
  let note = "";
  if (want !== "tfjs") {
    if (await ortAvailable()) {
      const onnxFile = await ensureOnnx(spec, model, opts.imgsz ?? [640, 640]);
      const ort = await OrtSegEngine.open(onnxFile, { nc: model.nc, names: model.names });
      return {
        engine: "ort",
        model,
        ort,
        onnxFile,
        note,
        async dispose() {
          await ort.dispose();
          model.dispose();
        },
      };
    }
    note = `onnxruntime-node unavailable (${ortLoadError()}); using tfjs`;
    if (want === "ort") throw new Error(note);
  }
  return {
    engine: "tfjs",
    model,
    ort: null,
    onnxFile: null,
    note,
    dispose() {
      model.dispose();
      return Promise.resolve();
    },
  };
}
