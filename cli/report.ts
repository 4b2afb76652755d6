/** `animeseg report`: execute every notebook and write the offline HTML report to runs/report/. */
import type { Command } from "../lib/cli/command.ts";
import { buildReport } from "../lib/report/build.ts";

export const command: Command = {
  name: "report",
  summary: "execute the notebooks and write an offline HTML report (runs/report/index.html)",
  options: {
    out: { type: "string", help: "output folder (default runs/report)" },
    ablation: { type: "string", help: "ablation folder shown on the index (default runs/ablation/demo)" },
    notebooks: { type: "string", help: "comma-separated notebook names to run (default: all)" },
  },
  async run(args) {
    const nbs = args.opts.notebooks ? String(args.opts.notebooks).split(",").map((s) => s.trim()) : undefined;
    const res = await buildReport({
      outDir: args.opts.out as string | undefined,
      ablationDir: args.opts.ablation as string | undefined,
      notebooks: nbs,
    });
    const failed = res.notebooks.filter((n) => !n.ok);
    console.log(`report: ${res.index}`);
    if (failed.length) {
      console.error(`report: ${failed.length} notebook(s) failed: ${failed.map((f) => f.name).join(", ")}`);
    }
    return failed.length ? 1 : 0;
  },
};
