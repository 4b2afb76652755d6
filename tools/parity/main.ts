/**
 * `deno task parity DIR [engine=tfjs|ort] [filter=TEXT]`: runs every reference case found under a folder laid out
 * like `shared/fixtures/reference/` against the project's code; one line per case with error figures and
 * PASS/FAIL/SKIP; exit code 1 on any FAIL. Categories whose folder is absent are not run.
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory, ParityOptions } from "./types.ts";
import { initBackend } from "../../lib/backend/mod.ts";

/** Category modules, in run order. Each lives in `tools/parity/<folder>.ts` and exports `category`. */
const CATEGORY_FILES = ["yolo", "forward", "postprocess", "loss", "metrics", "sam"];

async function loadCategories(): Promise<ParityCategory[]> {
  const out: ParityCategory[] = [];
  for (const name of CATEGORY_FILES) {
    const file = new URL(`./${name}.ts`, import.meta.url);
    try {
      await Deno.stat(file);
    } catch {
      out.push({
        folder: name,
        async *run() {
          yield { name: `${name}`, verdict: "SKIP", detail: "not implemented in this version" } as CaseResult;
        },
      });
      continue;
    }
    const mod = await import(file.href);
    out.push(mod.category as ParityCategory);
  }
  return out;
}

function usage(): never {
  console.log(`usage: deno task parity DIR [engine=tfjs|ort] [filter=TEXT]

Runs every reference case under DIR (a folder laid out like shared/fixtures/reference: yolo/, forward/,
postprocess/, loss/, metrics/, sam/) and prints one line per case: PASS, FAIL or SKIP with its error figures.
Exits 1 when any case fails.`);
  Deno.exit(0);
}

export async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes("--help") || args.includes("-h")) usage();
  const dir = path.resolve(args[0]);
  const kv: Record<string, string> = {};
  for (const a of args.slice(1)) {
    const m = /^-{0,2}([\w-]+)=(.*)$/.exec(a);
    if (!m) {
      console.error(`parity: argument '${a}' is not key=value`);
      return 2;
    }
    kv[m[1]] = m[2];
  }
  try {
    await Deno.stat(dir);
  } catch {
    console.error(`parity: ${dir}: no such folder`);
    return 2;
  }
  const opts: ParityOptions = { engine: kv.engine ?? "tfjs", filter: kv.filter, extra: kv };
  const backend = await initBackend();
  console.log(`parity: ${dir} (backend ${backend.name}, engine ${opts.engine})`);
  let pass = 0, fail = 0, skip = 0;
  for (const cat of await loadCategories()) {
    const folder = path.join(dir, cat.folder);
    try {
      await Deno.stat(folder);
    } catch {
      continue;
    }
    try {
      for await (const r of cat.run(dir, opts)) {
        if (opts.filter && !r.name.includes(opts.filter)) continue;
        console.log(`${r.verdict.padEnd(4)} ${r.name}  ${r.detail}`);
        if (r.verdict === "PASS") pass++;
        else if (r.verdict === "FAIL") fail++;
        else skip++;
      }
    } catch (e) {
      console.log(`FAIL ${cat.folder}  error: ${(e as Error).message}`);
      fail++;
    }
  }
  console.log(`parity: ${pass} passed, ${fail} failed, ${skip} skipped`);
  return fail > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
