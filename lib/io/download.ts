/**
 * File downloads: resumable (HTTP Range into `<dest>.part`), SHA-256-checked when a checksum is known, a progress
 * bar with rate and ETA (cli-progress, on stderr), atomic rename into place, one-line `UserError`s. Also the
 * weights cache folder: `data/weights/` under the project root, or `$ANIMESEG_CACHE`.
 */
import * as path from "node:path";
import process from "node:process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { UserError } from "../util/errors.ts";

/** Options of `downloadFile`. */
export interface DownloadOptions {
  /** expected SHA-256 (hex); on mismatch the download is deleted and an error thrown */
  sha256?: string;
  /** called as bytes arrive: (bytes so far, total bytes or undefined when the server does not say) */
  onProgress?: (done: number, total: number | undefined) => void;
  /** no progress bar */
  quiet?: boolean;
  /** extra attempts after a dropped connection, each resuming where the last stopped (default 2) */
  retries?: number;
  /** aborts the transfer (the `.part` file is kept for a later resume) */
  signal?: AbortSignal;
}

/** The weights cache folder: `$ANIMESEG_CACHE`, else `<project root>/data/weights`. */
export function cacheDir(): string {
  const env = Deno.env.get("ANIMESEG_CACHE");
  if (env) return path.resolve(env);
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../data/weights");
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(file, { read: true });
  try {
    for await (const chunk of f.readable) h.update(chunk);
  } catch (e) {
    throw new UserError(`cannot read (${(e as Error).message})`, file);
  }
  return h.digest("hex");
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(file)).size;
  } catch {
    return undefined;
  }
}

function mb(n: number): string {
  return (n / 1048576).toFixed(1);
}

/** A progress reporter: a cli-progress bar on stderr (rate, ETA) unless quiet, plus the caller's callback. */
function progress(label: string, opts: DownloadOptions) {
  let bar: cliProgress.SingleBar | undefined;
  let started = 0;
  const t0 = performance.now();
  let start0 = 0;
  return {
    start(done: number, total: number | undefined) {
      start0 = done;
      if (!opts.quiet) {
        bar = new cliProgress.SingleBar({
          format: `${label} [{bar}] {percentage}% | {got}/{size} MB | {rate} MB/s | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        }, cliProgress.Presets.shades_classic);
        bar.start(total ?? 0, done, { got: mb(done), size: total ? mb(total) : "?", rate: "0.0" });
      }
      started = 1;
      opts.onProgress?.(done, total);
    },
    update(done: number, total: number | undefined) {
      const secs = (performance.now() - t0) / 1000;
      const rate = secs > 0 ? (done - start0) / 1048576 / secs : 0;
      if (bar) {
        if (total === undefined) bar.setTotal(done);
        bar.update(done, { got: mb(done), size: total ? mb(total) : "?", rate: rate.toFixed(1) });
      }
      opts.onProgress?.(done, total);
    },
    stop() {
      if (started && bar) bar.stop();
      bar = undefined;
    },
  };
}

/** One HTTP attempt, appending to `part` from its current size. Returns when the body is complete. */
async function attempt(url: string, part: string, label: string, opts: DownloadOptions): Promise<void> {
  const have = (await fileSize(part)) ?? 0;
  const headers: HeadersInit = have > 0 ? { Range: `bytes=${have}-` } : {};
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: opts.signal, redirect: "follow" });
  } catch (e) {
    throw new UserError(`download failed: ${(e as Error).message}`, url);
  }
  if (res.status === 416 && have > 0) {
    // the part may already be complete: "Content-Range: bytes */<total>"
    await res.body?.cancel();
    const total = Number(/\/(\d+)/.exec(res.headers.get("content-range") ?? "")?.[1]);
    if (total === have) return;
    await Deno.remove(part).catch(() => {});
    return attempt(url, part, label, opts);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new UserError(`download failed: HTTP ${res.status} ${res.statusText}`.trimEnd(), url);
  }
  const resumed = res.status === 206;
  let done = resumed ? have : 0;
  const len = Number(res.headers.get("content-length"));
  let total: number | undefined = Number.isFinite(len) && res.headers.has("content-length") ? done + len : undefined;
  if (resumed) {
    const t = Number(/\/(\d+)/.exec(res.headers.get("content-range") ?? "")?.[1]);
    if (Number.isFinite(t)) total = t;
  }
  const f = await Deno.open(part, { write: true, create: true, append: resumed, truncate: !resumed });
  const bar = progress(label, opts);
  bar.start(done, total);
  try {
    if (!res.body) throw new Error("empty response body");
    for await (const chunk of res.body) {
      let off = 0;
      while (off < chunk.length) off += await f.write(chunk.subarray(off));
      done += chunk.length;
      bar.update(done, total);
    }
  } catch (e) {
    throw new UserError(
      `download interrupted after ${mb(done)} MB (${(e as Error).message}); run again to resume`,
      url,
    );
  } finally {
    bar.stop();
    f.close();
  }
  if (total !== undefined && done !== total) {
    throw new UserError(`download incomplete: ${done} of ${total} bytes; run again to resume`, url);
  }
}

/**
 * Download `url` to `dest` (parent folders created): resumes a `<dest>.part` left by an earlier try, retries
 * dropped connections, checks `sha256` when given, then renames into place. An existing `dest` (with the right
 * checksum, when one is given) is kept as is. Returns `dest`.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<string> {
  const want = opts.sha256?.toLowerCase();
  if (await fileSize(dest) !== undefined) {
    if (!want || await sha256File(dest) === want) return dest;
  }
  await Deno.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const part = `${dest}.part`;
  const label = path.basename(dest);
  const retries = opts.retries ?? 2;
  for (let i = 0;; i++) {
    try {
      await attempt(url, part, label, opts);
      break;
    } catch (e) {
      const retryable = e instanceof UserError && /interrupted|incomplete/.test(e.message) && !opts.signal?.aborted;
      if (!retryable || i >= retries) throw e;
    }
  }
  if (want) {
    const got = await sha256File(part);
    if (got !== want) {
      await Deno.remove(part).catch(() => {});
      throw new UserError(`sha256 mismatch: expected ${want}, got ${got}; the download was deleted`, url);
    }
  }
  await Deno.rename(part, dest);
  return dest;
}
