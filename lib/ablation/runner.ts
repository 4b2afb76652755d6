/**
 * The ablation runner: builds the dataset variants once, then for every (variant, seed) trains (or, for the
 * COCO-pretrained row, only evaluates), evaluates on the test set with every refinement method, and writes one
 * `result.json` per (variant, seed, refinement) plus the summary table. Finished runs are skipped on a re-run and
 * interrupted trainings resume from their last checkpoint (the trainer's resume). The steps themselves (data,
 * training, evaluation) are injected, so the runner holds no algorithm of its own.
 */
import * as path from "node:path";
import { writeJsonAtomic } from "../io/atomic.ts";
import { readJsonOrNull } from "../util/fs.ts";
import type { AblationConfig, RefineMethod, VariantSpec } from "./config.ts";
import { type BoxMask, type RunResult, type SummaryRow, writeSummary } from "./summary.ts";

/** Dataset YAMLs the variants train on, and the test set. */
export interface DatasetPaths {
  simple: string;
  reinforced: string;
  /** null when no COCO person source was given */
  reinforcedPerson: string | null;
  test: string;
}

/** What a training step returns. */
export interface TrainOutcome {
  /** weights to evaluate (the best checkpoint by fitness) */
  weights: string;
  /** the trainer's run folder */
  runDir: string;
  seconds: number;
}

/** What an evaluation step returns. */
export interface EvalOutcome {
  native: BoxMask;
  /** proto-resolution metrics (ultralytics' validator); null for refined rows */
  proto: BoxMask | null;
  engine: string;
  seconds: number;
}

/** The injected steps (see `lib/ablation/steps.ts` for the real ones). */
export interface AblationSteps {
  buildDatasets(cfg: AblationConfig, dir: string): Promise<DatasetPaths>;
  train(a: { cfg: AblationConfig; data: string; seed: number; runDir: string }): Promise<TrainOutcome>;
  evaluate(a: {
    cfg: AblationConfig;
    weights: string;
    test: string;
    refine: RefineMethod;
    /** evaluate only this model class, mapped to the dataset's class 0 (COCO person as `character`) */
    classMap: number | null;
    runDir: string;
  }): Promise<EvalOutcome>;
  environment(): Promise<{ backend: string; commit: string }>;
}

