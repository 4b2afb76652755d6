/**
 * The ablation's summary table: one row per (variant, refinement), mean and sample standard deviation over seeds
 * of box/mask P, R, mAP50, mAP50-95 (native-resolution masks first, proto resolution alongside), each linked to its
 * run folders; written as CSV, JSON and Markdown from the same numbers.
 */
import * as path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";

/** ultralytics-style metric block. */
export interface MetricBlock {
  P: number;
  R: number;
  mAP50: number;
  "mAP50-95": number;
}

/** Box and mask metrics at one mask resolution (native: with the foreground boundary F-score when measured). */
export interface BoxMask {
  box: MetricBlock;
  mask: MetricBlock;
  boundaryF?: number;
}

/** What one (variant, seed, refinement) run leaves in its `result.json`. */
export interface RunResult {
  variant: string;
  kind: string;
  seed: number;
  refine: string;
  status: "done" | "skipped";
  /** why a run was skipped */
  reason?: string;
  /** run folder relative to the ablation folder */
  runDir: string;
  /** metrics with masks compared at native resolution and at proto (160x160-style) resolution (refined rows: native only) */
  metrics?: { native: BoxMask; proto?: BoxMask | null };
  backend?: string;
  engine?: string;
  commit?: string;
  timings?: Record<string, number>;
}

/** Columns of the summary, in order: [key, label]. */
export const SUMMARY_COLUMNS: [string, string][] = [
  ["mask.mAP50-95", "mask mAP50-95"],
  ["mask.mAP50", "mask mAP50"],
  ["box.mAP50-95", "box mAP50-95"],
  ["box.mAP50", "box mAP50"],
  ["mask.P", "mask P"],
  ["mask.R", "mask R"],
  ["proto.mask.mAP50-95", "mask mAP50-95 (proto res.)"],
  ["boundaryF", "boundary F"],
];

/** One row: mean and sample sd per column over seeds. */
export interface SummaryRow {
  variant: string;
  kind: string;
  refine: string;
  seeds: number[];
  /** runs folder(s) relative to the ablation folder */
  runs: string[];
  status: "done" | "skipped";
  reason?: string;
  mean: Record<string, number>;
  sd: Record<string, number>;
}

function pick(m: { native: BoxMask; proto?: BoxMask | null }, key: string): number {
  if (key === "boundaryF") return typeof m.native.boundaryF === "number" ? m.native.boundaryF : NaN;
  const parts = key.split(".");
  const base = parts[0] === "proto" ? m.proto : m.native;
  if (!base) return NaN;
  const rest = parts[0] === "proto" ? parts.slice(1) : parts;
  const v = (base as unknown as Record<string, Record<string, number>>)[rest[0]]?.[rest[1]];
  return typeof v === "number" ? v : NaN;
}

/** Mean and sample standard deviation (n-1; 0 for a single value). */
export function meanSd(xs: number[]): { mean: number; sd: number } {
  if (!xs.length) return { mean: NaN, sd: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, sd: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, sd: Math.sqrt(v) };
}

/** Group run results into summary rows (variant order, then refinement order, as first seen). */
export function summarise(results: RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.variant}\u0000${r.refine}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const rows: SummaryRow[] = [];
  for (const rs of groups.values()) {
    const done = rs.filter((r) => r.status === "done" && r.metrics);
    const mean: Record<string, number> = {}, sd: Record<string, number> = {};
    for (const [key] of SUMMARY_COLUMNS) {
      const s = meanSd(done.map((r) => pick(r.metrics!, key)).filter((v) => Number.isFinite(v)));
      mean[key] = s.mean;
      sd[key] = s.sd;
    }
    rows.push({
      variant: rs[0].variant,
      kind: rs[0].kind,
      refine: rs[0].refine,
      seeds: done.map((r) => r.seed),
      runs: rs.map((r) => r.runDir),
      status: done.length ? "done" : "skipped",
      reason: done.length ? undefined : rs.find((r) => r.reason)?.reason,
      mean,
      sd,
    });
  }
  return rows;
}

/** A number as the table shows it (4 decimals, "n/a" for missing). */
export function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : "n/a";
}

/** CSV text of the summary (one line per row, mean and sd columns). */
export function summaryCsv(rows: SummaryRow[]): string {
  const head = ["variant", "refine", "seeds", ...SUMMARY_COLUMNS.flatMap(([k]) => [`${k} mean`, `${k} sd`]), "runs"];
  const q = (s: string) => /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  const lines = [head.join(",")];
  for (const r of rows) {
    lines.push([
      q(r.variant),
      r.refine,
      String(r.seeds.length),
      ...SUMMARY_COLUMNS.flatMap(([k]) => [fmt(r.mean[k]), fmt(r.sd[k])]),
      q(r.runs.join(" ")),
    ].join(","));
  }
  return lines.join("\n") + "\n";
}

/** Markdown table of the summary; every number links to its variant's run folder. */
export function summaryMarkdown(rows: SummaryRow[], title: string): string {
  const cols = SUMMARY_COLUMNS.map(([, l]) => l);
  const out = [`# ${title}`, "", `| variant | refine | seeds | ${cols.join(" | ")} |`];
  out.push(`|---|---|---|${cols.map(() => "---:").join("|")}|`);
  for (const r of rows) {
    const link = r.runs.length ? path.posix.dirname(r.runs[0]) + "/" : "";
    const cells = SUMMARY_COLUMNS.map(([k]) =>
      r.status === "done" && Number.isFinite(r.mean[k]) ? `[${fmt(r.mean[k])} ± ${fmt(r.sd[k])}](${link})` : "n/a"
    );
    out.push(`| ${r.variant} | ${r.refine} | ${r.seeds.length} | ${cells.join(" | ")} |`);
  }
  const skipped = rows.filter((r) => r.status === "skipped");
  if (skipped.length) {
    out.push("", "Skipped rows:");
    for (const r of skipped) out.push(`- ${r.variant} (refine ${r.refine}): ${r.reason ?? "no finished run"}`);
  }
  return out.join("\n") + "\n";
}

/** Write `summary.csv`, `summary.json` and `summary.md` into `dir` (atomically); returns the rows. */
export async function writeSummary(
  dir: string,
  results: RunResult[],
  meta: Record<string, unknown>,
): Promise<SummaryRow[]> {
  const rows = summarise(results);
  await writeFileAtomic(path.join(dir, "summary.csv"), summaryCsv(rows));
  await writeJsonAtomic(path.join(dir, "summary.json"), { ...meta, columns: SUMMARY_COLUMNS, rows, results });
  const notes = (meta.notes as string[] | undefined) ?? [];
  const md = summaryMarkdown(rows, `Ablation ${meta.name ?? ""}`.trim()) +
    (notes.length ? "\n" + notes.map((n) => `Note: ${n}`).join("\n") + "\n" : "");
  await writeFileAtomic(path.join(dir, "summary.md"), md);
  return rows;
}
