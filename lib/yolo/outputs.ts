/**
 * Writers of predict outputs: overlays (masks blended, boxes and labels drawn), per-instance RGBA cut-outs, binary
 * mask PNGs, YOLO-seg txt label lines (one normalised polygon per instance; several parts joined by zero-width
 * bridges as ultralytics' converter does) and COCO results records (compressed RLE). Pure functions of an image and
 * its `Prediction`; file layout is the CLI's business.
 */
import { cropRgba, decodeImage, drawInstances, encodeJpeg, encodePng, PALETTE } from "../image/mod.ts";
import { joinPolygons, maskToPolygons } from "../data/mask.ts";
import { encodeRle, rleToString } from "../data/rle.ts";
import type { Prediction, RgbImage } from "./predict.ts";

/** RGB colour of a class id, as ultralytics draws it (its 20-colour palette). */
export function classColor(cls: number): [number, number, number] {
  return PALETTE[((cls % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** Decode an image file to RGB (OpenCV imread semantics); `UserError` naming the file when unreadable. */
export function decodeImageFile(file: string): Promise<RgbImage> {
  return decodeImage(file);
}

/**
 * Overlay of one prediction: masks blended at alpha 0.5 in class colours, boxes and "name conf" labels.
 * Returns encoded bytes (PNG, or JPEG with `jpeg: true`).
 */
export async function renderOverlay(
  img: RgbImage,
  pred: Prediction,
  opts: { jpeg?: boolean; masks?: boolean; boxes?: boolean; labels?: boolean } = {},
): Promise<Uint8Array> {
  // draw low-confidence instances first so the best detection ends up on top
  const order = Array.from({ length: pred.n }, (_, i) => pred.n - 1 - i);
  const boxes = order.map((i) => pred.boxes.subarray(i * 4, i * 4 + 4));
  const labels = order.map((i) => `${pred.names[pred.cls[i]] ?? pred.cls[i]} ${pred.conf[i].toFixed(2)}`);
  const colors = order.map((i) => classColor(pred.cls[i]));
  const drawn = await drawInstances(
    img,
    (opts.masks ?? true) ? order.map((i) => pred.masks[i]) : [],
    (opts.boxes ?? true) ? boxes : undefined,
    (opts.labels ?? true) ? labels : undefined,
    colors,
  );
  return opts.jpeg ? encodeJpeg(drawn, 90) : encodePng(drawn);
}

/** RGBA cut-out of instance i: its box region, alpha = 255 inside the mask, 0 outside. Returns PNG bytes. */
export function cutout(img: RgbImage, pred: Prediction, i: number): Promise<Uint8Array> {
  return encodePng(cropRgba(img, pred.masks[i], pred.boxes.subarray(i * 4, i * 4 + 4)));
}

/** Binary mask as a greyscale PNG (0 / 255). */
export function maskPng(mask: Uint8Array, h: number, w: number): Promise<Uint8Array> {
  const g = new Uint8Array(h * w);
  for (let p = 0; p < g.length; p++) g[p] = mask[p] ? 255 : 0;
  return encodePng({ data: g, height: h, width: w, channels: 1 });
}

/** A number as Python's "%g" prints it (6 significant digits, no trailing zeros). */
function g6(v: number): string {
  if (v === 0) return "0";
  return String(Number(v.toPrecision(6)));
}

/**
 * YOLO-seg label text of a prediction: one line per instance, `cls x1 y1 x2 y2 ...` with the mask's outer contour
 * normalised to 0..1 (several parts joined into one polygon); `withConf` appends the score. Instances whose mask
 * is empty are written with their box as a 4-point polygon.
 */
export function yoloTxt(pred: Prediction, withConf = false): string {
  const [h, w] = pred.origHW;
  const lines: string[] = [];
  for (let i = 0; i < pred.n; i++) {
    const parts = pred.masks[i] ? maskToPolygons(pred.masks[i], h, w).filter((p) => p.length >= 6) : [];
    let poly: ArrayLike<number> = parts.length ? joinPolygons(parts) : [];
    if (poly.length < 6) {
      const [x1, y1, x2, y2] = pred.boxes.subarray(i * 4, i * 4 + 4);
      poly = [x1, y1, x2, y1, x2, y2, x1, y2];
    }
    const vals: string[] = [String(pred.cls[i])];
    for (let k = 0; k + 1 < poly.length; k += 2) vals.push(g6(poly[k] / w), g6(poly[k + 1] / h));
    if (withConf) vals.push(g6(pred.conf[i]));
    lines.push(vals.join(" "));
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** One COCO results record (detection + compressed-RLE segmentation). */
export interface CocoResult {
  image_id: number | string;
  category_id: number;
  bbox: [number, number, number, number];
  score: number;
  segmentation: { size: [number, number]; counts: string };
}

/** COCO results records of one image (ultralytics rounding: bbox 3 decimals xywh, score 5). */
export function cocoResults(pred: Prediction, imageId: number | string): CocoResult[] {
  const [h, w] = pred.origHW;
  const out: CocoResult[] = [];
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  for (let i = 0; i < pred.n; i++) {
    const [x1, y1, x2, y2] = pred.boxes.subarray(i * 4, i * 4 + 4);
    const rle = encodeRle(pred.masks[i] ?? new Uint8Array(h * w), h, w);
    out.push({
      image_id: imageId,
      category_id: pred.cls[i],
      bbox: [r3(x1), r3(y1), r3(x2 - x1), r3(y2 - y1)],
      score: Math.round(pred.conf[i] * 1e5) / 1e5,
      segmentation: { size: [h, w], counts: rleToString(rle) },
    });
  }
  return out;
}

/** COCO image id of a file stem, as ultralytics: the number when the stem is numeric, else the stem. */
export function imageIdOf(stem: string): number | string {
  return /^\d+$/.test(stem) ? Number(stem) : stem;
}
