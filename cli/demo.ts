/**
 * `animeseg demo` (`deno task demo`): the README's main job on the built-in data: synthesise the dataset variants,
 * train, evaluate (the `demo` ablation preset) and render the report. `pretrained=true` first downloads the official
 * yolov8n-seg weights and fine-tunes from them, as the study did. Interrupted, it resumes where it stopped.
 */
import type { Command } from "../lib/cli/command.ts";
import { loadAblationConfig } from "../lib/ablation/config.ts";
import { ablationOverrides, runConfiguredAblation } from "../lib/ablation/steps.ts";
import { buildReport } from "../lib/report/build.ts";

export const command: Command = {
  name: "demo",
  summary: "the whole pipeline on built-in data: datasets -> training -> evaluation -> ablation -> report",
  options: {
    pretrained: {
      type: "string",
      default: "false",
      help: "true: download the official yolov8n-seg weights and fine-tune from them; or a local .pt file",
    },
    seeds: { type: "string", help: "comma-separated training seeds (default 0,1)" },
    epochs: { type: "number", help: "training epochs per run" },
    quick: { type: "boolean", default: false, help: "tiny budget (smoke run)" },
    report: { type: "boolean", default: true, help: "render the report at the end" },
  },
  async run(args) {
    const t0 = performance.now();
    const over = ablationOverrides(args.opts);
    const cfg = await loadAblationConfig("demo", over);
    const { dir } = await runConfiguredAblation(cfg, { pretrained: String(args.opts.pretrained) });
    if (args.opts.report) {
      // the other notebooks illustrate the library at their small size here (the ablation notebook shows this
      // run's results); `deno task report` renders them at full size
      const res = await buildReport({ ablationDir: dir, env: { ANIMESEG_QUICK: "1" } });
      const failed = res.notebooks.filter((n) => !n.ok);
      if (failed.length) console.error(`demo: notebook(s) failed: ${failed.map((f) => f.name).join(", ")}`);
      console.log(`demo: finished in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
      console.log(`demo: open ${res.index}`);
      return failed.length ? 1 : 0;
    }
    console.log(`demo: finished in ${((performance.now() - t0) / 60000).toFixed(1)} min; results in ${dir}`);
    return 0;
  },
};
