/**
 * Synthetic anime-character instance data from a SkyTNT-layout folder (`fg/` cut-outs + `bg/` backgrounds): the
 * study's "simple" set (one character on one background) and "reinforced" set (1-7 augmented characters, noise),
 * labels per character with occlusion (`instances`) or as connected regions of the union (`union`). One typed config
 * with the study's values as named defaults; per-image seeded randomness (same seed, same bytes, any worker split);
 * parallel Deno workers, a progress callback, resume; output is a YOLO-seg dataset + data.yaml + COCO JSON (RLE).
 */
import * as path from "node:path";
import sharp from "sharp";
import { addGaussianNoise, makeRng, type Rng } from "./rng.ts";
import { cropRgba, enhanceRgba, flipRgba, warpRgba } from "./augment_char.ts";
import { type RawImage } from "./image_io.ts";
import { loadBackground, loadForeground, readSkytnt } from "./skytnt.ts";
import { joinPolygons, maskBox, maskToPolygonGroups, type PolygonGroup } from "./mask.ts";
import { encodeRle, rleToString } from "./rle.ts";
import { formatYoloLabel, writeDataYaml, type YoloInstance } from "./yolo.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { UserError } from "../util/errors.ts";
import { existsSync as exists } from "../util/fs.ts";

/** Every synthesis parameter. Defaults: `SIMPLE_DEFAULTS` / `REINFORCED_DEFAULTS` (the study's values). */
export interface SynthConfig {
  mode: "simple" | "reinforced";
  labels: "instances" | "union";
  /** output images are imgsz x imgsz pixels */
  imgsz: number;
  /** characters per image, inclusive range, sampled uniformly with replacement from fg/ */
  charsMin: number;
  charsMax: number;
  /** probability of a random crop, and the crop's minimum fraction of width / height */
  cropP: number;
  cropMin: number;
  /** rotation in degrees, uniform in [min, max) */
  rotateMin: number;
  rotateMax: number;
  /** scale factor, uniform; applied to the base size */
  scaleMin: number;
  scaleMax: number;
  /** base size: the character's longer side as a fraction of imgsz before the random scale */
  baseSize: number;
  flipP: number;
  /** PIL ImageEnhance factors (Color, Brightness, Contrast, Sharpness), each uniform in [min, max) */
  enhanceMin: number;
  enhanceMax: number;
  /** position: centre ~ Normal(imgsz/2, imgsz * posSd) per axis, clamped so at least half of each axis stays inside */
  posSd: number;
  /** Gaussian noise sigma (8-bit scale) uniform in [0, noiseMax); 0 disables */
  noiseMax: number;
  /** instances mode: drop a character whose visible area is below this fraction of its own area */
  minVisible: number;
  /** drop instances with fewer visible pixels than this */
  minArea: number;
  /** alpha > this (0-255) counts as the character (0.5 of full alpha) */
  alphaThreshold: number;
  /** simple mode keeps the whole character inside the image */
  keepInside: boolean;
  /** placement: `normal` (centre ~ Normal around the image centre) or `bottom` (upright, feet on the bottom edge) */
  anchor: "normal" | "bottom";
  /** image file format and JPEG quality */
  format: "jpg" | "png";
  quality: number;
}

/**
 * The study's set (b) "reinforced" defaults, as issue #3 lists them. `baseSize` (a character's longer side before the
 * random 0.5-1.5 scale, as a fraction of the image side) is not stated by the study; 0.5 is this project's choice.
 */
export const REINFORCED_DEFAULTS: SynthConfig = {
  mode: "reinforced",
  labels: "instances",
  imgsz: 640,
  charsMin: 1,
  charsMax: 7,
  cropP: 0.1,
  cropMin: 0.5,
  rotateMin: 0,
  rotateMax: 360,
  scaleMin: 0.5,
  scaleMax: 1.5,
  baseSize: 0.5,
  flipP: 0.5,
  enhanceMin: 0.5,
  enhanceMax: 1.5,
  posSd: 1 / 3,
  noiseMax: 31,
  minVisible: 0.25,
  minArea: 16,
  alphaThreshold: 127,
  keepInside: false,
  anchor: "normal",
  format: "jpg",
  quality: 95,
};

