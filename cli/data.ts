/**
 * `animeseg data synth|coco|mix|stats|fetch|builtin`: thin drivers over `lib/data` — synthesis of the study's datasets,
 * COCO person conversion, mixing, dataset statistics with a sample grid, downloads of the real datasets, and the
 * built-in generated data.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command, ParsedArgs } from "../lib/cli/command.ts";
import { UserError } from "../lib/util/errors.ts";
import { progress } from "../lib/cli/progress.ts";
import { type SynthConfig, synthConfig, synthesize } from "../lib/data/synth.ts";
import { ensureBuiltinData } from "../lib/data/builtin.ts";
import { cocoToYolo } from "../lib/data/coco.ts";
import { mixDatasets, type MixPart } from "../lib/data/mix.ts";
import { readYoloDataset } from "../lib/data/yolo.ts";
import { datasetStats, formatStats, writeSampleGrid } from "../lib/data/preview.ts";
import { fetchCocoPerson, fetchSkytnt, SKYTNT_FILES } from "../lib/data/fetch.ts";

/** The built-in generated data folder: `data/builtin` under the project root. */
const DEFAULT_BUILTIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../data/builtin");

function str(a: ParsedArgs, k: string): string | undefined {
  const v = a.opts[k];
  return v === undefined || v === "" ? undefined : String(v);
}

function need(a: ParsedArgs, k: string, sub: string): string {
  const v = str(a, k);
  if (!v) throw new UserError(`data ${sub}: missing ${k}=`);
  return v;
}

async function synth(a: ParsedArgs): Promise<number> {
  const mode = (str(a, "mode") ?? "reinforced") as SynthConfig["mode"];
  const out = need(a, "out", "synth");
  const seed = Number(a.opts.seed ?? 0);
  const src = str(a, "src") ?? await ensureBuiltinData(DEFAULT_BUILTIN, { seed: 0 });
  const over: Partial<SynthConfig> = {
    imgsz: Number(a.opts.imgsz ?? 640),
    labels: (str(a, "labels") ?? "instances") as SynthConfig["labels"],
  };
  if (str(a, "format")) over.format = str(a, "format") as SynthConfig["format"];
  const n = Number(a.opts.n ?? 100);
  const bar = progress(`synth ${mode}`, n, "img");
  let last = 0;
  const r = await synthesize({
    src,
    out,
    n,
    seed,
    config: synthConfig(mode, over),
    workers: Number(a.opts.workers ?? 1),
    skipBad: a.opts.skip_bad === true,
    onProgress: (d) => {
      bar.tick(d - last);
      last = d;
    },
  });
  bar.stop();
  console.log(
    `${r.images} images (${r.resumed} already there), ${r.instances} instances, ${r.dropped} dropped (< ${
      synthConfig(mode).minVisible * 100
    }% visible or tiny)${r.badForegrounds.length ? `, ${r.badForegrounds.length} bad foregrounds skipped` : ""}`,
  );
  console.log(`data.yaml: ${r.yaml}\nCOCO JSON: ${r.coco}`);
  return 0;
}

async function coco(a: ParsedArgs): Promise<number> {
  const cats = (str(a, "categories") ?? "person").split(",").map((s) => s.trim());
  const st = await cocoToYolo(need(a, "json", "coco"), need(a, "images", "coco"), need(a, "out", "coco"), {
    categories: cats,
    names: str(a, "names")?.split(",") ?? cats,
    limit: a.opts.limit === undefined ? undefined : Number(a.opts.limit),
    seed: a.opts.seed === undefined ? undefined : Number(a.opts.seed),
    skipBad: a.opts.skip_bad === true,
  });
  console.log(
    `${st.images} images, ${st.instances} instances; skipped ${st.crowdSkipped} crowd, ${st.emptySkipped} empty, ${st.missingImages} missing images`,
  );
  console.log(`data.yaml: ${st.yaml}`);
  return 0;
}

/** `name:yaml[:count or ratio][:src>dst+src>dst]` */
export function parseParts(spec: string): MixPart[] {
  return spec.split(",").map((p) => {
    const f = p.split(":");
    if (f.length < 2) throw new UserError(`mix part '${p}' must be name:data.yaml[:count][:map]`);
    const part: MixPart = { name: f[0], yaml: f[1] };
    for (const extra of f.slice(2)) {
      if (extra.includes(">")) {
        part.classMap = {};
        for (const m of extra.split("+")) {
          const [s, d] = m.split(">").map(Number);
          if (!Number.isInteger(s) || !Number.isInteger(d)) throw new UserError(`bad class map '${m}' in '${p}'`);
          part.classMap[s] = d;
        }
        part.requireInstances = true;
      } else {
        const v = Number(extra);
        if (!Number.isFinite(v) || v < 0) throw new UserError(`bad count '${extra}' in '${p}'`);
        if (v < 1 && v > 0) part.ratio = v;
        else part.count = Math.round(v);
      }
    }
    return part;
  });
}

async function mix(a: ParsedArgs): Promise<number> {
  const r = await mixDatasets(need(a, "out", "mix"), parseParts(need(a, "parts", "mix")), {
    seed: Number(a.opts.seed ?? 0),
    total: a.opts.total === undefined ? undefined : Number(a.opts.total),
    names: str(a, "names")?.split(","),
  });
  for (const [k, v] of Object.entries(r.perPart)) console.log(`${k}: ${v.images} images, ${v.instances} instances`);
  console.log(`data.yaml: ${r.yaml}\nmanifest: ${r.manifest}`);
  return 0;
}

