/** The ablation's training step: one call of the project's trainer per (variant, seed), resumable. */
import type { AblationConfig } from "./config.ts";
import type { TrainOutcome } from "./runner.ts";

/** Train (or resume) one ablation run into `runDir`. */
export async function trainForAblation(a: {
  cfg: AblationConfig;
  data: string;
  seed: number;
  runDir: string;
}): Promise<TrainOutcome> {
  const spec = "../train/trainer.ts";
  const mod = await import(spec) as {
    train(o: Record<string, unknown>): Promise<{ runDir: string; best: string; last: string }>;
  };
  const t0 = performance.now();
  const r = await mod.train({ data: a.data, seed: a.seed, runDir: a.runDir, epochs: a.cfg.train.epochs });
  return { weights: r.best, runDir: r.runDir, seconds: (performance.now() - t0) / 1000 };
}
