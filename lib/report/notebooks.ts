/**
 * Executing notebooks headlessly: each `notebooks/*.ipynb` runs in the repo-local Deno kernelspec
 * (`jupyter/kernels/deno`) through `tools/run_notebook.py` (nbclient), and its executed copy and HTML (plotly.js
 * injected once, so plots render offline) are written to an output folder. A failing cell or an escaped background
 * error fails the notebook. `check` first type-checks the notebook's code (cells extracted to a temporary module);
 * without Jupyter (python3 + nbclient), the extracted code runs as a script and the kernel run is reported as skipped.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NB_DIR = path.join(ROOT, "notebooks");
/** Default output folder of `deno task notebooks`. */
export const NOTEBOOK_OUT_DIR: string = path.join(ROOT, "runs", "notebooks");

interface NotebookCell {
  cell_type: string;
  source: string | string[];
  outputs?: { output_type: string; ename?: string; evalue?: string }[];
}

/** Code of a notebook's code cells, joined as one TypeScript module. */
export function extractCode(nb: { cells: NotebookCell[] }): string {
  return nb.cells.filter((c) => c.cell_type === "code").map((c, i) => {
    const src = Array.isArray(c.source) ? c.source.join("") : c.source;
    return `// --- cell ${i + 1}\n${src}\n`;
  }).join("\n") + "\nexport {};\n";
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<number> {
  const p = new Deno.Command(cmd, { args, env, cwd, stdout: "inherit", stderr: "inherit" }).spawn();
  return (await p.status).code;
}

async function hasJupyter(python: string): Promise<boolean> {
  try {
    const p = await new Deno.Command(python, { args: ["-c", "import nbclient, nbconvert, nbformat"], stderr: "null" })
      .output();
    return p.success;
  } catch {
    return false;
  }
}

/** Put plotly.js once into the HTML's head so plots render from disk with no network. */
export async function injectPlotly(htmlFile: string): Promise<void> {
  const lib = await Deno.readTextFile(path.join(ROOT, "node_modules", "plotly.js-dist-min", "plotly.min.js"));
  let html = await Deno.readTextFile(htmlFile);
  if (html.includes("<!-- animeseg:plotly -->")) return;
  const tag = `<!-- animeseg:plotly --><script>${lib.replace(/<\/script/gi, "<\\/script")}</script>`;
  html = html.includes("</head>") ? html.replace("</head>", () => `${tag}</head>`) : tag + html;
  const tmp = htmlFile + ".tmp";
  await Deno.writeTextFile(tmp, html);
  await Deno.rename(tmp, htmlFile);
}

/** Notebook files to run: the names given, or every `notebooks/*.ipynb` in name order. */
export async function notebookList(names: string[]): Promise<string[]> {
  const all: string[] = [];
  for await (const e of Deno.readDir(NB_DIR)) if (e.isFile && e.name.endsWith(".ipynb")) all.push(e.name);
  all.sort();
  if (!names.length) return all.map((n) => path.join(NB_DIR, n));
  return names.map((n) => {
    const hit = all.find((a) => a === n || a === `${n}.ipynb` || a.startsWith(n));
    if (!hit) throw new Error(`notebooks: no notebook matches '${n}'`);
    return path.join(NB_DIR, hit);
  });
}

/** Outcome of one notebook. */
export interface NotebookOutcome {
  name: string;
  ok: boolean;
  /** "kernel" when executed by Jupyter, "script" when run as extracted code, "check" when the type check failed */
  mode: "kernel" | "script" | "check";
  seconds: number;
  /** the executed HTML (kernel mode) relative to the output folder */
  html: string | null;
}

/** Execute notebooks (all of `notebooks/` when `names` is empty) into `outDir`. */
export async function executeNotebooks(
  names: string[],
  outDir: string,
  opts: { check?: boolean; env?: Record<string, string> } = {},
): Promise<NotebookOutcome[]> {
  const files = await notebookList(names);
  await Deno.mkdir(outDir, { recursive: true });
  const python = Deno.env.get("ANIMESEG_PYTHON") ?? "/usr/bin/python3";
  const jupyter = await hasJupyter(python);
  const env = {
    JUPYTER_PATH: path.join(ROOT, "jupyter"),
    NO_COLOR: "1",
    PATH: `${path.join(ROOT, "node_modules", ".bin")}:${Deno.env.get("PATH") ?? ""}`,
    ...(opts.env ?? {}),
  };
  const outcomes: NotebookOutcome[] = [];
  for (const file of files) {
    const stem = path.basename(file, ".ipynb");
    const nb = JSON.parse(await Deno.readTextFile(file));
    const script = path.join(NB_DIR, `.nbcheck_${stem}.ts`);
    await Deno.writeTextFile(script, extractCode(nb));
    const t0 = performance.now();
    try {
      if (opts.check) {
        const rc = await run(Deno.execPath(), ["check", "-q", script]);
        if (rc !== 0) {
          console.error(`notebooks: ${stem}: type check failed`);
          outcomes.push({ name: stem, ok: false, mode: "check", seconds: 0, html: null });
          continue;
        }
      }
      let rc: number;
      if (jupyter) {
        rc = await run(python, [path.join(ROOT, "tools", "run_notebook.py"), file, path.join(outDir, stem)], env);
        if (rc === 0) await injectPlotly(path.join(outDir, `${stem}.html`));
      } else {
        console.log(`notebooks: ${stem}: Jupyter not found (python3 + nbclient); kernel run skipped, running code`);
        rc = await run(Deno.execPath(), ["run", "-A", script], { ...env }, NB_DIR);
      }
      const seconds = (performance.now() - t0) / 1000;
      console.log(`notebooks: ${stem}: ${rc === 0 ? "ok" : "FAILED"} (${seconds.toFixed(1)}s)`);
      outcomes.push({
        name: stem,
        ok: rc === 0,
        mode: jupyter ? "kernel" : "script",
        seconds,
        html: jupyter ? `${stem}.html` : null,
      });
    } finally {
      await Deno.remove(script).catch(() => {});
    }
  }
  return outcomes;
}