async function stats(a: ParsedArgs): Promise<number> {
  const yaml = need(a, "data", "stats");
  const split = (str(a, "split") ?? "train") as "train" | "val" | "test";
  const ds = readYoloDataset(yaml, split, { skipBad: a.opts.skip_bad === true });
  console.log(formatStats(`${yaml} [${split}]`, datasetStats(ds)));
  if (ds.missingLabels) console.log(`${ds.missingLabels} images have no label file`);
  if (ds.bad) console.log(`${ds.bad} malformed label files skipped`);
  const grid = str(a, "grid") ?? path.join(path.dirname(yaml), `samples_${split}.png`);
  await writeSampleGrid(ds.items, grid, { n: Number(a.opts.n ?? 16), cols: 4, tile: 256 });
  console.log(`sample grid: ${grid}`);
  return 0;
}

async function fetchCmd(a: ParsedArgs): Promise<number> {
  const what = a.positional[1];
  if (what === "skytnt") {
    const out = str(a, "out") ?? "data/skytnt";
    const parts = str(a, "parts")?.split(",");
    const r = await fetchSkytnt(out, { parts });
    console.log(`${out}: ${r.fg} fg, ${r.bg} bg, ${r.imgs} imgs with masks`);
    return 0;
  }
  if (what === "coco-person") {
    const out = str(a, "out") ?? "data/coco_person";
    const limit = a.opts.limit === undefined ? 500 : Number(a.opts.limit);
    const bar = progress("coco person images", limit, "img");
    let last = 0;
    const st = await fetchCocoPerson(out, {
      split: (str(a, "split") ?? "val2017") as "val2017",
      limit,
      className: str(a, "names") ?? "person",
      onProgress: (stage, d) => {
        if (stage === "images") {
          bar.tick(d - last);
          last = d;
        }
      },
    });
    bar.stop();
    console.log(`${st.images} images, ${st.instances} person instances (${st.crowdSkipped} crowd skipped)`);
    console.log(`data.yaml: ${st.yaml}`);
    return 0;
  }
  throw new UserError(`data fetch: say what to fetch: skytnt (archives ${SKYTNT_FILES.join(", ")}) or coco-person`);
}

async function builtin(a: ParsedArgs): Promise<number> {
  const out = str(a, "out") ?? DEFAULT_BUILTIN;
  await ensureBuiltinData(out, { seed: Number(a.opts.seed ?? 0) });
  console.log(`built-in generated SkyTNT-layout data in ${out}`);
  return 0;
}

const SUBS: Record<string, (a: ParsedArgs) => Promise<number>> = {
  synth,
  coco,
  mix,
  stats,
  fetch: fetchCmd,
  builtin,
};

export const command: Command = {
  name: "data",
  summary: "datasets: synth | coco | mix | stats | fetch | builtin",
  positionals: "synth|coco|mix|stats|fetch [skytnt|coco-person]|builtin",
  options: {
    mode: { type: "string", help: "synth: study set", choices: ["simple", "reinforced"] },
    src: { type: "string", help: "synth: SkyTNT-layout folder (fg/, bg/); default: built-in generated data" },
    out: { type: "string", help: "output folder" },
    n: { type: "number", help: "synth: number of images; stats: samples in the grid" },
    seed: { type: "number", help: "random seed (same seed, same bytes)" },
    imgsz: { type: "number", help: "synth: image size in pixels" },
    labels: { type: "string", help: "synth: instance labels", choices: ["instances", "union"] },
    workers: { type: "number", help: "synth: parallel workers" },
    format: { type: "string", help: "synth: image format", choices: ["jpg", "png"] },
    skip_bad: { type: "boolean", help: "skip and count bad inputs instead of failing" },
    json: { type: "string", help: "coco: COCO instances JSON" },
    images: { type: "string", help: "coco: its image folder" },
    categories: { type: "string", help: "coco: category names kept, comma-separated [person]" },
    names: { type: "string", help: "class names written to data.yaml, comma-separated" },
    limit: { type: "number", help: "coco / fetch coco-person: at most this many images" },
    parts: { type: "string", help: "mix: name:data.yaml[:count|ratio][:src>dst+...] list; fetch skytnt: archives" },
    total: { type: "number", help: "mix: total images when parts give ratios" },
    data: { type: "string", help: "stats: dataset YAML" },
    split: { type: "string", help: "stats: split (train/val/test); fetch coco-person: val2017 or train2017" },
    grid: { type: "string", help: "stats: sample grid PNG path [beside the YAML]" },
  },
  description: `examples:
  animeseg data synth mode=reinforced out=runs/data/reinforced n=1000 seed=0 imgsz=640 labels=instances workers=2
  animeseg data synth mode=simple src=data/skytnt out=runs/data/simple n=500
  animeseg data coco json=instances_val2017.json images=val2017 out=runs/data/person limit=500 names=character
  animeseg data mix out=runs/data/mixed parts=reinf:runs/data/reinforced/data.yaml:800,person:runs/data/person/data.yaml:200:0>0
  animeseg data stats data=runs/data/reinforced/data.yaml
  animeseg data fetch skytnt out=data/skytnt       (several GB from the SkyTNT dataset hub)
  animeseg data fetch coco-person out=data/coco_person limit=500`,
  async run(a: ParsedArgs): Promise<number> {
    const sub = a.positional[0];
    const f = sub ? SUBS[sub] : undefined;
    if (!f) throw new UserError(`data: unknown or missing subcommand '${sub ?? ""}' (${Object.keys(SUBS).join(", ")})`);
    return await f(a);
  },
};
