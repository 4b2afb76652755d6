/**
 * Ultralytics YOLO segmentation datasets on disk: the dataset YAML (`path`, `train`, `val`, `test`, `names`), image to
 * label path mapping (`/images/` -> `/labels/`, `.txt`), label lines `cls x1 y1 x2 y2 ...` (normalised polygon), reading
 * with file:line errors, and writing labels and YAML atomically.
 */
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { existsSync } from "../util/fs.ts";

/** Image file suffixes ultralytics accepts (lower case, no dot). */
export const IMG_FORMATS = new Set(["bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"]);

/** One instance of a label file: class index and its polygon, flat normalised xy in [0, 1]. */
export interface YoloInstance {
  cls: number;
  polygon: Float32Array;
}

/** One image of a split with its label file (which may not exist: then `instances` is empty). */
export interface YoloItem {
  imageFile: string;
  labelFile: string;
  instances: YoloInstance[];
}

/** A loaded split. `bad` counts label files skipped with `skipBad`; `missingLabels` images without a label file. */
export interface YoloDataset {
  root: string;
  names: string[];
  items: YoloItem[];
  missingLabels: number;
  bad: number;
}

/** The parsed dataset YAML with `path` and split entries resolved to absolute paths. */
export interface DataYaml {
  yamlFile: string;
  root: string;
  names: string[];
  splits: Partial<Record<"train" | "val" | "test", string[]>>;
}

/** Map an image path to its label path as ultralytics' `img2label_paths` (last `/images/` -> `/labels/`, `.txt`). */
export function imageToLabelPath(imageFile: string): string {
  const sa = `${path.sep}images${path.sep}`, sb = `${path.sep}labels${path.sep}`;
  const i = imageFile.lastIndexOf(sa);
  const swapped = i >= 0 ? imageFile.slice(0, i) + sb + imageFile.slice(i + sa.length) : imageFile;
  const dot = swapped.lastIndexOf(".");
  return (dot > swapped.lastIndexOf(path.sep) ? swapped.slice(0, dot) : swapped) + ".txt";
}

function namesFrom(v: unknown, file: string): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, n]) => [Number(k), String(n)] as const);
    if (entries.some(([k]) => !Number.isInteger(k) || k < 0)) throw new UserError("names keys must be integers", file);
    const out: string[] = [];
    for (const [k, n] of entries) out[k] = n;
    for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = `class${i}`;
    return out;
  }
  throw new UserError("missing 'names' (a list or a dict of index: name)", file);
}

/**
 * Read a dataset YAML. A relative `path` is resolved against the YAML's folder (missing `path` = that folder);
 * split entries (string or list) are resolved against `path`, retrying without a leading `../` as ultralytics does.
 */
export function readDataYaml(yamlFile: string): DataYaml {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(Deno.readTextFileSync(yamlFile)) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`cannot read dataset YAML: ${(e as Error).message.split("\n")[0]}`, yamlFile);
  }
  if (!doc || typeof doc !== "object") throw new UserError("dataset YAML is not a mapping", yamlFile);
  const dir = path.dirname(path.resolve(yamlFile));
  const root = typeof doc.path === "string" && doc.path ? path.resolve(dir, doc.path) : dir;
  const names = namesFrom(doc.names, yamlFile);
  const splits: DataYaml["splits"] = {};
  for (const k of ["train", "val", "test"] as const) {
    const v = doc[k];
    if (v === undefined || v === null || v === "") continue;
    const list = Array.isArray(v) ? v.map(String) : [String(v)];
    splits[k] = list.map((s) => {
      let p = path.resolve(root, s);
      if (!existsSync(p) && s.startsWith("../")) p = path.resolve(root, s.slice(3));
      return p;
    });
  }
  return { yamlFile: path.resolve(yamlFile), root, names, splits };
}

function walk(dir: string, out: string[]) {
  for (const e of Deno.readDirSync(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory) walk(p, out);
    else if (e.isFile) out.push(p);
  }
}