/**
 * The study's set (a) "simple": one character on one background. The study fixes only that; the rest is this
 * project's choice: pasted whole, longer side 0.4-0.8 of the image, flipped with p = 0.5, no rotation, colour change
 * or noise.
 */
export const SIMPLE_DEFAULTS: SynthConfig = {
  ...REINFORCED_DEFAULTS,
  mode: "simple",
  charsMin: 1,
  charsMax: 1,
  cropP: 0,
  rotateMin: 0,
  rotateMax: 0,
  scaleMin: 0.8,
  scaleMax: 1.6,
  flipP: 0.5,
  enhanceMin: 1,
  enhanceMax: 1,
  posSd: 1 / 3,
  noiseMax: 0,
  keepInside: true,
};

/** Defaults of a mode, overridden by `over`. */
export function synthConfig(mode: "simple" | "reinforced", over: Partial<SynthConfig> = {}): SynthConfig {
  return { ...(mode === "simple" ? SIMPLE_DEFAULTS : REINFORCED_DEFAULTS), ...over, mode };
}

/** One placed character of a composed image. */
export interface PlacedChar {
  fgIndex: number;
  /** full mask of the character on the canvas (alpha > threshold) `[imgsz*imgsz]` */
  area: number;
  visible: Uint8Array;
}

/** A composed image: RGB `[s*s*3]`, the instances (visible masks) in paste order, and counts. */
export interface Composed {
  rgb: Uint8Array;
  size: number;
  instances: { mask: Uint8Array; fgIndex: number }[];
  dropped: number;
}

