/**
 * The offline HTML report: executes the notebooks into `runs/report/notebooks/` and writes `runs/report/index.html`,
 * an index linking each rendered notebook (plots interactive, plotly.js inlined, no network) with the ablation's
 * summary table, every number linking to its run folder.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../io/atomic.ts";
import { executeNotebooks, type NotebookOutcome } from "./notebooks.ts";
import { fmt, SUMMARY_COLUMNS, type SummaryRow } from "../ablation/summary.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Report options. */
export interface ReportOptions {
  /** output folder (default `runs/report`) */
  outDir?: string;
  /** notebooks to execute (default: all) */
  notebooks?: string[];
  /** ablation folder whose summary goes on the index page (default `runs/ablation/demo` when present) */
  ablationDir?: string | null;
  /** environment for the notebook kernels (e.g. `ANIMESEG_ABLATION`) */
  env?: Record<string, string>;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const TITLES: Record<string, string> = {
  "00_quickstart": "Quickstart: backend, image I/O, letterbox",
  "01_datasets": "Datasets: simple, reinforced, reinforced + COCO person",
  "02_inference": "Inference with a YOLOv8-seg checkpoint",
  "03_evaluation": "Evaluation: metrics, PR curves, proto vs native masks",
  "04_training": "Training a small model on the built-in data",
  "05_sam_refinement": "SAM refinement: vote and box prompts",
  "06_ablation": "The study's dataset ablation",
};

/** HTML table of summary rows; `linkBase` is the ablation folder relative to the page. */
export function summaryTableHtml(rows: SummaryRow[], linkBase: string): string {
  const head = `<tr><th>variant</th><th>refine</th><th>seeds</th>${
    SUMMARY_COLUMNS.map(([, l]) => `<th>${esc(l)}</th>`).join("")
  }</tr>`;
  const body = rows.map((r) => {
    const href = r.runs.length ? `${linkBase}/${path.posix.dirname(r.runs[0])}/` : "";
    const cells = SUMMARY_COLUMNS.map(([k]) =>
      r.status === "done" && Number.isFinite(r.mean[k])
        ? `<td><a href="${esc(href)}" data-key="${esc(k)}">${fmt(r.mean[k])} ± ${fmt(r.sd[k])}</a></td>`
        : `<td title="${esc(r.reason ?? "")}">n/a</td>`
    ).join("");
    return `<tr><td>${esc(r.variant)}</td><td>${esc(r.refine)}</td><td>${r.seeds.length}</td>${cells}</tr>`;
  }).join("\n");
  return `<table class="summary">${head}\n${body}</table>`;
}

/** Build the report; returns the index file and each notebook's outcome. */
export async function buildReport(opts: ReportOptions = {}): Promise<{ index: string; notebooks: NotebookOutcome[] }> {
  const outDir = path.resolve(opts.outDir ?? path.join(ROOT, "runs", "report"));
  const nbDir = path.join(outDir, "notebooks");
  const ablation = opts.ablationDir === undefined ? path.join(ROOT, "runs", "ablation", "demo") : opts.ablationDir;
  const env: Record<string, string> = { ...(opts.env ?? {}) };
  if (ablation && !env.ANIMESEG_ABLATION) env.ANIMESEG_ABLATION = ablation;
  const outcomes = await executeNotebooks(opts.notebooks ?? [], nbDir, { env });
  let summary = "<p>No ablation summary found: run <code>deno task cli ablation</code> first.</p>";
  if (ablation) {
    try {
      const s = JSON.parse(await Deno.readTextFile(path.join(ablation, "summary.json")));
      const rel = path.relative(outDir, ablation).split(path.sep).join("/");
      summary =
        `<p>Ablation <b>${esc(String(s.name))}</b> (preset ${esc(String(s.preset))}, backend ${
          esc(String(s.backend))
        }, commit <code>${
          esc(String(s.commit))
        }</code>). Mean ± sample standard deviation over seeds; masks compared at` +
        ` native resolution unless marked. Files: <a href="${rel}/summary.csv">summary.csv</a>, ` +
        `<a href="${rel}/summary.md">summary.md</a>, <a href="${rel}/summary.json">summary.json</a>.</p>\n` +
        summaryTableHtml(s.rows as SummaryRow[], rel);
    } catch { /* no summary yet */ }
  }
  const items = outcomes.map((o) => {
    const title = TITLES[o.name] ?? o.name;
    const status = o.ok ? "" : ` <span class="bad">(failed)</span>`;
    return o.html
      ? `<li><a href="notebooks/${esc(o.html)}">${esc(o.name)}</a>: ${esc(title)} <small>${
        o.seconds.toFixed(0)
      } s</small>${status}</li>`
      : `<li>${esc(o.name)}: ${esc(title)} <small>(run as a script: no Jupyter on this machine)</small>${status}</li>`;
  }).join("\n");
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>animeseg report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table.summary{border-collapse:collapse;font-size:13px}table.summary td,table.summary th{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.summary td:first-child,table.summary td:nth-child(2){text-align:left}.bad{color:#b00}
</style></head><body>
<h1>animeseg report</h1>
<p>Generated ${esc(new Date().toISOString())}. Every page works offline; plots are interactive.</p>
<h2>Ablation summary</h2>
${summary}
<h2>Notebooks</h2>
<ul>
${items}
</ul>
</body></html>
`;
  const index = path.join(outDir, "index.html");
  await writeFileAtomic(index, html);
  return { index, notebooks: outcomes };
}
