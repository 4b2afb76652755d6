/**
 * Multi-threaded tfjs-backend-wasm under Deno (patch for @tensorflow/tfjs-backend-wasm 4.22.0 internals).
 *
 * Stock tfjs turns wasm threads off under Deno (it sees `process.versions.node`), and forcing them on fails because
 * emscripten starts its pthread workers from a Blob URL through `node:worker_threads`. This module prepares the
 * threaded-SIMD build so that it starts: it writes the pthread worker script to a `.cjs` file, routes emscripten's
 * `new Worker(...)` to `node:worker_threads` on that file (other `Worker` uses go to Deno's own Worker), points the
 * worker's `load` message at the threaded factory script on disk, and lifts the `cores / 2` thread cap during init.
 * The pthread workers keep the process alive: programs that used threads must end with `Deno.exit()`.
 */
import { createRequire } from "node:module";
import os from "node:os";
import * as path from "node:path";
import { Worker as NodeWorker } from "node:worker_threads";

/** Version of tfjs-backend-wasm these internals were read from; any other version is refused (falls back to 1 thread). */
export const PATCHED_WASM_VERSION = "4.22.0";

interface Prepared {
  workerCjs: string;
  threadedJs: string;
}

let prepared: Prepared | null = null;
let nodeWorkers: NodeWorker[] = [];
let startupFailure: ((e: Error) => void) | null = null;

/**
 * Run `start` (which starts the threaded backend) and reject if a pthread worker fails or `timeoutMs` passes;
 * `os.cpus()` reports twice the cores meanwhile (tfjs caps wasm threads at cores / 2).
 */
export async function startWasmThreads<T>(start: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer = 0;
  const failed = new Promise<never>((_, reject) => {
    startupFailure = (e) => reject(e instanceof Error ? e : new Error(String(e)));
    timer = setTimeout(() => reject(new Error(`thread start timed out after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  const cpus = os.cpus;
  os.cpus = () => cpus().concat(cpus());
  try {
    return await Promise.race([start(), failed]);
  } finally {
    os.cpus = cpus;
    clearTimeout(timer);
    startupFailure = null;
  }
}

/** Make the worker script and pin `globalThis.Worker`; `pkgDir` is the tfjs-backend-wasm package folder. */
export async function prepareWasmThreads(pkgDir: string): Promise<void> {
  if (prepared) return;
  const require = createRequire(path.join(pkgDir, "package.json"));
  const version = (require("./package.json") as { version: string }).version;
  if (version !== PATCHED_WASM_VERSION) {
    throw new Error(`tfjs-backend-wasm ${version} is not the patched ${PATCHED_WASM_VERSION}`);
  }
  const threadedJs = path.join(pkgDir, "wasm-out", "tfjs-backend-wasm-threaded-simd.js");
  for (const f of [threadedJs, path.join(pkgDir, "wasm-out", "tfjs-backend-wasm-threaded-simd.worker.js")]) {
    await Deno.stat(f); // throws NotFound when the package layout differs
  }
  const contents = (require("./wasm-out/tfjs-backend-wasm-threaded-simd.worker.js") as { wasmWorkerContents: string })
    .wasmWorkerContents;
  const marker = "Object.assign(global,";
  if (!contents.includes(marker)) throw new Error("unexpected tfjs-backend-wasm worker script");
  // Deno's worker global has getter-only properties (location): assign key by key and skip the ones it refuses.
  const source = contents.replace(/\n/g, "\\n").replace(marker, "__animesegAssign(global,") +
    "\nfunction __animesegAssign(t,s){for(const k of Object.keys(s)){try{Object.defineProperty(t,k," +
    "{value:s[k],writable:true,configurable:true})}catch(_e){}}return t}\n";
  const dir = path.join(os.tmpdir(), `animeseg-tfjs-wasm-${PATCHED_WASM_VERSION}`);
  await Deno.mkdir(dir, { recursive: true });
  const workerCjs = path.join(dir, `pthread-worker-${await digest(source)}.cjs`);
  try {
    await Deno.stat(workerCjs);
  } catch {
    const tmp = `${workerCjs}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, source);
    await Deno.rename(tmp, workerCjs);
  }
  prepared = { workerCjs, threadedJs };
  pinWorker(prepared);
}

async function digest(text: string): Promise<string> {
  const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(buf).slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

function pinWorker(p: Prepared): void {
  const DenoWorker = globalThis.Worker;
  // Called with `new`; returning an object from a constructor function makes that object the result.
  function PthreadWorker(this: unknown, url: string | URL, options?: WorkerOptions): unknown {
    const s = String(url);
    if (!s.startsWith("blob:") && !s.endsWith(".worker.js")) return new DenoWorker(url, options);
    const w = new NodeWorker(p.workerCjs);
    nodeWorkers.push(w);
    // While starting, a worker error fails the start (emscripten would rethrow it as an uncaught error).
    const on = w.on.bind(w);
    // deno-lint-ignore no-explicit-any
    (w as any).on = (event: string, fn: (...a: any[]) => void) =>
      // deno-lint-ignore no-explicit-any
      on(event, event !== "error" ? fn : (e: any) => (startupFailure ? startupFailure(e) : fn(e)));
    const post = w.postMessage.bind(w);
    // deno-lint-ignore no-explicit-any
    (w as any).postMessage = (msg: any, transfer?: any) => {
      if (msg && msg.cmd === "load") msg = { ...msg, urlOrBlob: p.threadedJs };
      return post(msg, transfer);
    };
    return w;
  }
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    get: () => PthreadWorker,
    set() {/* emscripten assigns node's Worker here; keep ours */},
  });
}

/** Terminate the pthread workers this module started (the wasm backend is unusable afterwards). */
export async function terminateWasmThreads(): Promise<void> {
  const ws = nodeWorkers;
  nodeWorkers = [];
  await Promise.all(ws.map((w) => w.terminate().catch(() => 0)));
}

/** Number of pthread workers started so far (0 when threads are off). */
export function wasmThreadWorkerCount(): number {
  return nodeWorkers.length;
}