/** Resize-cover a background to s x s (centre crop) with sharp. */
export async function fitBackground(bg: RawImage, s: number): Promise<Uint8Array> {
  const buf = await sharp(bg.data, { raw: { width: bg.width, height: bg.height, channels: bg.channels as 3 } })
    .resize(s, s, { fit: "cover", kernel: "lanczos3" }).removeAlpha().raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Apply the configured random augmentation to one character cut-out. */
export function augmentCharacter(fg: RawImage, cfg: SynthConfig, rng: Rng): RawImage {
  let img = fg;
  if (cfg.cropP > 0 && rng.chance(cfg.cropP)) {
    const cw = Math.max(1, Math.round(img.width * rng.uniform(cfg.cropMin, 1)));
    const ch = Math.max(1, Math.round(img.height * rng.uniform(cfg.cropMin, 1)));
    img = cropRgba(img, rng.int(0, img.width - cw), rng.int(0, img.height - ch), cw, ch);
  }
  if (cfg.flipP > 0 && rng.chance(cfg.flipP)) img = flipRgba(img);
  const base = (cfg.baseSize * cfg.imgsz) / Math.max(img.width, img.height);
  const scale = base * rng.uniform(cfg.scaleMin, cfg.scaleMax);
  const deg = cfg.rotateMax > cfg.rotateMin ? rng.uniform(cfg.rotateMin, cfg.rotateMax) : cfg.rotateMin;
  img = warpRgba(img, scale, deg);
  // colour changes after the warp: the same pixels at the size they are pasted, far cheaper than at source size
  if (cfg.enhanceMin !== 1 || cfg.enhanceMax !== 1) {
    const u = () => rng.uniform(cfg.enhanceMin, cfg.enhanceMax);
    img = enhanceRgba(img, { color: u(), brightness: u(), contrast: u(), sharpness: u() });
  }
  return img;
}

/**
 * Compose one image: background (already s x s RGB) plus characters picked by `rng` from `fgs` (loaded lazily
 * through `getFg`), then noise. Instances follow `cfg.labels`.
 */
export async function composeImage(
  cfg: SynthConfig,
  rng: Rng,
  bg: Uint8Array,
  nFg: number,
  getFg: (i: number) => Promise<RawImage>,
): Promise<Composed> {
  const s = cfg.imgsz;
  const rgb = Float32Array.from(bg);
  const k = rng.int(cfg.charsMin, cfg.charsMax);
  const placed: { fgIndex: number; area: number; visible: Uint8Array }[] = [];
  for (let c = 0; c < k; c++) {
    const fgIndex = Math.floor(rng.next() * nFg);
    const ch = augmentCharacter(await getFg(fgIndex), cfg, rng);
    const { width: cw, height: chh, data } = ch;
    let x0: number, y0: number;
    if (cfg.anchor === "bottom") {
      x0 = Math.round(rng.uniform(-cw * 0.2, s - cw * 0.8));
      y0 = Math.round(s - chh + rng.uniform(0, 0.15) * chh);
    } else if (cfg.keepInside && cw <= s && chh <= s) {
      const cx = Math.min(s - cw / 2, Math.max(cw / 2, rng.normal(s / 2, s * cfg.posSd)));
      const cy = Math.min(s - chh / 2, Math.max(chh / 2, rng.normal(s / 2, s * cfg.posSd)));
      x0 = Math.round(cx - cw / 2);
      y0 = Math.round(cy - chh / 2);
    } else {
      const cx = Math.min(s, Math.max(0, rng.normal(s / 2, s * cfg.posSd)));
      const cy = Math.min(s, Math.max(0, rng.normal(s / 2, s * cfg.posSd)));
      x0 = Math.round(cx - cw / 2);
      y0 = Math.round(cy - chh / 2);
    }
    const vis = new Uint8Array(s * s);
    let area = 0;
    for (let y = 0; y < chh; y++) {
      const Y = y + y0;
      for (let x = 0; x < cw; x++) {
        const p = (y * cw + x) * 4;
        const a = data[p + 3];
        if (a > cfg.alphaThreshold) area++;
        const X = x + x0;
        if (a === 0 || X < 0 || X >= s || Y < 0 || Y >= s) continue;
        const q = Y * s + X;
        const t = a / 255;
        rgb[q * 3] = data[p] * t + rgb[q * 3] * (1 - t);
        rgb[q * 3 + 1] = data[p + 1] * t + rgb[q * 3 + 1] * (1 - t);
        rgb[q * 3 + 2] = data[p + 2] * t + rgb[q * 3 + 2] * (1 - t);
        if (a > cfg.alphaThreshold) {
          vis[q] = 1;
          for (const o of placed) o.visible[q] = 0;
        }
      }
    }
    placed.push({ fgIndex, area, visible: vis });
  }
  const sigma = cfg.noiseMax > 0 ? rng.uniform(0, cfg.noiseMax) : 0;
  if (sigma > 0) addGaussianNoise(rgb, sigma, rng);
  const out = new Uint8Array(s * s * 3);
  for (let i = 0; i < out.length; i++) {
    const v = rgb[i];
    out[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  const instances: Composed["instances"] = [];
  let dropped = 0;
  if (cfg.labels === "instances") {
    for (const p of placed) {
      let n = 0;
      for (let i = 0; i < p.visible.length; i++) n += p.visible[i];
      if (n < cfg.minArea || n < cfg.minVisible * p.area) dropped++;
      else instances.push({ mask: p.visible, fgIndex: p.fgIndex });
    }
  } else {
    // union of the full masks (what is painted), split into 8-connected regions
    const uni = new Uint8Array(s * s);
    for (const p of placed) for (let i = 0; i < uni.length; i++) if (p.visible[i]) uni[i] = 1;
    for (const reg of connectedRegions(uni, s, s)) {
      let n = 0;
      for (let i = 0; i < reg.length; i++) n += reg[i];
      if (n >= cfg.minArea) instances.push({ mask: reg, fgIndex: -1 });
      else dropped++;
    }
  }
  return { rgb: out, size: s, instances, dropped };
}

/** 8-connected regions of a 0/1 mask, each as its own mask, in raster order of their first pixel. */
export function connectedRegions(mask: Uint8Array, h: number, w: number): Uint8Array[] {
  const label = new Int32Array(h * w);
  const out: Uint8Array[] = [];
  for (let i = 0; i < h * w; i++) {
    if (!mask[i] || label[i]) continue;
    const m = new Uint8Array(h * w);
    const st = [i];
    label[i] = out.length + 1;
    while (st.length) {
      const p = st.pop()!;
      m[p] = 1;
      const x = p % w, y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const X = x + dx, Y = y + dy;
          if (X < 0 || Y < 0 || X >= w || Y >= h) continue;
          const q = Y * w + X;
          if (mask[q] && !label[q]) {
            label[q] = out.length + 1;
            st.push(q);
          }
        }
      }
    }
    out.push(m);
  }
  return out;
}

/**
 * The YOLO polygon of an instance mask: outer and hole contours of every part joined into one polygon (the even-odd
 * fill of ultralytics' `fillPoly` then keeps the holes empty); vertices are written
 * at pixel centres ((x + 0.5) / w), so ultralytics' int32 truncation after denormalising lands on the same pixels.
 */
export function maskToYoloPolygon(mask: Uint8Array, h: number, w: number): Float32Array | null {
  const groups = orderParts(maskToPolygonGroups(mask, h, w));
  if (groups.length === 0) return null;
  const segs = groups.flatMap((g) => [g.outer, ...g.holes]);
  const xy = segs.length === 1 ? segs[0] : joinPolygons(segs);
  if (xy.length < 2) return null;
  // a one- or two-vertex instance is padded to three vertices (ultralytics needs >= 3 points)
  const out = new Float32Array(Math.max(xy.length, 6));
  for (let i = 0; i < out.length; i += 2) {
    const j = i < xy.length ? i : xy.length - 2;
    out[i] = (xy[j] + 0.5) / w;
    out[i + 1] = (xy[j + 1] + 0.5) / h;
  }
  return out;
}

function minDist(a: Float32Array, b: Float32Array): number {
  let best = Infinity;
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      const d = Math.max(Math.abs(a[i] - b[j]), Math.abs(a[i + 1] - b[j + 1]));
      if (d < best) best = d;
    }
  }
  return best;
}

