/**
 * Downloads of the real datasets from their official locations: SkyTNT's anime-segmentation (its Hugging Face
 * dataset: `data/{fg,bg}-NN.zip`, `data/imgs-masks.zip`) unpacked into the SkyTNT layout, and COCO 2017 person
 * instances (the official annotations zip, then each person image from its `coco_url`) converted to YOLO-seg.
 * Transfers go through `lib/io/download.ts` (resumable, progress, SHA-256 where one is known); zips are unpacked
 * streaming (fflate), so multi-GB archives do not need to fit in memory. Base URLs can be overridden (tests, mirrors).
 */
import * as path from "node:path";
import { Unzip, UnzipInflate } from "fflate";
import { downloadFile } from "../io/download.ts";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { cocoToYolo, type CocoToYoloStats, readCocoJson } from "./coco.ts";

/** Official SkyTNT anime-segmentation dataset files (Hugging Face). No checksums are published. */
export const SKYTNT_BASE = "https://huggingface.co/datasets/skytnt/anime-segmentation/resolve/main/data/";
export const SKYTNT_FILES = [
  ...[0, 1, 2, 3, 4, 5].map((i) => `fg-0${i}.zip`),
  ...[0, 1, 2, 3, 4].map((i) => `bg-0${i}.zip`),
  "imgs-masks.zip",
];
/** Official COCO 2017 annotations archive (241 MB). */
export const COCO_ANN_URL = "http://images.cocodataset.org/annotations/annotations_trainval2017.zip";

/** Progress callback: stage name, done, total (undefined when unknown). */
export type FetchProgress = (stage: string, done: number, total: number | undefined) => void;

/**
 * Unpack a zip streaming into `outDir`. `route(name)` gives the relative destination of an entry, or null to skip
 * it. Entries are written to a temporary name and renamed when complete. Returns the number of files written.
 */
export async function unzipStreaming(zipFile: string, outDir: string, route: (name: string) => string | null) {
  let count = 0;
  let failure: Error | null = null;
  const uz = new Unzip();
  uz.register(UnzipInflate);
  uz.onfile = (f) => {
    const rel = f.name.endsWith("/") ? null : route(f.name);
    if (!rel) return;
    const dest = path.join(outDir, rel);
    if (!path.resolve(dest).startsWith(path.resolve(outDir) + path.sep)) {
      failure = new UserError(`zip entry '${f.name}' escapes the output folder`, zipFile);
      return;
    }
    Deno.mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.part`;
    const fh = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    f.ondata = (err, chunk, final) => {
      if (err) {
        failure = new UserError(`corrupt zip entry '${f.name}': ${err.message}`, zipFile);
        fh.close();
        return;
      }
      let off = 0;
      while (off < chunk.length) off += fh.writeSync(chunk.subarray(off));
      if (final) {
        fh.close();
        Deno.renameSync(tmp, dest);
        count++;
      }
    };
    f.start();
  };
  const file = await Deno.open(zipFile, { read: true });
  try {
    for await (const chunk of file.readable) {
      uz.push(chunk);
      if (failure) throw failure;
    }
    uz.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot unpack zip: ${(e as Error).message}`, zipFile);
  }
  if (failure) throw failure;
  return count;
}

const IMG = /\.(png|jpe?g|webp)$/i;

/**
 * Download SkyTNT's dataset into `outDir` (zips kept in `outDir/_zips`, unpacked to `fg/`, `bg/`, `imgs/`, `masks/`).
 * `parts` limits which archives (default all, several GB). A finished archive is not unpacked again.
 */
