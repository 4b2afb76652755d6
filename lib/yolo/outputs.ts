/**
 * Writers of predict outputs: overlays (masks blended, boxes and labels drawn), per-instance RGBA cut-outs, binary
 * mask PNGs, YOLO-seg txt label lines (one normalised polygon per instance; several parts joined by zero-width
 * bridges as ultralytics' converter does) and COCO results records (compressed RLE). Pure functions of an image and
 * its `Prediction`; file layout is the CLI's business.
 */
import sharp from "sharp";
import { Buffer } from "node:buffer";
import { joinPolygons, maskToPolygons } from "../data/mask.ts";
import { encodeRle, rleToString } from "../data/rle.ts";
import type { Prediction, RgbImage } from "./predict.ts";
import { UserError } from "../util/errors.ts";

/** ultralytics' default palette (`utils/plotting.Colors`). */
const PALETTE = [
  "FF3838",
  "FF9D97",
  "FF701F",
  "FFB21D",
  "CFD231",
  "48F90A",
  "92CC17",
  "3DDB86",
  "1A9334",
  "00D4BB",
  "2C99A8",
  "00C2FF",
  "344593",
  "6473FF",
  "0018EC",
  "8438FF",
  "520085",
  "CB38FF",
  "FF95C8",
  "FF37C7",
];

/** RGB colour of a class id, as ultralytics draws it. */
export function classColor(cls: number): [number, number, number] {
  const h = PALETTE[((cls % PALETTE.length) + PALETTE.length) % PALETTE.length];
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

/**
 * Decode an image file to RGB HWC uint8 as OpenCV `imread(IMREAD_COLOR)` does (EXIF orientation applied, grey
 * replicated to 3 channels, alpha dropped without compositing). Throws `UserError` naming the file when unreadable.
 */
export async function decodeImageFile(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file).rotate().toColourspace("srgb").removeAlpha().raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      height: info.height,
      width: info.width,
    };
  } catch (e) {
    throw new UserError(`cannot decode image (${(e as Error).message.split("\n")[0]})`, file);
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Encode RGB/RGBA/grey raw pixels as PNG (or JPEG with `jpeg: true`). */
export async function encodeRaw(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  opts: { jpeg?: boolean } = {},
): Promise<Uint8Array> {
  const s = sharp(data, { raw: { width, height, channels } });
  const buf = opts.jpeg ? await s.jpeg({ quality: 90 }).toBuffer() : await s.png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
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
  const { width: w, height: h } = img;
  const out = new Uint8Array(img.data);
  if (opts.masks ?? true) {
    // draw low-confidence first so the best detection ends up on top
    for (let i = pred.n - 1; i >= 0; i--) {
      const m = pred.masks[i];
      if (!m) continue;
      const [r, g, b] = classColor(pred.cls[i]);
      for (let p = 0; p < w * h; p++) {
        if (!m[p]) continue;
        const o = p * 3;
        out[o] = (out[o] + r) >> 1, out[o + 1] = (out[o + 1] + g) >> 1, out[o + 2] = (out[o + 2] + b) >> 1;
      }
    }
  }
  const lw = Math.max(Math.round((w + h) / 2 * 0.003), 2);
  const fs = Math.max(10, Math.round(lw * 5.5));
  const parts: string[] = [];
  if (opts.boxes ?? true) {
    for (let i = 0; i < pred.n; i++) {
      const [x1, y1, x2, y2] = pred.boxes.subarray(i * 4, i * 4 + 4);
      const hex = `#${PALETTE[pred.cls[i] % PALETTE.length]}`;
      parts.push(
        `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${
          (y2 - y1).toFixed(1)
        }" fill="none" stroke="${hex}" stroke-width="${lw}"/>`,
      );
      if (opts.labels ?? true) {
        const label = `${pred.names[pred.cls[i]] ?? pred.cls[i]} ${pred.conf[i].toFixed(2)}`;
        const tw = Math.ceil(label.length * fs * 0.6) + 4;
        const ty = y1 - fs - 3 >= 0 ? y1 - fs - 3 : y1;
        parts.push(`<rect x="${x1.toFixed(1)}" y="${ty.toFixed(1)}" width="${tw}" height="${fs + 3}" fill="${hex}"/>`);
        parts.push(
          `<text x="${(x1 + 2).toFixed(1)}" y="${(ty + fs).toFixed(1)}" font-family="sans-serif" font-size="${fs}" ` +
            `fill="white">${escapeXml(label)}</text>`,
        );
      }
    }
  }
  let s = sharp(out, { raw: { width: w, height: h, channels: 3 } });
  if (parts.length) {
    const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">${parts.join("")}</svg>`;
    s = s.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  }
  const buf = opts.jpeg ? await s.jpeg({ quality: 90 }).toBuffer() : await s.png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Integer pixel bounds [x0, y0, x1, y1) of a float xyxy box inside a w×h image (at least 1 px). */
export function boxPixels(box: ArrayLike<number>, w: number, h: number): [number, number, number, number] {
  const x0 = Math.min(Math.max(Math.floor(box[0]), 0), w - 1), y0 = Math.min(Math.max(Math.floor(box[1]), 0), h - 1);
  const x1 = Math.max(Math.min(Math.ceil(box[2]), w), x0 + 1), y1 = Math.max(Math.min(Math.ceil(box[3]), h), y0 + 1);
  return [x0, y0, x1, y1];
}

/** RGBA cut-out of instance i: the box region, alpha = 255 inside the mask, 0 outside. Returns PNG bytes. */
export function cutout(img: RgbImage, pred: Prediction, i: number): Promise<Uint8Array> {
  const { width: w, height: h } = img;
  const [x0, y0, x1, y1] = boxPixels(pred.boxes.subarray(i * 4, i * 4 + 4), w, h);
  const cw = x1 - x0, ch = y1 - y0;
  const out = new Uint8Array(cw * ch * 4);
  const m = pred.masks[i];
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const p = (y + y0) * w + x + x0, o = (y * cw + x) * 4;
      out[o] = img.data[p * 3], out[o + 1] = img.data[p * 3 + 1], out[o + 2] = img.data[p * 3 + 2];
      out[o + 3] = m && m[p] ? 255 : 0;
    }
  }
  return encodeRaw(out, cw, ch, 4);
}

/** Binary mask as a greyscale PNG (0 / 255). */
export function maskPng(mask: Uint8Array, h: number, w: number): Promise<Uint8Array> {
  const g = new Uint8Array(h * w);
  for (let p = 0; p < g.length; p++) g[p] = mask[p] ? 255 : 0;
  return encodeRaw(g, w, h, 1);
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