/**
 * Order the parts of an instance for joining: start from the largest, then repeatedly the part nearest to the last
 * one, so the bridges (drawn as 1-pixel lines by fillPoly) stay short; a part smaller than its bridge is left out
 * (keeping it would add more wrong pixels than it brings).
 */
function orderParts(groups: PolygonGroup[]): PolygonGroup[] {
  if (groups.length <= 1) return groups;
  const rest = groups.slice().sort((a, b) => b.area - a.area);
  const out = [rest.shift()!];
  while (rest.length) {
    const last = out[out.length - 1].outer;
    let bi = 0, bd = Infinity;
    rest.forEach((g, i) => {
      const d = minDist(last, g.outer);
      if (d < bd) {
        bd = d;
        bi = i;
      }
    });
    const g = rest.splice(bi, 1)[0];
    if (g.area > bd) out.push(g);
  }
  return out;
}

/** Where a synthesis job reads from and writes to, plus run options. */
export interface SynthJob {
  /** SkyTNT-layout folder with fg/ and bg/ */
  src: string;
  out: string;
  n: number;
  seed: number;
  config: SynthConfig;
  /** worker count (1 = in this thread) */
  workers?: number;
  /** split folder name */
  split?: string;
  /** file name prefix */
  prefix?: string;
  /** skip unreadable / alpha-less foregrounds instead of failing */
  skipBad?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Result counts of a synthesis job. */
export interface SynthResult {
  yaml: string;
  coco: string;
  images: number;
  instances: number;
  dropped: number;
  resumed: number;
  badForegrounds: string[];
}

/** Per-image record kept beside the dataset (`.parts/NAME.json`) so that a job can resume and build its COCO JSON. */
interface PartRecord {
  file: string;
  width: number;
  height: number;
  annotations: { bbox: number[]; area: number; counts: string; fg: string | null }[];
  dropped: number;
}

/** Paths and names of image `i` of a job. */
export function itemName(job: Pick<SynthJob, "prefix" | "config">, i: number): string {
  return `${job.prefix ?? "synth"}_${String(i).padStart(6, "0")}`;
}

/** Compose image `i` of a job in memory (same randomness as `generateItem`): its pixels and instance masks. */
export async function composeItem(
  job: SynthJob,
  i: number,
  lists: { fg: string[]; bg: string[] },
  cache: Map<string, RawImage>,
  bad: Set<string>,
): Promise<Composed> {
  const cfg = job.config;
  const rng = makeRng(job.seed, i);
  const bgFile = lists.bg[Math.floor(rng.next() * lists.bg.length)];
  let bg = cache.get(bgFile);
  if (!bg) {
    bg = await loadBackground(bgFile);
    cache.set(bgFile, bg);
  }
  const bgFit = await fitBackground(bg, cfg.imgsz);
  const getFg = async (k: number): Promise<RawImage> => {
    for (let t = 0; t < lists.fg.length; t++) {
      const f = lists.fg[(k + t) % lists.fg.length];
      if (bad.has(f)) continue;
      const hit = cache.get(f);
      if (hit) return hit;
      try {
        const img = await loadForeground(f);
        cache.set(f, img);
        return img;
      } catch (e) {
        if (!job.skipBad) throw e;
        bad.add(f);
      }
    }
    throw new UserError("no usable foreground", job.src);
  };
  return await composeImage(cfg, rng, bgFit, lists.fg.length, getFg);
}

/** Generate image `i` of a job and write image, label and part record (atomically; the part record last). */
export async function generateItem(
  job: SynthJob,
  i: number,
  lists: { fg: string[]; bg: string[] },
  cache: Map<string, RawImage>,
  bad: Set<string>,
): Promise<PartRecord> {
  const cfg = job.config;
  const split = job.split ?? "train";
  const comp = await composeItem(job, i, lists, cache, bad);
  const s = cfg.imgsz;
  const name = itemName(job, i);
  const file = `${name}.${cfg.format}`;
  const raw = sharp(comp.rgb, { raw: { width: s, height: s, channels: 3 } });
  const bytes = cfg.format === "png" ? await raw.png().toBuffer() : await raw.jpeg({ quality: cfg.quality }).toBuffer();
  await writeFileAtomic(path.join(job.out, "images", split, file), new Uint8Array(bytes));
  const yolo: YoloInstance[] = [];
  const rec: PartRecord = { file, width: s, height: s, annotations: [], dropped: comp.dropped };
  for (const ins of comp.instances) {
    const poly = maskToYoloPolygon(ins.mask, s, s);
    if (!poly) continue;
    yolo.push({ cls: 0, polygon: poly });
    const b = maskBox(ins.mask, s, s)!;
    let area = 0;
    for (let q = 0; q < ins.mask.length; q++) area += ins.mask[q];
    rec.annotations.push({
      bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
      area,
      counts: rleToString(encodeRle(ins.mask, s, s)),
      fg: ins.fgIndex >= 0 ? path.basename(lists.fg[ins.fgIndex]) : null,
    });
  }
  await writeFileAtomic(path.join(job.out, "labels", split, `${name}.txt`), formatYoloLabel(yolo));
  await writeFileAtomic(path.join(job.out, ".parts", `${name}.json`), JSON.stringify(rec));
  return rec;
}

/** Indices of a job still to do (resume: an image is done when its part record exists). */
export function pendingIndices(job: SynthJob): number[] {
  const todo: number[] = [];
  for (let i = 0; i < job.n; i++) if (!exists(path.join(job.out, ".parts", `${itemName(job, i)}.json`))) todo.push(i);
  return todo;
}

/** Run a synthesis job (resumable; parallel with `workers` > 1) and write data.yaml + COCO JSON. */
export async function synthesize(job: SynthJob): Promise<SynthResult> {
  const lay = readSkytnt(job.src);
  if (lay.fg.length === 0 || lay.bg.length === 0) throw new UserError("needs fg/ and bg/ images", job.src);
  const lists = { fg: lay.fg, bg: lay.bg };
  await Deno.mkdir(path.join(job.out, ".parts"), { recursive: true });
  // resume only the same job: a folder made with another seed, source or config is refused, not mixed
  const jobFile = path.join(job.out, ".parts", "job.json");
  const identity = JSON.stringify({
    src: path.resolve(job.src),
    seed: job.seed,
    config: job.config,
    split: job.split ?? "train",
    prefix: job.prefix ?? "synth",
  });
  try {
    const old = (await Deno.readTextFile(jobFile)).trim();
    if (old !== identity) {
      throw new UserError(
        "holds a different synthesis job (seed, source or config); use another out= or delete it",
        job.out,
      );
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
  }
  await writeFileAtomic(jobFile, identity + "\n");
  const todo = pendingIndices(job);
  const resumed = job.n - todo.length;
  let done = resumed;
  job.onProgress?.(done, job.n);
  const bad = new Set<string>();
  const nw = Math.max(1, Math.min(job.workers ?? 1, todo.length));
  if (nw <= 1) {
    const cache = new Map<string, RawImage>();
    for (const i of todo) {
      await generateItem(job, i, lists, cache, bad);
      job.onProgress?.(++done, job.n);
    }
  } else {
    const url = new URL("./synth_worker.ts", import.meta.url).href;
    await Promise.all(Array.from({ length: nw }, (_, w) =>
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(url, { type: "module" });
        const mine = todo.filter((_, k) => k % nw === w);
        worker.onmessage = (e: MessageEvent) => {
          const m = e.data as { type: string; bad?: string[]; error?: string };
          if (m.type === "done") {
            done++;
            job.onProgress?.(done, job.n);
          } else if (m.type === "finished") {
            for (const b of m.bad ?? []) bad.add(b);
            worker.terminate();
            resolve();
          } else if (m.type === "error") {
            worker.terminate();
            reject(new UserError(m.error ?? "worker failed"));
          }
        };
        worker.onerror = (e) => {
          e.preventDefault();
          worker.terminate();
          reject(new Error(`synthesis worker failed: ${e.message}`));
        };
        worker.postMessage({ job: { ...job, onProgress: undefined }, indices: mine, lists });
      })));
  }
  return await finishDataset(job, resumed, [...bad]);
}