export async function fetchSkytnt(
  outDir: string,
  opts: { base?: string; parts?: string[]; quiet?: boolean; onProgress?: FetchProgress } = {},
): Promise<{ fg: number; bg: number; imgs: number }> {
  const base = opts.base ?? SKYTNT_BASE;
  const files = opts.parts ?? SKYTNT_FILES;
  for (const f of files) {
    if (!SKYTNT_FILES.includes(f) && !opts.base) throw new UserError(`unknown SkyTNT archive '${f}'`);
    const zip = path.join(outDir, "_zips", f);
    const stamp = `${zip}.unpacked`;
    try {
      await Deno.stat(stamp);
      continue;
    } catch { /* not yet */ }
    await downloadFile(base + f, zip, {
      quiet: opts.quiet,
      onProgress: (d, t) => opts.onProgress?.(f, d, t),
    });
    const kind = f.startsWith("fg") ? "fg" : f.startsWith("bg") ? "bg" : "imgs-masks";
    await unzipStreaming(zip, outDir, (name) => {
      const base = path.basename(name);
      if (!IMG.test(base)) return null;
      if (kind !== "imgs-masks") return path.join(kind, base);
      // imgs-masks.zip holds imgs/ and masks/ folders
      const parts = name.split("/");
      const dir = parts.includes("masks") ? "masks" : parts.includes("imgs") ? "imgs" : null;
      return dir ? path.join(dir, base) : null;
    });
    await writeFileAtomic(stamp, new Date(0).toISOString());
  }
  const count = (d: string) => {
    try {
      return [...Deno.readDirSync(path.join(outDir, d))].filter((e) => IMG.test(e.name)).length;
    } catch {
      return 0;
    }
  };
  return { fg: count("fg"), bg: count("bg"), imgs: count("imgs") };
}

/**
 * Download COCO 2017 person instances of `split` (`val2017` or `train2017`) and convert them to a YOLO-seg dataset
 * in `outDir` (class 0 = `className`). Only images holding persons are downloaded, at most `limit` of them.
 */
export async function fetchCocoPerson(
  outDir: string,
  opts: {
    split?: "val2017" | "train2017";
    limit?: number;
    seed?: number;
    className?: string;
    annotationsUrl?: string;
    /** replaces `http://images.cocodataset.org/` in each image's coco_url */
    imageBase?: string;
    quiet?: boolean;
    onProgress?: FetchProgress;
  } = {},
): Promise<CocoToYoloStats> {
  const split = opts.split ?? "val2017";
  const rawDir = path.join(outDir, "_coco");
  const annZip = path.join(rawDir, path.basename(opts.annotationsUrl ?? COCO_ANN_URL));
  const annName = `instances_${split}.json`;
  const annFile = path.join(rawDir, annName);
  try {
    await Deno.stat(annFile);
  } catch {
    await downloadFile(opts.annotationsUrl ?? COCO_ANN_URL, annZip, {
      quiet: opts.quiet,
      onProgress: (d, t) => opts.onProgress?.("annotations", d, t),
    });
    const n = await unzipStreaming(annZip, rawDir, (name) => (path.basename(name) === annName ? annName : null));
    if (n === 0) throw new UserError(`archive has no ${annName}`, annZip);
  }
  const coco = await readCocoJson(annFile);
  const person = coco.categories.find((c) => c.name === "person");
  if (!person) throw new UserError("no 'person' category", annFile);
  const withPerson = new Set(
    coco.annotations.filter((a) => a.category_id === person.id && !a.iscrowd).map((a) => a.image_id),
  );
  let images = coco.images.filter((im) => withPerson.has(im.id));
  if (opts.limit !== undefined) images = images.slice(0, opts.limit);
  const imgDir = path.join(rawDir, split);
  for (const [k, im] of images.entries()) {
    const url = String(im.coco_url ?? `http://images.cocodataset.org/${split}/${im.file_name}`);
    const src = opts.imageBase ? url.replace("http://images.cocodataset.org/", opts.imageBase) : url;
    await downloadFile(src, path.join(imgDir, im.file_name), { quiet: true });
    opts.onProgress?.("images", k + 1, images.length);
  }
  return await cocoToYolo(annFile, imgDir, outDir, {
    categories: ["person"],
    names: [opts.className ?? "person"],
    limit: opts.limit,
    skipBad: true,
  });
}
