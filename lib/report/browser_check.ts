/**
 * Checking a rendered report page the way a reader's browser sees it: headless Chromium opens the file from disk with
 * every network request refused, runs its scripts, and we read back the DOM and the console. A page passes when no
 * script error was logged, no resource points to the network, and every plot container holds drawn SVG.
 */

/** What the check found on one page. */
export interface PageCheck {
  file: string;
  ok: boolean;
  /** plot containers found, and how many hold an `<svg` */
  plots: number;
  drawnPlots: number;
  /** console errors / uncaught exceptions Chromium logged */
  scriptErrors: string[];
  /** http(s) URLs the page would load (scripts, styles, images) */
  networkRefs: string[];
  /** the rendered DOM (for further assertions) */
  dom: string;
}

/** The Chromium binary (`ANIMESEG_CHROMIUM`, else `chromium` on PATH), or null when absent. */
export async function findChromium(): Promise<string | null> {
  const cands = [Deno.env.get("ANIMESEG_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"].filter(
    (c): c is string => !!c,
  );
  for (const c of cands) {
    try {
      const out = await new Deno.Command(c, { args: ["--version"], stdout: "null", stderr: "null" }).output();
      if (out.success) return c;
    } catch { /* next */ }
  }
  return null;
}

/** Render `file` in headless Chromium (offline) and check scripts, network references and plot containers. */
export async function checkPage(file: string, opts: { chromium?: string; budgetMs?: number } = {}): Promise<PageCheck> {
  const chromium = opts.chromium ?? await findChromium();
  if (!chromium) throw new Error("chromium not found (set ANIMESEG_CHROMIUM)");
  const profile = await Deno.makeTempDir({ prefix: "animeseg-chromium-" });
  try {
    const out = await new Deno.Command(chromium, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        `--user-data-dir=${profile}`,
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        `--virtual-time-budget=${opts.budgetMs ?? 8000}`,
        "--dump-dom",
        `file://${file}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dom = new TextDecoder().decode(out.stdout);
    const log = new TextDecoder().decode(out.stderr);
    const scriptErrors = log.split("\n").filter((l) =>
      /CONSOLE[:(]|Uncaught/.test(l) && /error|Uncaught|Exception/i.test(l)
    );
    const html = await Deno.readTextFile(file);
    const networkRefs = [
      ...html.matchAll(/<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*["'](https?:\/\/[^"']+)/gi),
    ]
      .map((m) => m[1]);
    const containers = [...dom.matchAll(/<div[^>]*class="[^"]*animeseg-plot[^"]*"[^>]*>/g)];
    let drawn = 0;
    for (const m of containers) {
      // the container's content up to the next plot container (or a generous window)
      const start = m.index! + m[0].length;
      const next = dom.indexOf("animeseg-plot", start);
      const chunk = dom.slice(start, next > 0 ? next : start + 2_000_000);
      if (/<svg[\s>]/.test(chunk) && /class="[^"]*main-svg/.test(chunk)) drawn++;
    }
    return {
      file,
      ok: out.success && scriptErrors.length === 0 && networkRefs.length === 0 && drawn === containers.length,
      plots: containers.length,
      drawnPlots: drawn,
      scriptErrors,
      networkRefs,
      dom,
    };
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