/** Assemble the COCO JSON from the part records and write data.yaml. */
async function finishDataset(job: SynthJob, resumed: number, bad: string[]): Promise<SynthResult> {
  const split = job.split ?? "train";
  const images: unknown[] = [], annotations: unknown[] = [];
  let nIns = 0, dropped = 0, annId = 1;
  for (let i = 0; i < job.n; i++) {
    const rec = JSON.parse(
      await Deno.readTextFile(path.join(job.out, ".parts", `${itemName(job, i)}.json`)),
    ) as PartRecord;
    images.push({ id: i + 1, file_name: rec.file, width: rec.width, height: rec.height });
    for (const a of rec.annotations) {
      annotations.push({
        id: annId++,
        image_id: i + 1,
        category_id: 1,
        segmentation: { size: [rec.height, rec.width], counts: a.counts },
        area: a.area,
        bbox: a.bbox,
        iscrowd: 0,
        source_fg: a.fg,
      });
    }
    nIns += rec.annotations.length;
    dropped += rec.dropped;
  }
  const coco = path.join(job.out, `instances_${split}.json`);
  await writeFileAtomic(
    coco,
    JSON.stringify({
      info: { description: `animeseg synthetic ${job.config.mode} (${job.config.labels})`, seed: job.seed },
      images,
      annotations,
      categories: [{ id: 1, name: "character", supercategory: "character" }],
    }) + "\n",
  );
  const yaml = path.join(job.out, "data.yaml");
  await writeDataYaml(yaml, { root: job.out, train: `images/${split}`, val: `images/${split}`, names: ["character"] });
  return { yaml, coco, images: job.n, instances: nIns, dropped, resumed, badForegrounds: bad };
}