/** Image files of a split source: a folder (recursive), a `.txt` list (relative lines against its folder), or a file. */
export function listImages(source: string): string[] {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(source);
  } catch {
    throw new UserError("dataset split path does not exist", source);
  }
  let files: string[] = [];
  if (st.isDirectory) walk(source, files);
  else if (source.endsWith(".txt")) {
    const parent = path.dirname(source);
    files = Deno.readTextFileSync(source).split(/\r?\n/).map((l) => l.trim()).filter((l) => l)
      .map((l) => (l.startsWith("./") ? path.join(parent, l.slice(2)) : path.resolve(parent, l)));
  } else files = [source];
  return files.filter((f) => IMG_FORMATS.has(path.extname(f).slice(1).toLowerCase())).sort();
}

/** Parse the text of one label file; errors name `file:line`. Each line needs an integer class and >= 3 xy pairs. */
export function parseYoloLabel(text: string, file: string, nc?: number): YoloInstance[] {
  const out: YoloInstance[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const where = `${file}:${i + 1}`;
    const parts = line.split(/\s+/);
    const cls = Number(parts[0]);
    if (!Number.isInteger(cls) || cls < 0) {
      throw new UserError(`class '${parts[0]}' is not a non-negative integer`, where);
    }
    if (nc !== undefined && cls >= nc) throw new UserError(`class ${cls} out of range (nc=${nc})`, where);
    const n = parts.length - 1;
    if (n < 6 || n % 2) throw new UserError(`expected an even number (>= 6) of coordinates, got ${n}`, where);
    const poly = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const v = Number(parts[k + 1]);
      if (!Number.isFinite(v)) throw new UserError(`coordinate '${parts[k + 1]}' is not a number`, where);
      if (v < -0.01 || v > 1.01) throw new UserError(`coordinate ${v} is not normalised to [0, 1]`, where);
      poly[k] = v;
    }
    out.push({ cls, polygon: poly });
  }
  return out;
}

/** Read one split of a dataset YAML. With `skipBad`, malformed label files are counted in `bad` and skipped. */
export function readYoloDataset(
  yamlFile: string,
  split: "train" | "val" | "test" = "train",
  opts: { skipBad?: boolean } = {},
): YoloDataset {
  const d = readDataYaml(yamlFile);
  const sources = d.splits[split];
  if (!sources) throw new UserError(`no '${split}' split`, yamlFile);
  const items: YoloItem[] = [];
  let missing = 0, bad = 0;
  for (const src of sources) {
    for (const img of listImages(src)) {
      const labelFile = imageToLabelPath(img);
      let text: string | null = null;
      try {
        text = Deno.readTextFileSync(labelFile);
      } catch {
        missing++;
      }
      let instances: YoloInstance[] = [];
      if (text !== null) {
        try {
          instances = parseYoloLabel(text, labelFile, d.names.length);
        } catch (e) {
          if (!opts.skipBad || !(e instanceof UserError)) throw e;
          bad++;
          continue;
        }
      }
      items.push({ imageFile: img, labelFile, instances });
    }
  }
  return { root: d.root, names: d.names, items, missingLabels: missing, bad };
}

/** Label text for instances: one line per instance, coordinates with 6 decimals (ultralytics' converter precision). */
export function formatYoloLabel(instances: YoloInstance[]): string {
  return instances.map((ins) => {
    const c = Array.from(ins.polygon, (v) => Math.min(1, Math.max(0, v)).toFixed(6).replace(/\.?0+$/, "") || "0");
    return `${ins.cls} ${c.join(" ")}`;
  }).join("\n") + (instances.length ? "\n" : "");
}

/** Write a label file atomically (an image with no instances gets an empty file). */
export function writeYoloLabel(labelFile: string, instances: YoloInstance[]): Promise<void> {
  return writeFileAtomic(labelFile, formatYoloLabel(instances));
}

/**
 * Write a dataset YAML that ultralytics reads unchanged: absolute `path`, split folders relative to it, `names` as a
 * dict `{0: name}`. Extra keys (e.g. provenance) are added as comments-free fields after.
 */
export function writeDataYaml(
  yamlFile: string,
  spec: { root: string; train: string; val?: string; test?: string; names: string[]; extra?: Record<string, unknown> },
): Promise<void> {
  const doc: Record<string, unknown> = {
    path: path.resolve(spec.root),
    train: spec.train,
    val: spec.val ?? spec.train,
  };
  if (spec.test) doc.test = spec.test;
  doc.names = Object.fromEntries(spec.names.map((n, i) => [i, n]));
  if (spec.extra) Object.assign(doc, spec.extra);
  return writeFileAtomic(yamlFile, stringifyYaml(doc));
}
