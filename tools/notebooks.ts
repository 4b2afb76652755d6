/**
 * `deno task notebooks [--check] [--out DIR] [NAME ...]`: executes every notebook in `notebooks/` headlessly and
 * writes executed copies and offline HTML to `runs/notebooks/`; exits 1 when any notebook failed. The work is done
 * by `lib/report/notebooks.ts`.
 */
import * as path from "node:path";
import { executeNotebooks, NOTEBOOK_OUT_DIR } from "../lib/report/notebooks.ts";

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log(
      "usage: deno task notebooks [--check] [--out DIR] [NAME ...]\n\n" +
        "Executes the notebooks (all when no NAME is given) with the repo-local Deno kernel; --check type-checks\n" +
        "their code first. Writes executed .ipynb and .html files to runs/notebooks/ (or --out DIR).",
    );
    return 0;
  }
  const outIdx = argv.indexOf("--out");
  const outDir = outIdx >= 0 ? path.resolve(argv[outIdx + 1]) : NOTEBOOK_OUT_DIR;
  const names = argv.filter((a, i) => !a.startsWith("--") && !(outIdx >= 0 && i === outIdx + 1));
  const res = await executeNotebooks(names, outDir, { check: argv.includes("--check") });
  const failed = res.filter((r) => !r.ok).length;
  console.log(`notebooks: ${res.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
