/**
 * COCO instances JSON: reading with field validation, annotation to RLE / mask (polygons, uncompressed and compressed
 * RLE, as pycocotools `annToRLE`), writing, the loadRes-style results file, and COCO person -> YOLO segmentation
 * conversion as ultralytics' `convert_coco(use_segments=True)` (crowd skipped and counted, parts joined).
 */
import * as path from "node:path";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { decodeRle, encodeRle, type Rle, rleFromPolygons, rleFromString, rleToString } from "./rle.ts";
import { joinPolygons, maskToPolygons } from "./mask.ts";
import { formatYoloLabel, writeDataYaml, type YoloInstance } from "./yolo.ts";

/** COCO segmentation: polygons (flat xy pixel lists) or an RLE with list or compressed-string counts. */
export type CocoSegmentation = number[][] | { size: [number, number]; counts: number[] | string };

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
  [k: string]: unknown;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: CocoSegmentation;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
  [k: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoDataset {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
  [k: string]: unknown;
}

/** One entry of a results file (pycocotools `loadRes`): no id/area/iscrowd. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  segmentation?: { size: [number, number]; counts: string | number[] };
  bbox?: [number, number, number, number];
}

function need(cond: unknown, msg: string, file: string): asserts cond {
  if (!cond) throw new UserError(msg, file);
}

function checkSegmentation(s: unknown, where: string, file: string) {
  if (Array.isArray(s)) {
    for (const p of s) {
      need(
        Array.isArray(p) && p.every((v) => typeof v === "number"),
        `${where}: polygon is not a list of numbers`,
        file,
      );
    }
    return;
  }
  need(s && typeof s === "object", `${where}: segmentation must be polygons or an RLE`, file);
  const r = s as { size?: unknown; counts?: unknown };
  need(Array.isArray(r.size) && r.size.length === 2, `${where}: RLE needs size [h, w]`, file);
  need(typeof r.counts === "string" || Array.isArray(r.counts), `${where}: RLE needs counts`, file);
}

/** Validate parsed JSON as a COCO instances file; errors name the file and the first bad record. */
export function validateCoco(doc: unknown, file: string): CocoDataset {
  need(doc && typeof doc === "object" && !Array.isArray(doc), "not a COCO instances JSON object", file);
  const d = doc as Record<string, unknown>;
  for (const k of ["images", "annotations", "categories"]) need(Array.isArray(d[k]), `missing list '${k}'`, file);
  const images = d.images as Record<string, unknown>[];
  images.forEach((im, i) => {
    for (const k of ["id", "width", "height"]) {
      need(typeof im[k] === "number", `images[${i}] missing number '${k}'`, file);
    }
    need(typeof im.file_name === "string", `images[${i}] missing 'file_name'`, file);
  });
  (d.categories as Record<string, unknown>[]).forEach((c, i) => {
    need(typeof c.id === "number" && typeof c.name === "string", `categories[${i}] needs id and name`, file);
  });
  (d.annotations as Record<string, unknown>[]).forEach((a, i) => {
    for (const k of ["id", "image_id", "category_id"]) {
      need(typeof a[k] === "number", `annotations[${i}] missing number '${k}'`, file);
    }
    need(a.segmentation !== undefined, `annotations[${i}] (id ${a.id}) missing 'segmentation'`, file);
    checkSegmentation(a.segmentation, `annotations[${i}] (id ${a.id})`, file);
    if (a.iscrowd === undefined) a.iscrowd = 0;
  });
  return d as unknown as CocoDataset;
}

/** Read and validate a COCO instances JSON file. */
export async function readCocoJson(file: string): Promise<CocoDataset> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UserError(`cannot read: ${(e as Error).message}`, file);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UserError(`malformed JSON: ${(e as Error).message}`, file);
  }
  return validateCoco(doc, file);
}

/** Write a COCO JSON atomically. */
export function writeCocoJson(file: string, data: CocoDataset): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(data) + "\n");
}

/** RLE of a segmentation on an h x w image, as pycocotools `annToRLE` (polygons merged, RLE as given). */
export function segmentationToRle(seg: CocoSegmentation, h: number, w: number): Rle {
  if (Array.isArray(seg)) return rleFromPolygons(seg, h, w);
  if (typeof seg.counts === "string") return rleFromString(seg.counts, seg.size[0], seg.size[1]);
  return { size: [seg.size[0], seg.size[1]], counts: seg.counts.slice() };
}

/** Row-major 0/1 mask `[h*w]` of a segmentation. */
export function segmentationToMask(seg: CocoSegmentation, h: number, w: number): Uint8Array {
  return decodeRle(segmentationToRle(seg, h, w));
}

/** Compressed-RLE segmentation (`{size, counts: string}`) of a row-major mask. */
export function maskToCocoRle(mask: Uint8Array, h: number, w: number): { size: [number, number]; counts: string } {
  return { size: [h, w], counts: rleToString(encodeRle(mask, h, w)) };
}

/** Read and validate a results JSON (a list of `{image_id, category_id, score, segmentation|bbox}`). */
export async function readCocoResults(file: string): Promise<CocoResult[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new UserError(`cannot read results JSON: ${(e as Error).message}`, file);
  }
  need(Array.isArray(doc), "results JSON must be a list", file);
  (doc as Record<string, unknown>[]).forEach((r, i) => {
    for (const k of ["image_id", "category_id", "score"]) {
      need(typeof r[k] === "number", `[${i}] missing number '${k}'`, file);
    }
    need(r.segmentation !== undefined || r.bbox !== undefined, `[${i}] needs 'segmentation' or 'bbox'`, file);
    if (r.segmentation !== undefined) checkSegmentation(r.segmentation, `[${i}]`, file);
  });
  return doc as CocoResult[];
}

