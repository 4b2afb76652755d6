/**
 * The built-in offline data: a SkyTNT-layout folder of procedurally generated characters (`fg/*.png`) and
 * backgrounds (`bg/*.jpg`), a stand-in "real" test set composed differently (other seed, upright bottom-anchored
 * characters, no rotation or noise), and `buildDemoDatasets`, the one call the demo uses to build its datasets.
 */
import * as path from "node:path";
import sharp from "sharp";
import { generateBackground, generateCharacter } from "./procedural.ts";
import { encodePngRaw } from "./image_io.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { synthConfig, synthesize, type SynthResult } from "./synth.ts";
import { mixDatasets } from "./mix.ts";

/** Options of `ensureBuiltinData`. */
export interface BuiltinOptions {
  seed?: number;
  /** number of character cut-outs and backgrounds */
  nFg?: number;
  nBg?: number;
  /** character render scale (1 = about 420 px tall before cropping) */
  fgScale?: number;
  /** background size */
  bgWidth?: number;
  bgHeight?: number;
}

/**
 * Create (once) a SkyTNT-layout folder `dir` with generated `fg/` and `bg/`; a `builtin.json` stamp records the
 * options, and a folder with the same stamp is reused as is. Returns `dir`.
 */
export async function ensureBuiltinData(dir: string, opts: BuiltinOptions = {}): Promise<string> {
  const o = { seed: 0, nFg: 48, nBg: 24, fgScale: 0.8, bgWidth: 640, bgHeight: 480, ...opts };
  const stampFile = path.join(dir, "builtin.json");
  const stamp = JSON.stringify({ version: 1, ...o });
  try {
    if ((await Deno.readTextFile(stampFile)).trim() === stamp) return dir;
  } catch { /* not built yet */ }
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < o.nFg; i++) {
    jobs.push((async () => {
      const img = await generateCharacter(o.seed, i, o.fgScale);
      await writeFileAtomic(path.join(dir, "fg", `gen_${String(i).padStart(4, "0")}.png`), await encodePngRaw(img));
    })());
  }
  for (let i = 0; i < o.nBg; i++) {
    jobs.push((async () => {
      const img = await generateBackground(o.seed, i, o.bgWidth, o.bgHeight);
      const jpg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({
        quality: 92,
      }).toBuffer();
      await writeFileAtomic(path.join(dir, "bg", `gen_${String(i).padStart(4, "0")}.jpg`), new Uint8Array(jpg));
    })());
  }
  await Promise.all(jobs);
  await writeFileAtomic(stampFile, stamp + "\n");
  return dir;
}

/**
 * A small labelled test set standing in for real images: its own generated characters and backgrounds (seed + 7919),
 * 1-3 upright characters standing on the bottom edge, mild colour changes, no rotation, no noise; YOLO + COCO.
 */
export async function buildBuiltinTestSet(
  outDir: string,
  opts: { seed?: number; n?: number; imgsz?: number; workers?: number } = {},
): Promise<SynthResult> {
  const seed = (opts.seed ?? 0) + 7919;
  const src = await ensureBuiltinData(path.join(outDir, "_src"), { seed, nFg: 16, nBg: 8 });
  const config = synthConfig("reinforced", {
    imgsz: opts.imgsz ?? 640,
    charsMin: 1,
    charsMax: 3,
    cropP: 0,
    rotateMin: 0,
    rotateMax: 0,
    scaleMin: 0.9,
    scaleMax: 1.5,
    baseSize: 0.55,
    enhanceMin: 0.85,
    enhanceMax: 1.15,
    noiseMax: 0,
    anchor: "bottom",
  });
  return await synthesize({ src, out: outDir, n: opts.n ?? 20, seed, config, workers: opts.workers, prefix: "test" });
}

/** Paths of the data.yaml files the demo trains and tests on. */
export interface DemoDatasets {
  simple: string;
  reinforced: string;
  reinforcedPerson: string | null;
  test: string;
}

/**
 * Build the study's datasets on the built-in data in `outDir`: `simple`, `reinforced`, `reinforced + COCO person`
 * (only when `cocoPersonYaml`, a YOLO-seg dataset whose class `personClass` is person, e.g. coco128-seg, is given)
 * and the stand-in test set. Re-running with the same options reuses what is already there.
 */
export async function buildDemoDatasets(
  outDir: string,
  opts: {
    seed?: number;
    nTrain?: number;
    nTest?: number;
    imgsz?: number;
    workers?: number;
    cocoPersonYaml?: string;
    personClass?: number;
    /** max COCO person images mixed in (default nTrain / 4) */
    nPerson?: number;
    onProgress?: (stage: string, done: number, total: number) => void;
  } = {},
): Promise<DemoDatasets> {
  const seed = opts.seed ?? 0, n = opts.nTrain ?? 200, imgsz = opts.imgsz ?? 256;
  const src = await ensureBuiltinData(path.join(outDir, "builtin_src"), { seed });
  const prog = (stage: string) => (d: number, t: number) => opts.onProgress?.(stage, d, t);
  const simple = await synthesize({
    src,
    out: path.join(outDir, "simple"),
    n,
    seed,
    config: synthConfig("simple", { imgsz }),
    workers: opts.workers,
    onProgress: prog("simple"),
  });
  const reinforced = await synthesize({
    src,
    out: path.join(outDir, "reinforced"),
    n,
    seed: seed + 1,
    config: synthConfig("reinforced", { imgsz }),
    workers: opts.workers,
    onProgress: prog("reinforced"),
  });
  let reinforcedPerson: string | null = null;
  if (opts.cocoPersonYaml) {
    const r = await mixDatasets(path.join(outDir, "reinforced_person"), [
      { name: "reinforced", yaml: reinforced.yaml },
      {
        name: "coco_person",
        yaml: opts.cocoPersonYaml,
        classMap: { [opts.personClass ?? 0]: 0 },
        requireInstances: true,
        count: opts.nPerson ?? Math.max(1, Math.round(n / 4)),
      },
    ], { seed, names: ["character"] });
    reinforcedPerson = r.yaml;
  }
  const test = await buildBuiltinTestSet(path.join(outDir, "test"), {
    seed,
    n: opts.nTest ?? 40,
    imgsz,
    workers: opts.workers,
  });
  return { simple: simple.yaml, reinforced: reinforced.yaml, reinforcedPerson, test: test.yaml };
}
