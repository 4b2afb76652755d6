/**
 * Writing a validation run to a folder: `metrics.json` (box / mask / native-mask P, R, mAP50, mAP50-95, fitness,
 * per class), `per_class.csv`, PR-curve data (`pr_curves.json`) with SVG plots, and a gallery of the images with
 * the lowest mask score (GT green, predictions red). All files are written atomically.
 */
import * as path from "node:path";
import sharp from "sharp";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { rasterizePolygons } from "../data/mask.ts";
import { decodeImageFile } from "../dataset/image.ts";
import type { YoloSegDataset } from "../dataset/yolo_dataset.ts";
import { predict, type SegModel } from "../yolo/predict.ts";
import type { ApPerClass, MetricSummary } from "./ap.ts";
import type { ImageScore, ValResult } from "./validate.ts";

const pick = (m: MetricSummary | Omit<MetricSummary, "fitness">) => ({
  P: m.P,
  R: m.R,
  mAP50: m.mAP50,
  "mAP50-95": m["mAP50-95"],
});

/** The `metrics.json` object of a run. */
export function metricsJson(r: ValResult): Record<string, unknown> {
  const perClass: Record<string, unknown> = {};
  for (const c of r.perClass) {
    perClass[c.name] = {
      cls: c.cls,
      images: c.images,
      instances: c.instances,
      box: pick(c.box),
      mask: pick(c.mask),
      ...(c.maskNative ? { mask_native: pick(c.maskNative) } : {}),
    };
  }
  return {
    box: pick(r.box),
    mask: pick(r.mask),
    ...(r.maskNative ? { mask_native: pick(r.maskNative) } : {}),
    fitness: r.fitness,
    images: r.images,
    instances: r.instances,
    speed_ms_per_image: r.speed,
    settings: r.settings,
    per_class: perClass,
  };
}

