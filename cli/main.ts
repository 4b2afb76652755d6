/**
 * `animeseg` command-line entry: the one place where subcommands are registered. Each subcommand is a thin
 * driver in `cli/<name>.ts` exporting `command`. Errors meant for people print one line and exit 1.
 */
import type { Command } from "../lib/cli/command.ts";
import { helpText, parseCommandArgs } from "../lib/cli/args.ts";
import { UserError } from "../lib/util/errors.ts";

/** Every subcommand, in the order `--help` lists them: name -> module file in cli/. */
export const COMMANDS: Record<string, string> = {
  info: "./info.ts",
  data: "./data.ts",
  weights: "./weights.ts",
  predict: "./predict.ts",
  val: "./val.ts",
  eval: "./eval.ts",
  train: "./train.ts",
  refine: "./refine.ts",
  export: "./export.ts",
  ablation: "./ablation.ts",
  demo: "./demo.ts",
  report: "./report.ts",
};

async function loadCommand(name: string): Promise<Command | null> {
  const rel = COMMANDS[name];
  if (!rel) return null;
  const url = new URL(rel, import.meta.url);
  try {
    await Deno.stat(url);
  } catch {
    return null;
  }
  return (await import(url.href)).command as Command;
}

async function listing(): Promise<string> {
  const lines = [
    "animeseg: anime-character instance segmentation workbench (YOLOv8-seg + Segment Anything, TypeScript/Deno)",
    "",
    "usage: animeseg <command> [key=value ...]    (deno task cli <command> ...)",
    "",
    "commands:",
  ];
  for (const name of Object.keys(COMMANDS)) {
    const c = await loadCommand(name);
    if (c) lines.push(`  ${name.padEnd(10)}${c.summary}`);
  }
  lines.push("", "Run 'animeseg <command> --help' for a command's options.");
  return lines.join("\n");
}

/** Run the CLI with the given words; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await listing());
    return 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    console.error(`animeseg: unknown command '${name}' (run 'animeseg --help' for the list)`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(helpText(cmd));
    return 0;
  }
  try {
    const args = parseCommandArgs(cmd, rest);
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`animeseg ${name}: ${e.message}`);
      return 1;
    }
    if (Deno.env.get("ANIMESEG_DEBUG")) throw e;
    console.error(`animeseg ${name}: ${(e as Error).message?.split("\n")[0] ?? e} (ANIMESEG_DEBUG=1 for a trace)`);
    return 1;
  }
}

/** Commands that train: wasm with 2 threads by default when a core is free (see threadDefault). */
const TRAINING_COMMANDS = new Set(["train", "ablation", "demo"]);

/**
 * Training commands run tfjs-wasm with 2 threads unless ANIMESEG_THREADS says otherwise, when the machine has 2+
 * cores and its 1-minute load average leaves a core free: on a loaded 2-core machine 2 threads were measured
 * slower than 1 (the pthreads wait on busy cores).
 */
function threadDefault(command: string | undefined): void {
  if (!command || !TRAINING_COMMANDS.has(command) || Deno.env.get("ANIMESEG_THREADS")) return;
  const cores = navigator.hardwareConcurrency ?? 1;
  const load = Deno.loadavg()[0];
  if (cores >= 2 && load <= cores - 1) Deno.env.set("ANIMESEG_THREADS", "2");
}

if (import.meta.main) {
  threadDefault(Deno.args[0]);
  const code = await main(Deno.args);
  // tfjs-wasm pthread workers (2-thread mode) keep the process alive: always exit explicitly.
  Deno.exit(code);
}
