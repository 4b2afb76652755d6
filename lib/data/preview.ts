/**
 * Dataset previews and statistics: a grid of sample images with their instance masks drawn (one colour per instance),
 * and per-dataset counts plus instance-size and instances-per-image histograms.
 */
import sharp from "sharp";
import { fillPolygonsInto, maskArea } from "./mask.ts";
import type { YoloDataset, YoloItem } from "./yolo.ts";
import { writeFileAtomic } from "../io/atomic.ts";

const COLOURS = [
  [255, 56, 56],
  [255, 157, 151],
  [255, 112, 31],
  [255, 178, 29],
  [207, 210, 49],
  [72, 249, 10],
  [146, 204, 23],
  [61, 219, 134],
  [26, 147, 52],
  [0, 212, 187],
  [44, 153, 168],
  [0, 194, 255],
  [52, 69, 147],
  [100, 115, 255],
  [0, 24, 236],
  [132, 56, 255],
];

/** RGB `[s*s*3]` tile of one item: image fitted into s x s (letterboxed) with masks blended at `alpha`. */
export async function drawItem(item: YoloItem, s: number, alpha = 0.45): Promise<Uint8Array> {
  const { data } = await sharp(item.imageFile).removeAlpha().resize(s, s, {
    fit: "contain",
    background: "#727272",
  })
    .raw().toBuffer({ resolveWithObject: true });
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length).slice();
  const meta = await sharp(item.imageFile).metadata();
  const w0 = meta.width!, h0 = meta.height!;
  const g = Math.min(s / w0, s / h0);
  const ox = (s - w0 * g) / 2, oy = (s - h0 * g) / 2;
  item.instances.forEach((ins, k) => {
    const px = ins.polygon.map((v, i) => (i % 2 ? v * h0 * g + oy : v * w0 * g + ox));
    const m = new Uint8Array(s * s);
    fillPolygonsInto(m, [px], s, s, 1);
    const c = COLOURS[k % COLOURS.length];
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = Math.round(rgb[i * 3 + ch] * (1 - alpha) + c[ch] * alpha);
    }
    // outline: mask pixels with a background 4-neighbour
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        if (!m[i]) continue;
        if (x === 0 || y === 0 || x === s - 1 || y === s - 1 || !m[i - 1] || !m[i + 1] || !m[i - s] || !m[i + s]) {
          rgb[i * 3] = c[0];
          rgb[i * 3 + 1] = c[1];
          rgb[i * 3 + 2] = c[2];
        }
      }
    }
  });
  return rgb;
}

/** Write a PNG grid of the first `n` items (cols x rows of s-pixel tiles) to `file`. */
export async function writeSampleGrid(
  items: YoloItem[],
  file: string,
  opts: { n?: number; cols?: number; tile?: number } = {},
): Promise<void> {
  const n = Math.min(opts.n ?? 16, items.length), cols = Math.min(opts.cols ?? 4, Math.max(1, n));
  const s = opts.tile ?? 256, rows = Math.max(1, Math.ceil(n / cols));
  const comps = [];
  for (let i = 0; i < n; i++) {
    const rgb = await drawItem(items[i], s);
    comps.push({
      input: await sharp(rgb, { raw: { width: s, height: s, channels: 3 } }).png().toBuffer(),
      left: (i % cols) * s,
      top: Math.floor(i / cols) * s,
    });
  }
  const png = await sharp({ create: { width: cols * s, height: rows * s, channels: 3, background: "#202020" } })
    .composite(comps).png().toBuffer();
  await writeFileAtomic(file, new Uint8Array(png));
}

/** Counts and histograms of a dataset split. Sizes are sqrt(mask area / image area) of each instance. */
export interface DatasetStats {
  images: number;
  instances: number;
  emptyImages: number;
  perImage: number[];
  /** histogram of instances per image: index = count (last bin collects >= its index) */
  perImageHist: number[];
  /** relative instance size sqrt(area fraction), edges [0, .05, .1, .2, .3, .5, .7, 1] */
  sizeEdges: number[];
  sizeHist: number[];
  sizes: number[];
}

/** Compute stats of a loaded split (instance areas from the polygons on a 256 x 256 grid). */
export function datasetStats(ds: YoloDataset): DatasetStats {
  const edges = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0001];
  const sizeHist = new Array(edges.length - 1).fill(0);
  const perImage: number[] = [];
  const perImageHist = new Array(11).fill(0);
  const sizes: number[] = [];
  const G = 256;
  for (const it of ds.items) {
    perImage.push(it.instances.length);
    perImageHist[Math.min(10, it.instances.length)]++;
    for (const ins of it.instances) {
      const m = new Uint8Array(G * G);
      fillPolygonsInto(m, [ins.polygon.map((v) => v * G)], G, G, 1);
      const r = Math.sqrt(maskArea(m) / (G * G));
      sizes.push(r);
      for (let b = 0; b < sizeHist.length; b++) {
        if (r >= edges[b] && r < edges[b + 1]) {
          sizeHist[b]++;
          break;
        }
      }
    }
  }
  return {
    images: ds.items.length,
    instances: sizes.length,
    emptyImages: perImage.filter((c) => c === 0).length,
    perImage,
    perImageHist,
    sizeEdges: edges.map((e) => Math.min(1, e)),
    sizeHist,
    sizes,
  };
}

/** A text report of `datasetStats` (counts and two bar histograms). */
export function formatStats(name: string, st: DatasetStats): string {
  const bar = (v: number, max: number) => "#".repeat(max ? Math.round((30 * v) / max) : 0);
  const lines = [
    `${name}: ${st.images} images, ${st.instances} instances, ${st.emptyImages} without instances`,
    "instances per image:",
  ];
  const m1 = Math.max(...st.perImageHist);
  st.perImageHist.forEach((v, i) => {
    if (v) lines.push(`  ${i === 10 ? ">=10" : String(i).padStart(4)} ${String(v).padStart(6)} ${bar(v, m1)}`);
  });
  lines.push("instance size sqrt(area / image area):");
  const m2 = Math.max(...st.sizeHist);
  st.sizeHist.forEach((v, i) => {
    const lab = `${st.sizeEdges[i].toFixed(2)}-${st.sizeEdges[i + 1].toFixed(2)}`;
    lines.push(`  ${lab} ${String(v).padStart(6)} ${bar(v, m2)}`);
  });
  return lines.join("\n");
}