/** Write a results JSON atomically. */
export function writeCocoResults(file: string, results: CocoResult[]): Promise<void> {
  return writeJsonAtomic(file, results);
}

/** Options of `cocoToYolo`. */
export interface CocoToYoloOptions {
  /** category names kept (default `["person"]`) */
  categories?: string[];
  /** class index written for each kept category name (default: its position in `categories`) */
  classMap?: Record<string, number>;
  /** names written to data.yaml (default: `categories`) */
  names?: string[];
  /** at most this many images (those with at least one kept instance) */
  limit?: number;
  /** with `limit`, pick images at random with this seed instead of the first ones */
  seed?: number;
  /** split folder name (default `train`) */
  split?: string;
  /** skip images that are missing instead of failing */
  skipBad?: boolean;
}

/** Counts from a conversion. */
export interface CocoToYoloStats {
  images: number;
  instances: number;
  crowdSkipped: number;
  emptySkipped: number;
  missingImages: number;
  yaml: string;
}

function mulberry(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** YOLO instance (normalised polygon) of one annotation, or null when it has no usable geometry. */
export function annotationToYolo(ann: CocoAnnotation, w: number, h: number, cls: number): YoloInstance | null {
  const seg = ann.segmentation;
  let xy: Float32Array;
  if (Array.isArray(seg)) {
    const parts = seg.filter((p) => p.length >= 6);
    if (parts.length === 0) return null;
    xy = parts.length > 1 ? joinPolygons(parts) : Float32Array.from(parts[0]);
  } else {
    const m = segmentationToMask(seg, h, w);
    const polys = maskToPolygons(m, h, w).filter((p) => p.length >= 6);
    if (polys.length === 0) return null;
    xy = polys.length > 1 ? joinPolygons(polys) : polys[0];
  }
  const out = new Float32Array(xy.length);
  for (let i = 0; i < xy.length; i += 2) {
    out[i] = xy[i] / w;
    out[i + 1] = xy[i + 1] / h;
  }
  return { cls, polygon: out };
}

/**
 * Convert the instances of chosen categories (default `person`) of a COCO JSON + its image folder into a YOLO
 * segmentation dataset in `outDir` (`images/<split>`, `labels/<split>`, `data.yaml`). Crowd annotations are skipped
 * and counted; boxes with zero size and exact duplicate boxes are skipped as ultralytics' converter does.
 */
export async function cocoToYolo(
  jsonFile: string,
  imagesDir: string,
  outDir: string,
  opts: CocoToYoloOptions = {},
): Promise<CocoToYoloStats> {
  const coco = await readCocoJson(jsonFile);
  const cats = opts.categories ?? ["person"];
  const split = opts.split ?? "train";
  const classOf = new Map<number, number>();
  for (const c of coco.categories) {
    const k = cats.indexOf(c.name);
    if (k >= 0) classOf.set(c.id, opts.classMap?.[c.name] ?? k);
  }
  if (classOf.size === 0) throw new UserError(`no category named ${cats.join(", ")}`, jsonFile);
  const byImage = new Map<number, CocoAnnotation[]>();
  for (const a of coco.annotations) {
    if (!classOf.has(a.category_id)) continue;
    const l = byImage.get(a.image_id) ?? [];
    l.push(a);
    byImage.set(a.image_id, l);
  }
  let images = coco.images.filter((im) => byImage.has(im.id));
  if (opts.limit !== undefined && images.length > opts.limit) {
    if (opts.seed !== undefined) {
      const r = mulberry(opts.seed);
      images = images.map((im) => [r(), im] as const).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
    }
    images = images.slice(0, opts.limit);
  }
  const stats: CocoToYoloStats = {
    images: 0,
    instances: 0,
    crowdSkipped: 0,
    emptySkipped: 0,
    missingImages: 0,
    yaml: path.join(outDir, "data.yaml"),
  };
  for (const im of images) {
    const src = path.join(imagesDir, im.file_name);
    try {
      await Deno.stat(src);
    } catch {
      if (opts.skipBad) {
        stats.missingImages++;
        continue;
      }
      throw new UserError(`image '${im.file_name}' of image id ${im.id} not found`, imagesDir);
    }
    const inst: YoloInstance[] = [];
    const seen = new Set<string>();
    for (const a of byImage.get(im.id)!) {
      if (a.iscrowd) {
        stats.crowdSkipped++;
        continue;
      }
      const [, , bw, bh] = a.bbox ?? [0, 0, 1, 1];
      if (bw <= 0 || bh <= 0) {
        stats.emptySkipped++;
        continue;
      }
      const key = `${classOf.get(a.category_id)} ${a.bbox?.join(" ")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const y = annotationToYolo(a, im.width, im.height, classOf.get(a.category_id)!);
      if (!y) {
        stats.emptySkipped++;
        continue;
      }
      inst.push(y);
    }
    const stem = path.basename(im.file_name, path.extname(im.file_name));
    await Deno.mkdir(path.join(outDir, "images", split), { recursive: true });
    await Deno.copyFile(src, path.join(outDir, "images", split, path.basename(im.file_name)));
    await writeFileAtomic(path.join(outDir, "labels", split, `${stem}.txt`), formatYoloLabel(inst));
    stats.images++;
    stats.instances += inst.length;
  }
  await writeDataYaml(stats.yaml, {
    root: outDir,
    train: `images/${split}`,
    val: `images/${split}`,
    names: opts.names ?? cats,
  });
  return stats;
}
