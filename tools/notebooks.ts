/**
 * `deno task notebooks [--check] [NAME ...]`: executes every notebook in `notebooks/` headlessly with the repo-local
 * Deno kernelspec (`jupyter/kernels/deno`), writes executed copies and HTML (plotly.js injected once, renders
 * offline) to `runs/notebooks/`, and fails when any cell errored or a background error escaped.
 * `--check` first type-checks each notebook's code (cells extracted to a temporary module). Without Jupyter
 * (python3 + nbclient), the extracted code is run as a script instead and the kernel run is reported as skipped.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NB_DIR = path.join(ROOT, "notebooks");
const OUT_DIR = path.join(ROOT, "runs", "notebooks");

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
async function notebookList(names: string[]): Promise<string[]> {
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

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log("usage: deno task notebooks [--check] [--out DIR] [NAME ...]");
    return 0;
  }
  const check = argv.includes("--check");
  const outIdx = argv.indexOf("--out");
  const outDir = outIdx >= 0 ? path.resolve(argv[outIdx + 1]) : OUT_DIR;
  const names = argv.filter((a, i) => !a.startsWith("--") && !(outIdx >= 0 && i === outIdx + 1));
  const files = await notebookList(names);
  await Deno.mkdir(outDir, { recursive: true });
  const python = Deno.env.get("ANIMESEG_PYTHON") ?? "/usr/bin/python3";
  const jupyter = await hasJupyter(python);
  const env = {
    JUPYTER_PATH: path.join(ROOT, "jupyter"),
    NO_COLOR: "1",
    PATH: `${path.join(ROOT, "node_modules", ".bin")}:${Deno.env.get("PATH") ?? ""}`,
  };
  let failed = 0;
  for (const file of files) {
    const stem = path.basename(file, ".ipynb");
    const nb = JSON.parse(await Deno.readTextFile(file));
    const script = path.join(NB_DIR, `.nbcheck_${stem}.ts`);
    await Deno.writeTextFile(script, extractCode(nb));
    try {
      if (check) {
        const rc = await run(Deno.execPath(), ["check", "-q", script]);
        if (rc !== 0) {
          console.error(`notebooks: ${stem}: type check failed`);
          failed++;
          continue;
        }
      }
      const t0 = performance.now();
      let rc: number;
      if (jupyter) {
        rc = await run(python, [path.join(ROOT, "tools", "run_notebook.py"), file, path.join(outDir, stem)], env);
        if (rc === 0) await injectPlotly(path.join(outDir, `${stem}.html`));
      } else {
        console.log(`notebooks: ${stem}: Jupyter not found (python3 + nbclient); kernel run skipped, running code`);
        rc = await run(Deno.execPath(), ["run", "-A", script], { NO_COLOR: "1" }, NB_DIR);
      }
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(`notebooks: ${stem}: ${rc === 0 ? "ok" : "FAILED"} (${s}s)`);
      if (rc !== 0) failed++;
    } finally {
      await Deno.remove(script).catch(() => {});
    }
  }
  console.log(`notebooks: ${files.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