/** Where an ablation writes: `<root>/runs/ablation/<name>/`. */
export function ablationDir(root: string, cfg: AblationConfig): string {
  return path.join(root, "runs", "ablation", cfg.name);
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function dataFor(v: VariantSpec, d: DatasetPaths): string | null {
  if (v.kind === "simple") return d.simple;
  if (v.kind === "reinforced") return d.reinforced;
  if (v.kind === "reinforced+person") return d.reinforcedPerson;
  return null;
}

/** Run (or resume) an ablation; returns its folder and the summary rows. */
export async function runAblation(
  cfg: AblationConfig,
  steps: AblationSteps,
  opts: { root: string; dir?: string; log?: (msg: string) => void },
): Promise<{ dir: string; rows: SummaryRow[]; results: RunResult[] }> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const dir = opts.dir ?? ablationDir(opts.root, cfg);
  await Deno.mkdir(dir, { recursive: true });
  await writeJsonAtomic(path.join(dir, "config.json"), cfg);
  const env = await steps.environment();
  log(
    `ablation ${cfg.name}: ${cfg.variants.length} variants x ${cfg.seeds.length} seeds, refine ${cfg.refine.join("/")}`,
  );
  // refinement needs SAM weights: without them the vote/box rows are left out (said once, and in the summary)
  const refine: RefineMethod[] = cfg.sam ? cfg.refine : cfg.refine.filter((r) => r === "none");
  const notes: string[] = [];
  if (!cfg.sam && cfg.refine.some((r) => r !== "none")) {
    notes.push("refinement rows (vote, box) left out: no SAM weights (sam=...; animeseg weights fetch mobile_sam)");
    log(`  ${notes[notes.length - 1]}`);
  }
  const data = await steps.buildDatasets(cfg, path.join(dir, "datasets"));
  const results: RunResult[] = [];
  const t0 = performance.now();
  for (const v of cfg.variants) {
    for (const seed of cfg.seeds) {
      const runRel = path.posix.join(slug(v.name), `seed${seed}`);
      const runDir = path.join(dir, runRel);
      await Deno.mkdir(runDir, { recursive: true });
      // the evaluation of each refinement method is its own result file
      const pending: RefineMethod[] = [];
      for (const r of refine) {
        const done = await readJsonOrNull<RunResult>(path.join(runDir, `result-${r}.json`));
        if (done) results.push(done);
        else pending.push(r);
      }
      if (!pending.length) {
        log(`  ${v.name} seed ${seed}: finished earlier, skipped`);
        continue;
      }
      const base = { variant: v.name, kind: v.kind, seed, runDir: runRel, backend: env.backend, commit: env.commit };
      const skip = async (methods: RefineMethod[], reason: string) => {
        for (const m of methods) {
          const r: RunResult = { ...base, refine: m, status: "skipped", reason };
          await writeJsonAtomic(path.join(runDir, `result-${m}.json`), r);
          results.push(r);
        }
        log(`  ${v.name} seed ${seed}: skipped (${reason})`);
      };
      let weights: string | null = null;
      let classMap: number | null = null;
      const timings: Record<string, number> = {};
      if (v.kind === "pretrained") {
        if (!cfg.model.weights) {
          await skip(pending, "no pretrained weights given (model.weights / pretrained=true)");
          continue;
        }
        if (seed !== cfg.seeds[0]) {
          // no training: every seed would give the same numbers; evaluate once
          await skip(pending, "evaluated once (no training, seed-independent)");
          continue;
        }
        weights = cfg.model.weights;
        classMap = cfg.model.personClass;
      } else {
        const d = dataFor(v, data);
        if (!d) {
          await skip(pending, "no COCO person dataset given (data.cocoPerson)");
          continue;
        }
        log(`  ${v.name} seed ${seed}: training on ${path.relative(dir, d)}`);
        const t = await steps.train({ cfg, data: d, seed, runDir: path.join(runDir, "train") });
        weights = t.weights;
        timings.train_s = t.seconds;
      }
      for (const method of pending) {
        const e = await steps.evaluate({ cfg, weights: weights!, test: data.test, refine: method, classMap, runDir });
        const r: RunResult = {
          ...base,
          refine: method,
          status: "done",
          metrics: { native: e.native, proto: e.proto },
          engine: e.engine,
          timings: { ...timings, eval_s: e.seconds },
        };
        await writeJsonAtomic(path.join(runDir, `result-${method}.json`), r);
        results.push(r);
        log(
          `  ${v.name} seed ${seed} ${method}: mask mAP50-95 ${e.native.mask["mAP50-95"].toFixed(4)} (native)` +
            (e.proto ? `, ${e.proto.mask["mAP50-95"].toFixed(4)} (proto)` : ""),
        );
      }
    }
  }
  // results in config order (variants, seeds, refine) whatever was resumed
  const order = (r: RunResult) =>
    cfg.variants.findIndex((v) => v.name === r.variant) * 1e6 + cfg.seeds.indexOf(r.seed) * 1e3 +
    refine.indexOf(r.refine as RefineMethod);
  results.sort((a, b) => order(a) - order(b));
  const rows = await writeSummary(dir, results, {
    name: cfg.name,
    preset: cfg.preset,
    backend: env.backend,
    commit: env.commit,
    seconds: (performance.now() - t0) / 1000,
    notes,
    datasets: Object.fromEntries(Object.entries(data).map(([k, p]) => [k, p ? path.relative(dir, p) : null])),
  });
  log(`ablation ${cfg.name}: summary in ${path.join(dir, "summary.md")}`);
  return { dir, rows, results };
}
