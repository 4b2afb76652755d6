/**
 * `animeseg weights list | fetch NAME [dir=...] | info FILE`: the official weights registry, downloads into the
 * cache, and a summary of any weights file (format, tensors, parameters, YOLO scale / nc / names, keys and shapes).
 */
import type { Command, ParsedArgs } from "../lib/cli/command.ts";
import { UserError } from "../lib/util/errors.ts";
import { cacheDir } from "../lib/io/download.ts";
import { fetchWeights, WEIGHTS } from "../lib/io/weights.ts";
import { loadAnyWeights } from "../lib/io/checkpoint.ts";
import type { StateDict } from "../lib/io/torch.ts";

const YOLO_WIDTH_SCALE: Record<number, string> = { 16: "n", 32: "s", 48: "m", 64: "l", 80: "x" };

/** YOLOv8 scale letter from the stem conv's output channels (64 × width multiple), or undefined. */
export function yoloScaleOf(sd: StateDict): string | undefined {
  const w = sd.get("model.0.conv.weight");
  return w ? YOLO_WIDTH_SCALE[w.shape[0]] : undefined;
}

const SAM_VIT_WIDTH: Record<number, string> = { 768: "ViT-B", 1024: "ViT-L", 1280: "ViT-H" };

/** Segment Anything encoder from the state_dict keys: `SAM ViT-B/L/H`, `SAM ViT (width N)` or `MobileSAM (TinyViT)`. */
export function samKindOf(sd: StateDict): string | undefined {
  const vit = sd.get("image_encoder.patch_embed.proj.weight");
  if (vit) return `SAM ${SAM_VIT_WIDTH[vit.shape[0]] ?? `ViT (width ${vit.shape[0]})`}`;
  if (sd.has("image_encoder.patch_embed.seq.0.c.weight")) return "MobileSAM (TinyViT encoder)";
  return undefined;
}

async function list(): Promise<number> {
  const dir = cacheDir();
  console.log(`cache: ${dir}  (override with ANIMESEG_CACHE)`);
  for (const w of WEIGHTS) {
    let cached = " ";
    try {
      await Deno.stat(`${dir}/${w.file}`);
      cached = "*";
    } catch { /* not cached */ }
    console.log(`${cached} ${w.name.padEnd(13)} ${`${w.sizeMB} MB`.padStart(9)}  ${w.description}`);
    console.log(`  ${"".padEnd(13)} ${"".padStart(9)}  ${w.url}`);
  }
  console.log("(* = already in the cache)");
  return 0;
}

async function fetch(args: ParsedArgs): Promise<number> {
  const names = args.positional.slice(1);
  if (names.length === 0) throw new UserError(`weights fetch: name a weights file (see 'weights list')`);
  for (const name of names) {
    const file = await fetchWeights(name, {
      dir: args.opts.dir as string | undefined,
      baseUrl: args.opts.base_url as string | undefined,
      sha256: args.opts.sha256 as string | undefined,
      quiet: args.opts.quiet === true,
    });
    console.log(file);
  }
  return 0;
}

async function info(args: ParsedArgs): Promise<number> {
  const file = args.positional[1];
  if (!file) throw new UserError(`weights info: give a weights file (.pt, .pth, .safetensors, checkpoint .json)`);
  const t0 = performance.now();
  const { stateDict, meta, format } = await loadAnyWeights(file);
  const ms = performance.now() - t0;
  let params = 0;
  const dtypes: Record<string, number> = {};
  for (const t of stateDict.values()) {
    params += t.data.length;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  console.log(`file:     ${file}`);
  console.log(
    `format:   ${format}${meta.source ? ` (weights from '${meta.source}')` : ""}, read in ${ms.toFixed(0)} ms`,
  );
  console.log(`tensors:  ${stateDict.size} (${Object.entries(dtypes).map(([k, v]) => `${v} ${k}`).join(", ")})`);
  console.log(`elements: ${params.toLocaleString("en-US")}`);
  const scale = yoloScaleOf(stateDict);
  if (scale) console.log(`yolo:     YOLOv8${scale}-seg`);
  const sam = samKindOf(stateDict);
  if (sam) console.log(`sam:      ${sam}`);
  if (typeof meta.nc === "number") console.log(`nc:       ${meta.nc}`);
  if (Array.isArray(meta.names)) {
    const n = meta.names as string[];
    console.log(`names:    ${n.slice(0, 10).join(", ")}${n.length > 10 ? `, ... (${n.length})` : ""}`);
  }
  if (typeof meta.epoch === "number") console.log(`epoch:    ${meta.epoch}`);
  const all = args.opts.all === true;
  const keys = [...stateDict];
  const shown = all ? keys : keys.slice(0, 20);
  console.log("keys:");
  for (const [k, t] of shown) console.log(`  ${k.padEnd(56)} ${t.dtype.padEnd(8)} [${t.shape.join(", ")}]`);
  if (shown.length < keys.length) console.log(`  ... ${keys.length - shown.length} more (all=true to list them)`);
  return 0;
}

/** The `weights` subcommand. */
export const command: Command = {
  name: "weights",
  summary: "list, download and inspect pretrained weights (YOLOv8-seg, SAM, MobileSAM)",
  positionals: "list | fetch NAME... | info FILE",
  description: `examples:
  animeseg weights list
  animeseg weights fetch yolov8n-seg                 (into the cache; ANIMESEG_CACHE overrides)
  animeseg weights fetch sam_vit_b dir=weights/
  animeseg weights info runs/segment/exp/weights/best.safetensors all=true`,
  options: {
    dir: { type: "string", help: "fetch: destination folder (default: the cache)" },
    base_url: { type: "string", help: "fetch: download from <base_url>/<file> instead of the official URL" },
    sha256: { type: "string", help: "fetch: expected SHA-256 of the file" },
    quiet: { type: "boolean", default: false, help: "fetch: no progress bar" },
    all: { type: "boolean", default: false, help: "info: list every key (default: the first 20)" },
  },
  run(args: ParsedArgs): Promise<number> {
    const sub = args.positional[0];
    if (sub === "list" || sub === undefined) return list();
    if (sub === "fetch") return fetch(args);
    if (sub === "info") return info(args);
    throw new UserError(`weights: unknown action '${sub}' (list, fetch, info)`);
  },
};
