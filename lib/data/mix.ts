/**
 * Mixing YOLO-seg datasets into one training set: named parts with counts or ratios, a class mapping per part
 * (default one class `character`; e.g. COCO person -> 0, other classes dropped), and `manifest.csv` recording where
 * every image came from. Images are copied; labels are rewritten with the mapped classes.
 */
import * as path from "node:path";
import { formatYoloLabel, readYoloDataset, writeDataYaml, type YoloItem } from "./yolo.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { makeRng } from "./rng.ts";
import { UserError } from "../util/errors.ts";

/** One part of a mix. */
export interface MixPart {
  /** name recorded in the manifest and used as a file name prefix */
  name: string;
  /** the part's dataset YAML */
  yaml: string;
  split?: "train" | "val" | "test";
  /** number of images to take (sampled without replacement, with replacement past the part's size) */
  count?: number;
  /** fraction of the mix's `total` (used when `count` is absent) */
  ratio?: number;
  /** source class -> target class; classes absent from the map are dropped. Default: every class -> 0 */
  classMap?: Record<number, number>;
  /** keep only images that have at least one instance after mapping */
  requireInstances?: boolean;
}

/** Result of a mix. */
export interface MixResult {
  yaml: string;
  manifest: string;
  images: number;
  instances: number;
  perPart: Record<string, { images: number; instances: number }>;
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Build a mixed YOLO-seg dataset in `outDir` from `parts` (deterministic for a seed). */
export async function mixDatasets(
  outDir: string,
  parts: MixPart[],
  opts: { seed?: number; names?: string[]; total?: number; split?: string } = {},
): Promise<MixResult> {
  const names = opts.names ?? ["character"];
  const split = opts.split ?? "train";
  const rows: string[] = ["file,part,source_image,source_label,instances"];
  const res: MixResult = {
    yaml: path.join(outDir, "data.yaml"),
    manifest: path.join(outDir, "manifest.csv"),
    images: 0,
    instances: 0,
    perPart: {},
  };
  for (const [pi, part] of parts.entries()) {
    if (!/^[\w.-]+$/.test(part.name)) throw new UserError(`part name '${part.name}' must be a plain word`);
    const ds = readYoloDataset(part.yaml, part.split ?? "train");
    const map = (cls: number): number | undefined => part.classMap ? part.classMap[cls] : 0;
    let pool: YoloItem[] = ds.items.map((it) => ({
      ...it,
      instances: it.instances.flatMap((ins) => {
        const c = map(ins.cls);
        return c === undefined ? [] : [{ cls: c, polygon: ins.polygon }];
      }),
    }));
    if (part.requireInstances) pool = pool.filter((it) => it.instances.length > 0);
    if (pool.length === 0) throw new UserError("no images left in this part after class mapping", part.yaml);
    const want = part.count ??
      (part.ratio !== undefined && opts.total ? Math.round(part.ratio * opts.total) : pool.length);
    const rng = makeRng(opts.seed ?? 0, 5000 + pi);
    const order = pool.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const chosen: number[] = [];
    for (let k = 0; k < want; k++) chosen.push(k < order.length ? order[k] : Math.floor(rng.next() * pool.length));
    let nIns = 0;
    for (const [k, idx] of chosen.entries()) {
      const it = pool[idx];
      const ext = path.extname(it.imageFile);
      const stem = `${part.name}_${String(k).padStart(6, "0")}`;
      const dst = path.join(outDir, "images", split, stem + ext);
      await Deno.mkdir(path.dirname(dst), { recursive: true });
      await Deno.copyFile(it.imageFile, dst);
      await writeFileAtomic(path.join(outDir, "labels", split, `${stem}.txt`), formatYoloLabel(it.instances));
      rows.push(
        [stem + ext, part.name, it.imageFile, it.labelFile, String(it.instances.length)].map(csvCell).join(","),
      );
      nIns += it.instances.length;
    }
    res.perPart[part.name] = { images: chosen.length, instances: nIns };
    res.images += chosen.length;
    res.instances += nIns;
  }
  await writeFileAtomic(res.manifest, rows.join("\n") + "\n");
  await writeDataYaml(res.yaml, { root: outDir, train: `images/${split}`, val: `images/${split}`, names });
  return res;
}
