/**
 * Compute backend: chooses and initialises the TensorFlow.js backend for the whole process (one place).
 *
 * Ladder (first that loads wins): tfjs-node-gpu (`tensorflow`) -> WebGPU on a hardware adapter -> tfjs-node
 * (`tensorflow`) -> wasm (SIMD, optionally multi-threaded) -> cpu.
 * Override with `initBackend({ backend })` or `ANIMESEG_BACKEND=auto|tensorflow|webgpu|wasm|cpu`; wasm threads with
 * `initBackend({ threads })` or `ANIMESEG_THREADS` (default 1). With threads > 1 the pthread workers keep the process
 * alive: end the program with `Deno.exit()` (or call `shutdownBackend()` first).
 * Registers the project's kernels (conv gradients, segment sum; see kernels.ts) on wasm and cpu.
 */
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import os from "node:os";
import { UserError } from "../util/errors.ts";
import { registerProjectKernels, registerWasmWrappers } from "./kernels.ts";
import { prepareWasmThreads, startWasmThreads, terminateWasmThreads } from "./wasm_threads.ts";

export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";

/** What `initBackend` chose; record it with every run. */
export interface BackendInfo {
  /** the tfjs backend name in use */
  name: BackendName;
  /** human-readable one-line detail (package, adapter, SIMD, threads) */
  detail: string;
  /** compute threads (wasm: XNNPACK threads; others: undefined) */
  threads?: number;
  /** wasm SIMD build in use */
  simd?: boolean;
  /** WebGPU adapter description */
  adapter?: string;
}

/** Options of `initBackend`; each falls back to its environment variable. */
export interface BackendOptions {
  /** which backend ("auto" = the ladder); env ANIMESEG_BACKEND */
  backend?: BackendName | "auto";
  /** wasm threads (>= 1); env ANIMESEG_THREADS; default 1 */
  threads?: number;
  /** print nothing (the thread fallback warning included) */
  quiet?: boolean;
}

const NAMES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"];
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

let current: BackendInfo | null = null;
let wasmInfo: BackendInfo | null = null;

function projectRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
}

function wasmPkgDir(): string {
  return path.join(projectRoot(), "node_modules", "@tensorflow", "tfjs-backend-wasm");
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/** The cpu backend prints an "install tfjs-node" banner on its first write under Deno; mark it as already shown. */
function silenceNodeBanner(): void {
  try {
    const cpu = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
    if (cpu && "firstUse" in cpu) cpu.firstUse = false;
  } catch { /* cpu backend unavailable: nothing to silence */ }
}

async function tryTensorflow(gpu: boolean): Promise<BackendInfo | null> {
  const pkg = "@tensorflow/tfjs-node" + (gpu ? "-gpu" : ""); // computed: type-check must not need it
  try {
    await import(pkg);
    if (!(await tf.setBackend("tensorflow"))) return null;
    await tf.ready();
    return { name: "tensorflow", detail: `${pkg} (libtensorflow${gpu ? ", CUDA" : ""})` };
  } catch {
    return null;
  }
}

/** Deno's WebGPU prints "XDG_RUNTIME_DIR is invalid" when it is unset: point it at a private folder first. */
function quietXdgRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = path.join(os.tmpdir(), `animeseg-xdg-${Deno.uid() ?? "user"}`);
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch { /* no permission: the message is harmless */ }
}

async function gpuAdapter(): Promise<{ description: string; software: boolean } | null> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return null;
  quietXdgRuntimeDir();
  let timer: number | undefined;
  try {
    const timeout = new Promise<null>((r) => timer = setTimeout(() => r(null), 5000));
    const adapter = await Promise.race([gpu.requestAdapter(), timeout]) as
      | { info?: { description?: string; vendor?: string; device?: string }; isFallbackAdapter?: boolean }
      | null;
    if (!adapter) return null;
    const i = adapter.info ?? {};
    const description = i.description?.trim() || [i.vendor, i.device].filter((s) => s).join(" ") || "unknown adapter";
    return { description, software: !!adapter.isFallbackAdapter || SOFTWARE_ADAPTER.test(description) };
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

async function tryWebgpu(force: boolean): Promise<BackendInfo | null> {
  const adapter = await gpuAdapter();
  if (!adapter || (adapter.software && !force)) return null;
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return null;
    await tf.ready();
    return {
      name: "webgpu",
      detail: `tfjs-backend-webgpu on ${adapter.description}${adapter.software ? " (software)" : ""}`,
      adapter: adapter.description,
    };
  } catch {
    return null;
  }
}

