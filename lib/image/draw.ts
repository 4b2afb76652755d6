/**
 * Preview drawing: instance masks blended over an image, box outlines, labels (text via a sharp SVG composite),
 * and RGBA cut-outs of one instance.
 */
import sharp from "sharp";
import { Buffer } from "node:buffer";
import type { Image8, RgbaImage, RgbImage } from "./types.ts";

/** ultralytics' 20-colour palette (RGB), used in order of instance index. */
export const PALETTE: [number, number, number][] = [
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
].map((h) => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)]);

/** Options of `drawInstances`. */
export interface DrawOptions {
  /** mask opacity, 0..1; default 0.5 */
  alpha?: number;
  /** box line width in pixels; default max(2, round((h + w) / 2 * 0.003)) */
  lineWidth?: number;
  /** label font size in pixels; default max(10, 2.5 * lineWidth + 6) */
  fontSize?: number;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/**
 * Draw instances over an RGB image: masks (each H×W, nonzero = inside) blended with their colour, optional boxes
 * (xyxy pixels) and labels at the box's top-left. Colours default to PALETTE by index. Returns a new image.
 */
export async function drawInstances(
  img: RgbImage,
  masks: Uint8Array[],
  boxes?: ArrayLike<number>[],
  labels?: string[],
  colors?: [number, number, number][],
  opts: DrawOptions = {},
): Promise<RgbImage> {
  const { height: h, width: w } = img;
  const data = img.data.slice();
  const alpha = opts.alpha ?? 0.5;
  const color = (i: number) => colors?.[i % colors.length] ?? PALETTE[i % PALETTE.length];
  masks.forEach((m, i) => {
    if (m.length !== h * w) throw new RangeError(`mask ${i} has ${m.length} pixels, image has ${h * w}`);
    const c = color(i);
    for (let p = 0; p < h * w; p++) {
      if (!m[p]) continue;
      for (let k = 0; k < 3; k++) data[3 * p + k] = Math.round(data[3 * p + k] * (1 - alpha) + c[k] * alpha);
    }
  });
  const lw = opts.lineWidth ?? Math.max(2, Math.round(((h + w) / 2) * 0.003));
  const n = Math.max(boxes?.length ?? 0, 0);
  for (let i = 0; i < n; i++) {
    const b = boxes![i], c = color(i);
    const x1 = Math.max(0, Math.round(b[0])), y1 = Math.max(0, Math.round(b[1]));
    const x2 = Math.min(w - 1, Math.round(b[2]) - 1), y2 = Math.min(h - 1, Math.round(b[3]) - 1);
    for (let y = y1; y <= y2; y++) {
      for (let x = x1; x <= x2; x++) {
        if (y - y1 >= lw && y2 - y >= lw && x - x1 >= lw && x2 - x >= lw) continue;
        data[3 * (y * w + x)] = c[0];
        data[3 * (y * w + x) + 1] = c[1];
        data[3 * (y * w + x) + 2] = c[2];
      }
    }
  }
  const out: RgbImage = { data, height: h, width: w, channels: 3 };
  if (!labels?.length || !boxes?.length) return out;
  const fs = opts.fontSize ?? Math.max(10, Math.round(2.5 * lw + 6));
  const parts: string[] = [];
  labels.forEach((text, i) => {
    const b = boxes[i];
    if (!b || !text) return;
    const [r, g, bl] = color(i);
    const tw = Math.ceil(text.length * fs * 0.6) + 4, th = fs + 4;
    const x = Math.min(Math.max(0, Math.round(b[0])), Math.max(0, w - tw));
    const y = Math.round(b[1]) - th >= 0 ? Math.round(b[1]) - th : Math.max(0, Math.round(b[1]));
    parts.push(
      `<rect x="${x}" y="${y}" width="${tw}" height="${th}" fill="rgb(${r},${g},${bl})"/>` +
        `<text x="${x + 2}" y="${y + fs}" font-family="sans-serif" font-size="${fs}" fill="white">` +
        `${escapeXml(text)}</text>`,
    );
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${parts.join("")}</svg>`;
  const raw = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  return { data: new Uint8Array(raw.buffer, raw.byteOffset, h * w * 3), height: h, width: w, channels: 3 };
}

/**
 * Cut one instance out as RGBA: pixels of `img` (3 or 4 channels) inside `box` (xyxy pixels; default: the mask's
 * bounding box), alpha = 255 where `mask` (H×W, nonzero = inside) is set (times the image's own alpha), else 0.
 * Throws RangeError for an empty mask without a box.
 */
export function cropRgba(img: Image8, mask: Uint8Array, box?: ArrayLike<number>): RgbaImage {
  const { height: h, width: w, channels: cn } = img;
  if (mask.length !== h * w) throw new RangeError(`mask has ${mask.length} pixels, image has ${h * w}`);
  let x1: number, y1: number, x2: number, y2: number;
  if (box) {
    x1 = Math.max(0, Math.floor(box[0])), y1 = Math.max(0, Math.floor(box[1]));
    x2 = Math.min(w, Math.ceil(box[2])), y2 = Math.min(h, Math.ceil(box[3]));
  } else {
    x1 = w, y1 = h, x2 = 0, y2 = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!mask[y * w + x]) continue;
        if (x < x1) x1 = x;
        if (x >= x2) x2 = x + 1;
        if (y < y1) y1 = y;
        if (y >= y2) y2 = y + 1;
      }
    }
    if (x2 <= x1) throw new RangeError("cropRgba: empty mask");
  }
  const cw = Math.max(0, x2 - x1), ch = Math.max(0, y2 - y1);
  const out = new Uint8Array(cw * ch * 4);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const p = (y + y1) * w + (x + x1), o = 4 * (y * cw + x);
      const g = cn <= 2;
      out[o] = img.data[p * cn];
      out[o + 1] = g ? img.data[p * cn] : img.data[p * cn + 1];
      out[o + 2] = g ? img.data[p * cn] : img.data[p * cn + 2];
      const a0 = cn === 4 ? img.data[p * cn + 3] : cn === 2 ? img.data[p * cn + 1] : 255;
      out[o + 3] = mask[p] ? a0 : 0;
    }
  }
  return { data: out, height: ch, width: cw, channels: 4 };
}
