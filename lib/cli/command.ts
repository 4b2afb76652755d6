/**
 * The shape of a CLI subcommand. Each `cli/<name>.ts` exports `command: Command`; `cli/main.ts` lists them in one
 * place. Arguments come as ultralytics-style `key=value` or `--key value` / `--key=value`; see `lib/cli/args.ts`.
 */

/** One option of a command: its type, default and one-line help. */
export interface OptionSpec {
  type: "string" | "number" | "boolean";
  default?: string | number | boolean;
  help: string;
  /** allowed values, checked before `run` */
  choices?: readonly (string | number)[];
  /** true when the command cannot run without it */
  required?: boolean;
}

/** Parsed arguments: option values by name (defaults filled in) and positional words. */
export interface ParsedArgs {
  opts: Record<string, string | number | boolean | undefined>;
  positional: string[];
}

/** A subcommand: `animeseg <name> ...`. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** one line for the command list */
  summary: string;
  /** extra help text after the option list (examples) */
  description?: string;
  /** positional words, for help (e.g. `fetch NAME`) */
  positionals?: string;
  options: Record<string, OptionSpec>;
  /** set to accept options not declared in `options` (passed through as strings) */
  allowUnknown?: boolean;
  run(args: ParsedArgs): Promise<number>;
}
