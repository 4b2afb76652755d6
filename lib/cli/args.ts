/**
 * Argument parsing for every subcommand: ultralytics-style `key=value` words and `--key value` / `--key=value` /
 * `--flag` are all accepted (built on `node:util` parseArgs). Values are converted to the declared option types;
 * unknown options, bad numbers and values outside `choices` raise a one-line `UserError`.
 */
import { parseArgs as nodeParseArgs } from "node:util";
import type { Command, OptionSpec, ParsedArgs } from "./command.ts";
import { UserError } from "../util/errors.ts";

const kebab = (s: string) => s.replace(/_/g, "-");
const snake = (s: string) => s.replace(/-/g, "_");

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  if (spec.type === "number") {
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) throw new UserError(`option ${name}: '${raw}' is not a number`);
    if (spec.choices && !spec.choices.includes(v)) {
      throw new UserError(`option ${name}: ${raw} is not one of ${spec.choices.join(", ")}`);
    }
    return v;
  }
  if (spec.type === "boolean") {
    const l = raw.toLowerCase();
    if (["true", "1", "yes", "on", ""].includes(l)) return true;
    if (["false", "0", "no", "off"].includes(l)) return false;
    throw new UserError(`option ${name}: '${raw}' is not true/false`);
  }
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new UserError(`option ${name}: '${raw}' is not one of ${spec.choices.join(", ")}`);
  }
  return raw;
}

/** Parse `argv` (words after the subcommand) against a command's option table. */
export function parseCommandArgs(cmd: Pick<Command, "name" | "options" | "allowUnknown">, argv: string[]): ParsedArgs {
  const words: string[] = [];
  const specs = cmd.options;
  const known = new Set(Object.keys(specs));
  for (const w of argv) {
    // key=value (ultralytics style) -> --key=value; bare --flag -> --flag=true for booleans
    const kv = /^([A-Za-z][\w-]*)=(.*)$/s.exec(w);
    if (kv) {
      words.push(`--${snake(kv[1])}=${kv[2]}`);
      continue;
    }
    const flag = /^--([A-Za-z][\w-]*)$/.exec(w);
    if (flag && specs[snake(flag[1])]?.type === "boolean") {
      words.push(`--${snake(flag[1])}=true`);
      continue;
    }
    const long = /^--([A-Za-z][\w-]*)(=.*)?$/s.exec(w);
    if (long) {
      words.push(`--${snake(long[1])}${long[2] ?? ""}`);
      continue;
    }
    words.push(w);
  }
  const options: Record<string, { type: "string" }> = {};
  for (const k of known) options[k] = { type: "string" };
  let parsed;
  try {
    parsed = nodeParseArgs({ args: words, options, allowPositionals: true, strict: !cmd.allowUnknown });
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0].replace(/^Unknown option '--([\w-]+)'.*$/, "unknown option '$1'");
    throw new UserError(`${msg} (see '${cmd.name} --help')`);
  }
  const opts: ParsedArgs["opts"] = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = (parsed.values as Record<string, string | boolean | undefined>)[name];
    if (raw === undefined || raw === true) {
      if (raw === true && spec.type === "boolean") opts[name] = true;
      else opts[name] = spec.default;
      if (raw === undefined && spec.required) {
        throw new UserError(`missing required option ${name}= (see '${cmd.name} --help')`);
      }
      continue;
    }
    opts[name] = convert(name, spec, String(raw));
  }
  if (cmd.allowUnknown) {
    for (const [k, v] of Object.entries(parsed.values)) if (!known.has(k)) opts[k] = String(v);
  }
  return { opts, positional: parsed.positionals };
}

/** The `--help` text of a command: usage line, summary, option table with defaults, description. */
export function helpText(cmd: Command, prog = "animeseg"): string {
  const lines = [`usage: ${prog} ${cmd.name}${cmd.positionals ? " " + cmd.positionals : ""} [key=value ...]`, ""];
  lines.push(cmd.summary, "");
  const entries = Object.entries(cmd.options);
  if (entries.length) {
    lines.push("options (key=value, or --key value):");
    const w = Math.max(...entries.map(([k]) => k.length)) + 2;
    for (const [k, s] of entries) {
      const def = s.default === undefined ? (s.required ? " (required)" : "") : ` [default: ${s.default}]`;
      const ch = s.choices ? ` {${s.choices.join("|")}}` : "";
      lines.push(`  ${k.padEnd(w)}${s.help}${ch}${def}`);
    }
  }
  if (cmd.description) lines.push("", cmd.description.trim());
  return lines.join("\n");
}

export { kebab };