async function initWasm(threads: number, quiet: boolean): Promise<BackendInfo | null> {
  if (wasmInfo) {
    if (!(await tf.setBackend("wasm"))) return null;
    if (threads !== wasmInfo.threads && !quiet) {
      console.warn(`animeseg: wasm already started with ${wasmInfo.threads} thread(s); keeping that`);
    }
    return wasmInfo;
  }
  try {
    setWasmPaths(path.join(wasmPkgDir(), "dist") + "/");
  } catch { /* already initialised by someone else */ }
  let threadError = "";
  if (threads > 1) {
    try {
      await prepareWasmThreads(wasmPkgDir());
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
      setThreadsCount(threads);
      const ok = await startWasmThreads(() => tf.setBackend("wasm"), 60000);
      if (!ok) throw new Error("tf.setBackend('wasm') returned false");
      await tf.ready();
    } catch (e) {
      threadError = e instanceof Error ? e.message : String(e);
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      setThreadsCount(1);
      await terminateWasmThreads();
    }
    if (threadError && !quiet) {
      console.warn(`animeseg: wasm threads unavailable (${threadError.split("\n")[0]}); using 1 thread`);
    }
  }
  if (threads <= 1 || threadError) {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    try {
      if (!(await tf.setBackend("wasm"))) return null;
      await tf.ready();
    } catch {
      return null;
    }
  }
  registerWasmWrappers();
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) as boolean;
  const n = getThreadsCount();
  wasmInfo = {
    name: "wasm",
    detail: `tfjs-backend-wasm ${simd ? "SIMD" : "no SIMD"}, ${n} thread${n === 1 ? "" : "s"}`,
    threads: n,
    simd,
  };
  return wasmInfo;
}

async function initCpu(): Promise<BackendInfo | null> {
  if (!(await tf.setBackend("cpu"))) return null;
  await tf.ready();
  return { name: "cpu", detail: "tfjs cpu (pure JS)" };
}

function parseThreads(v: number | string | undefined): number {
  if (v === undefined || v === "") return 1;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`threads must be a positive integer, got '${v}'`);
  return n;
}

/**
 * Initialise (or switch) the backend and return what was chosen. Safe to call repeatedly; the wasm thread count
 * is fixed by the first wasm initialisation. Throws UserError when an explicitly requested backend cannot load.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const want = opts.backend ?? (env("ANIMESEG_BACKEND") as BackendName | "auto" | undefined) ?? "auto";
  if (!NAMES.includes(want)) {
    throw new UserError(`unknown backend '${want}' (choose one of ${NAMES.join(", ")})`);
  }
  const threads = parseThreads(opts.threads ?? env("ANIMESEG_THREADS"));
  const quiet = !!opts.quiet;
  if (current && (want === "auto" || want === current.name) && tf.getBackend() === current.name) return current;
  silenceNodeBanner();
  registerProjectKernels("wasm");
  registerProjectKernels("cpu");
  let info: BackendInfo | null = null;
  if (want === "auto") {
    info = (await tryTensorflow(true)) ?? (await tryWebgpu(false)) ?? (await tryTensorflow(false)) ??
      (await initWasm(threads, quiet)) ?? (await initCpu());
  } else if (want === "tensorflow") info = (await tryTensorflow(true)) ?? (await tryTensorflow(false));
  else if (want === "webgpu") info = await tryWebgpu(true);
  else if (want === "wasm") info = await initWasm(threads, quiet);
  else info = await initCpu();
  if (!info) throw new UserError(`backend '${want}' could not be loaded`);
  silenceNodeBanner();
  current = info;
  return current;
}

/** The backend chosen by `initBackend`, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}

/**
 * Stop the wasm pthread workers so that the process can exit without `Deno.exit()`. Call once, at the very end:
 * the multi-threaded wasm backend cannot run after this.
 */
export async function shutdownBackend(): Promise<void> {
  await terminateWasmThreads();
}

export { tf };