/** Per-class CSV (one row per class present in the ground truth, plus `all`). */
export function perClassCsv(r: ValResult): string {
  const cols = ["class", "images", "instances", "box_P", "box_R", "box_mAP50", "box_mAP50-95"];
  cols.push("mask_P", "mask_R", "mask_mAP50", "mask_mAP50-95");
  if (r.maskNative) cols.push("native_P", "native_R", "native_mAP50", "native_mAP50-95");
  const vals = (m: Omit<MetricSummary, "fitness">) => [m.P, m.R, m.mAP50, m["mAP50-95"]].map((v) => v.toFixed(6));
  const lines = [cols.join(",")];
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  lines.push(
    ["all", r.images, r.instances, ...vals(r.box), ...vals(r.mask), ...(r.maskNative ? vals(r.maskNative) : [])].join(
      ",",
    ),
  );
  for (const c of r.perClass) {
    lines.push(
      [esc(c.name), c.images, c.instances, ...vals(c.box), ...vals(c.mask), ...(c.maskNative ? vals(c.maskNative) : [])]
        .join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/** PR curve data at IoU 0.5: recall grid, precision per class and mean; F1/P/R against confidence (means). */
export function curveData(res: ApPerClass | null, names: string[]): Record<string, unknown> | null {
  if (!res) return null;
  const withPreds = res.precValues.filter((p) => p.length);
  const mean = (rows: Float64Array[]) =>
    Array.from({ length: res.x.length }, (_, k) => rows.length ? rows.reduce((a, r) => a + r[k], 0) / rows.length : 0);
  return {
    x: Array.from(res.x),
    classes: res.uniqueClasses.map((c) => names[c] ?? String(c)),
    precision_at_recall: res.precValues.map((p) => Array.from(p)),
    mean_precision_at_recall: mean(withPreds),
    mAP50: res.ap.reduce((a, r) => a + r[0], 0) / Math.max(1, res.ap.length),
    mean_f1_vs_conf: mean(res.f1Curve),
    mean_p_vs_conf: mean(res.pCurve),
    mean_r_vs_conf: mean(res.rCurve),
    best_conf: res.x[res.bestIndex],
  };
}

/** A small standalone SVG line plot (curves as [x, y] lists in [0, 1]). */
export function svgPlot(
  title: string,
  xLabel: string,
  yLabel: string,
  curves: { name: string; xs: number[]; ys: number[]; width?: number; color?: string }[],
): string {
  const W = 640, H = 480, L = 60, R = 20, T = 40, B = 50;
  const px = (x: number) => L + x * (W - L - R), py = (y: number) => H - B - y * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#444"/>`,
  ];
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    parts.push(`<text x="${px(v)}" y="${H - B + 16}" text-anchor="middle">${v.toFixed(1)}</text>`);
    parts.push(`<text x="${L - 6}" y="${py(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">${
      escapeXml(yLabel)
    }</text>`,
  );
  curves.forEach((c, i) => {
    const pts = c.xs.map((x, k) => `${px(x).toFixed(1)},${py(c.ys[k]).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${c.color ?? "#999"}" stroke-width="${c.width ?? 1}" points="${pts}"/>`);
    if (c.width && c.width > 1) {
      parts.push(
        `<text x="${W - R - 8}" y="${T + 18 + 16 * i}" text-anchor="end" fill="${c.color}">${escapeXml(c.name)}</text>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n");
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function prSvg(task: string, d: Record<string, unknown>): string {
  const x = d.x as number[];
  const per = (d.precision_at_recall as number[][]).filter((p) => p.length);
  const curves = per.map((p) => ({ name: "", xs: x, ys: p, color: "#bbb" }));
  curves.push(
    {
      name: `all classes ${(d.mAP50 as number).toFixed(3)} mAP@0.5`,
      xs: x,
      ys: d.mean_precision_at_recall as number[],
      color: "#1f77b4",
      width: 3,
    } as typeof curves[0],
  );
  return svgPlot(`${task} precision-recall (IoU 0.5)`, "Recall", "Precision", curves);
}

/** Overlay of GT (green) and predicted (red) masks on an RGB image → PNG bytes. */
export async function overlayPng(
  rgb: Uint8Array,
  h: number,
  w: number,
  gt: Uint8Array[],
  pred: Uint8Array[],
): Promise<Uint8Array> {
  const out = Uint8Array.from(rgb);
  const tint = (m: Uint8Array, col: [number, number, number]) => {
    for (let i = 0; i < h * w; i++) {
      if (!m[i]) continue;
      for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(out[i * 3 + c] * 0.55 + col[c] * 0.45);
    }
  };
  gt.forEach((m) => tint(m, [0, 220, 0]));
  pred.forEach((m) => tint(m, [230, 0, 0]));
  return new Uint8Array(await sharp(out, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

/** The `k` images with the lowest mask score (ties: more GT first). */
export function worstImages(perImage: ImageScore[], k: number): ImageScore[] {
  return perImage.slice().sort((a, b) => a.maskScore - b.maskScore || b.nGt - a.nGt).slice(0, k);
}

/**
 * Write a run to `dir`: metrics.json, per_class.csv, pr_curves.json, PR_curve_*.svg, and (with a model and the
 * dataset) `worst/` overlays of the `gallery` worst images, predicted at `conf` 0.25 with native masks.
 */
export async function writeValReport(
  dir: string,
  r: ValResult,
  opts: { model?: SegModel; dataset?: YoloSegDataset; gallery?: number; classes?: number[] | null } = {},
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, content: string | Uint8Array) => {
    await writeFileAtomic(path.join(dir, name), content);
    written.push(name);
  };
  await writeJsonAtomic(path.join(dir, "metrics.json"), metricsJson(r));
  written.push("metrics.json");
  await put("per_class.csv", perClassCsv(r));
  const curves: Record<string, unknown> = {};
  for (const [k, res] of Object.entries(r.curves)) {
    const d = curveData(res, r.names);
    if (!d) continue;
    curves[k] = d;
    await put(`PR_curve_${k}.svg`, prSvg(k === "maskNative" ? "mask (native)" : k, d));
  }
  await put("pr_curves.json", JSON.stringify(curves));
  const k = opts.gallery ?? 8;
  if (opts.model && opts.dataset && k > 0) {
    const worst = worstImages(r.perImage, k);
    const byFile = new Map(opts.dataset.labels.map((l) => [l.imageFile, l]));
    const list = [];
    for (let i = 0; i < worst.length; i++) {
      const w = worst[i];
      const img = await decodeImageFile(w.imageFile);
      const imgsz = opts.dataset.opts.imgsz;
      let [p] = await predict(opts.model, [{ ...img, channels: 3 as const }], {
        imgsz,
        conf: 0.25,
        retinaMasks: true,
      });
      const keepIdx = Array.from({ length: p.n }, (_, j) => j).filter((j) =>
        !opts.classes?.length || opts.classes.includes(p.cls[j])
      );
      p = { ...p, masks: keepIdx.map((j) => p.masks[j]) };
      const lab = byFile.get(w.imageFile);
      const gt = (lab?.polygons ?? []).map((poly) =>
        rasterizePolygons(
          [Float32Array.from(poly, (v, j) => v * (j % 2 ? img.height : img.width))],
          img.height,
          img.width,
          1,
        )
      );
      const name = `worst/${String(i + 1).padStart(2, "0")}_${path.basename(w.imageFile).replace(/\.[^.]+$/, "")}.png`;
      await put(name, await overlayPng(img.data, img.height, img.width, gt, p.masks));
      list.push({ ...w, overlay: name });
    }
    await writeJsonAtomic(path.join(dir, "worst", "worst.json"), list);
    written.push("worst/worst.json");
  }
  return written;
}
