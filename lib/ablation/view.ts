/**
 * Reading an ablation folder back for people: the summary table rows (the same formatted numbers as
 * `summary.csv`), grouped bar charts with spread over seeds, PR curves and training curves per variant (plotly
 * figure objects), a gallery of the same test images under each variant, and a provenance paragraph. Used by
 * `notebooks/06_ablation.ipynb`; no plotting library is imported here, figures are plain data.
 */
import * as path from "node:path";
import { fmt, SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";

/** A plotly figure as plain data. */
export interface Figure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

/** The PR curve a run's evaluation leaves in `val-<refine>/pr.json`. */
export interface PrCurve {
  /** recall grid (0..1, 1000 points) */
  recall: number[];
  /** mask precision at IoU 0.5 on that grid, averaged over classes */
  precision: number[];
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/** Parse a CSV with a header row into records (numbers converted). */
export function parseCsv(text: string): Record<string, number | string>[] {
  const lines = text.trim().split(/\r?\n/);
  if (lines.length < 1) return [];
  const head = lines[0].split(",").map((h) => h.trim());
  return lines.slice(1).map((l) => {
    const cells = l.split(",");
    const r: Record<string, number | string> = {};
    head.forEach((h, i) => {
      const v = (cells[i] ?? "").trim();
      const n = Number(v);
      r[h] = v !== "" && Number.isFinite(n) ? n : v;
    });
    return r;
  });
}

/** An ablation folder loaded for display. */
export class AblationView {
  constructor(
    readonly dir: string,
    readonly summary: {
      name: string;
      preset: string;
      backend: string;
      commit: string;
      seconds: number;
      datasets: Record<string, string | null>;
      rows: SummaryRow[];
    },
    readonly config: Record<string, unknown> | null,
  ) {}

  /** Where the data and weights came from, and how the run was made (Markdown). */
  get provenance(): string {
    const c = (this.config ?? {}) as {
      model?: { scale?: string; weights?: string | null };
      data?: { src?: string | null; nTrain?: number; nTest?: number };
      train?: { epochs?: number; imgsz?: number };
      sam?: string | null;
    };
    const src = c.data?.src ? `the SkyTNT-layout folder \`${c.data.src}\`` : "the built-in procedural anime characters";
    const w = c.model?.weights
      ? `fine-tuned from \`${c.model.weights}\``
      : "trained from scratch (no pretrained weights given, so the COCO-pretrained row is skipped)";
    const sam = c.sam ? `SAM weights \`${c.sam}\`` : "no SAM weights (refinement rows skipped)";
    return [
      `**Ablation \`${this.summary.name}\`** (preset ${this.summary.preset}), backend ${this.summary.backend}, commit ` +
      `\`${this.summary.commit}\`, ${this.summary.seconds.toFixed(0)} s in all.`,
      "",
      `Data: ${src}; ${c.data?.nTrain ?? "?"} synthetic training images per variant, ${c.data?.nTest ?? "?"} test ` +
      `images made differently (upright, bottom-anchored characters). Model: YOLOv8${
        c.model?.scale ?? "?"
      }-seg, ${w}, ` +
      `${c.train?.epochs ?? "?"} epochs at ${c.train?.imgsz ?? "?"} px. Refinement: ${sam}.`,
    ].join("\n");
  }

  /** Rows for the table: the same 4-decimal strings as `summary.csv`. */
  get tableRows(): Record<string, string | number>[] {
    return this.summary.rows.map((r) => {
      const o: Record<string, string | number> = { variant: r.variant, refine: r.refine, seeds: r.seeds.length };
      for (const [k, label] of SUMMARY_COLUMNS) {
        o[label] = r.status === "done" && Number.isFinite(r.mean[k]) ? `${fmt(r.mean[k])} ± ${fmt(r.sd[k])}` : "n/a";
      }
      return o;
    });
  }

  /** Grouped bars of one summary column: x = variant, one group per refinement, error bars = sd. */
  barFigure(key: string, title: string): Figure {
    const refines = [...new Set(this.summary.rows.map((r) => r.refine))];
    const variants = [...new Set(this.summary.rows.map((r) => r.variant))];
    const data = refines.map((rf, i) => {
      const rows = variants.map((v) => this.summary.rows.find((r) => r.variant === v && r.refine === rf));
      return {
        type: "bar",
        name: `refine=${rf}`,
        x: variants,
        y: rows.map((r) => (r && r.status === "done" ? r.mean[key] : null)),
        error_y: { type: "data", array: rows.map((r) => (r && r.status === "done" ? r.sd[key] : 0)), visible: true },
        marker: { color: COLORS[i % COLORS.length] },
      };
    });
    return { data, layout: { title, barmode: "group", yaxis: { title: key, rangemode: "tozero" } } };
  }

  private firstRun(variant: string): string | null {
    const r = this.summary.rows.find((x) => x.variant === variant && x.status === "done");
    return r ? path.join(this.dir, r.runs[0]) : null;
  }

  /** Mask PR curves at IoU 0.5, one line per variant (first finished seed, no refinement). */
  async prFigure(): Promise<Figure> {
    const data: Record<string, unknown>[] = [];
    const variants = [...new Set(this.summary.rows.map((r) => r.variant))];
    for (const [i, v] of variants.entries()) {
      const run = this.firstRun(v);
      if (!run) continue;
      try {
        const pr = JSON.parse(await Deno.readTextFile(path.join(run, "val-none", "pr.json"))) as PrCurve;
        data.push({
          type: "scatter",
          mode: "lines",
          name: v,
          x: pr.recall,
          y: pr.precision,
          line: { color: COLORS[i % COLORS.length] },
        });
      } catch { /* no curve for this run */ }
    }
    return {
      data,
      layout: {
        title: "mask precision-recall (IoU 0.5)",
        xaxis: { title: "recall", range: [0, 1] },
        yaxis: { title: "precision", range: [0, 1.02] },
      },
    };
  }

  /** One `results.csv` column per epoch for every trained variant (first finished seed). */
  async trainingFigure(column: string, title: string): Promise<Figure> {
    const data: Record<string, unknown>[] = [];
    const variants = [...new Set(this.summary.rows.map((r) => r.variant))];
    for (const [i, v] of variants.entries()) {
      const run = this.firstRun(v);
      if (!run) continue;
      try {
        const rows = parseCsv(await Deno.readTextFile(path.join(run, "train", "results.csv")));
        if (!rows.length || !(column in rows[0])) continue;
        data.push({
          type: "scatter",
          mode: "lines+markers",
          name: v,
          x: rows.map((r) => r.epoch),
          y: rows.map((r) => r[column]),
          line: { color: COLORS[i % COLORS.length] },
        });
      } catch { /* not trained (pretrained row) */ }
    }
    return { data, layout: { title, xaxis: { title: "epoch" }, yaxis: { title: column } } };
  }

  /** An HTML grid: one row per test image, one column per variant (first seed, no refinement). */
  async galleryHtml(maxImages: number): Promise<string> {
    const variants = [...new Set(this.summary.rows.map((r) => r.variant))];
    const cols: { variant: string; files: Map<string, string> }[] = [];
    for (const v of variants) {
      const run = this.firstRun(v);
      if (!run) continue;
      const files = new Map<string, string>();
      try {
        for await (const e of Deno.readDir(path.join(run, "val-none", "gallery"))) {
          if (e.isFile && e.name.endsWith(".png")) files.set(e.name, path.join(run, "val-none", "gallery", e.name));
        }
      } catch { /* no gallery */ }
      cols.push({ variant: v, files });
    }
    const names = [...new Set(cols.flatMap((c) => [...c.files.keys()]))].sort().slice(0, maxImages);
    if (!names.length) return "<p>No gallery images were saved.</p>";
    const b64 = async (f: string) => {
      const bytes = await Deno.readFile(f);
      let s = "";
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    };
    let html = `<table style="border-collapse:collapse"><tr><th></th>${
      cols.map((c) => `<th style="padding:4px">${c.variant}</th>`).join("")
    }</tr>`;
    for (const n of names) {
      html += `<tr><td style="font-size:11px">${n}</td>`;
      for (const c of cols) {
        const f = c.files.get(n);
        html += f
          ? `<td style="padding:2px"><img style="max-width:200px" src="data:image/png;base64,${await b64(f)}"/></td>`
          : "<td>n/a</td>";
      }
      html += "</tr>";
    }
    return html + "</table>";
  }
}

/** Load `summary.json` (and `config.json`) of an ablation folder. */
export async function loadAblationSummary(dir: string): Promise<AblationView> {
  const summary = JSON.parse(await Deno.readTextFile(path.join(dir, "summary.json")));
  let config: Record<string, unknown> | null = null;
  try {
    config = JSON.parse(await Deno.readTextFile(path.join(dir, "config.json")));
  } catch { /* older folder */ }
  return new AblationView(dir, summary, config);
}

/** Make sure an ablation exists in `dir`: when it has no summary, run the demo preset there (tiny when `quick`). */
export async function ensureAblation(dir: string, opts: { quick: boolean }): Promise<void> {
  try {
    await Deno.stat(path.join(dir, "summary.json"));
    return;
  } catch { /* run one below */ }
  const { runDemoAblation } = await import("./steps.ts");
  await runDemoAblation({ dir, quick: opts.quick });
}
