/** `animeseg ablation config=demo|study|FILE`: run (or resume) the study's dataset ablation and write its summary. */
import type { Command } from "../lib/cli/command.ts";
import { loadAblationConfig } from "../lib/ablation/config.ts";
import { ablationOverrides, runConfiguredAblation } from "../lib/ablation/steps.ts";

export const command: Command = {
  name: "ablation",
  summary: "run the dataset ablation (variants x seeds x refinement) and write summary.csv/json/md",
  options: {
    config: { type: "string", default: "demo", help: "preset name (demo, study) or a YAML/JSON config file" },
    name: { type: "string", help: "folder name under runs/ablation/ (default: the config's)" },
    seeds: { type: "string", help: "comma-separated training seeds, e.g. 0,1,2" },
    epochs: { type: "number", help: "training epochs per run" },
    imgsz: { type: "number", help: "training and evaluation image size" },
    weights: { type: "string", help: "start weights (.pt or checkpoint); also enables the COCO-pretrained row" },
    sam: { type: "string", help: "SAM / MobileSAM weights for the vote and box refinement rows" },
    quick: { type: "boolean", default: false, help: "tiny budget (a smoke run: a few images, one epoch)" },
  },
  description: `The config file is YAML or JSON over a preset, for example:
  preset: demo
  name: my-ablation
  seeds: [0, 1, 2]
  train: { epochs: 20, imgsz: 256 }
  data: { src: data/skytnt, nTrain: 500 }
Results: runs/ablation/<name>/summary.{csv,json,md}; re-running skips finished runs and resumes interrupted ones.`,
  async run(args) {
    const cfg = await loadAblationConfig(String(args.opts.config), ablationOverrides(args.opts));
    await runConfiguredAblation(cfg);
    return 0;
  },
};
