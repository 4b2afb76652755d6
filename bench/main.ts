/**
 * `deno task bench [NAME ...]`: runs the measurement scripts one after another (each in its own process, so backends
 * and thread counts do not interfere) and prints their figures beside PyTorch's. Names: conv, infer, engines, train,
 * synth, sam. Extra `key=value` words are passed to every script. Not part of the tests: these take minutes.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ALL = ["conv", "infer", "engines", "train", "synth", "sam"];

const words = Deno.args;
if (words.includes("--help")) {
  console.log(
    `usage: deno task bench [${
      ALL.join("|")
    } ...] [key=value ...]\n\nRuns the scripts in bench/ (all when no name is given).`,
  );
  Deno.exit(0);
}
const names = words.filter((w) => !w.includes("="));
const extra = words.filter((w) => w.includes("="));
const todo = names.length ? names : ALL;
let failed = 0;
for (const name of todo) {
  if (!ALL.includes(name)) {
    console.error(`bench: unknown script '${name}' (one of ${ALL.join(", ")})`);
    Deno.exit(2);
  }
  console.log(`\n=== bench/${name}.ts ${extra.join(" ")}`);
  const t0 = performance.now();
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(HERE, `${name}.ts`), ...extra],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`=== ${name}: ${p.success ? "done" : "FAILED"} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (!p.success) failed++;
}
Deno.exit(failed ? 1 : 0);
