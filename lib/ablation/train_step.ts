/**
 * The ablation's training step: one call of the project's trainer per (variant, seed) into the run's `train/`
 * folder. A finished training (marker `train/done.json`) is reused; an interrupted one resumes from
 * `weights/last_state` with its optimiser, EMA, scheduler and RNG state.
 */
import * as path from "node:path";
import { train } from "../train/trainer.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { exists } from "../util/fs.ts";
import type { AblationConfig } from "./config.ts";
import type { TrainOutcome } from "./runner.ts";

/** Train (or resume, or reuse) one ablation run in `runDir`. */
export async function trainForAblation(a: {
  cfg: AblationConfig;
  data: string;
  seed: number;
  runDir: string;
}): Promise<TrainOutcome> {
  const done = path.join(a.runDir, "done.json");
  if (await exists(done)) {
    const d = JSON.parse(await Deno.readTextFile(done));
    return { weights: d.best, runDir: a.runDir, seconds: d.seconds ?? 0 };
  }
  const t0 = performance.now();
  const c = a.cfg;
  const resumable = await exists(path.join(a.runDir, "weights", "last_state.json"));
  const fromWeights = !!c.model.weights;
  const r = await train({
    data: a.data,
    model: c.model.weights ?? c.model.scale,
    epochs: c.train.epochs,
    imgsz: c.train.imgsz,
    batch: c.train.batch,
    seed: a.seed,
    project: path.dirname(a.runDir),
    name: path.basename(a.runDir),
    existOk: true,
    resume: resumable ? a.runDir : false,
    maxMinutes: c.train.maxMinutes,
    initClsFrom: fromWeights && c.model.initClsFromPerson ? c.model.personClass : -1,
    quiet: true,
    ...(c.train.extra as Record<string, unknown>),
  });
  const seconds = (performance.now() - t0) / 1000;
  await writeJsonAtomic(done, { best: r.best, last: r.last, seconds, epochs: r.results.length });
  return { weights: r.best, runDir: r.runDir, seconds };
}
