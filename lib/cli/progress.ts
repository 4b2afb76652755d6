/**
 * Progress bars for long work (cli-progress): label, count, rate and ETA on a terminal; a few plain lines when
 * the output is not a terminal (CI logs, notebooks) so logs stay readable.
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** A running progress bar; `tick` advances, `stop` finishes the line. */
export interface Progress {
  tick(n?: number, info?: string): void;
  stop(): void;
}

/** Start a progress bar for `total` items (`unit` is shown with the rate, e.g. "img"). */
export function progress(label: string, total: number, unit = "it", opts: { quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { tick() {}, stop() {} };
  const tty = Deno.stderr.isTerminal();
  if (!tty) {
    let done = 0;
    const t0 = performance.now();
    let lastPrint = 0;
    const print = (info: string) => {
      const s = (performance.now() - t0) / 1000;
      const rate = done / Math.max(s, 1e-9);
      const eta = rate > 0 ? (total - done) / rate : 0;
      console.error(
        `${label}: ${done}/${total} ${rate.toFixed(2)} ${unit}/s elapsed ${s.toFixed(1)}s eta ${
          eta.toFixed(1)
        }s ${info}`,
      );
    };
    return {
      tick(n = 1, info = "") {
        done += n;
        const now = performance.now();
        if (done >= total || now - lastPrint > 10000) {
          lastPrint = now;
          print(info);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({
    format: `${label} |{bar}| {value}/{total} {rate} ${unit}/s eta {eta_formatted} {info}`,
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  const t0 = performance.now();
  bar.start(total, 0, { rate: "0.00", info: "" });
  let done = 0;
  return {
    tick(n = 1, info = "") {
      done += n;
      const rate = done / Math.max((performance.now() - t0) / 1000, 1e-9);
      bar.update(done, { rate: rate.toFixed(2), info });
    },
    stop() {
      bar.stop();
    },
  };
}
