/**
 * Image decoding and encoding with sharp (libvips).
 *
 * `decodeImage` follows OpenCV `imread(path, IMREAD_COLOR)` (what ultralytics reads with), in RGB order: always
 * 3 channels; grey replicated; alpha dropped without compositing; 16-bit samples reduced to their high byte
 * (libpng `png_set_strip_16`, as OpenCV does); EXIF orientation applied. Known difference: sharp converts images
 * with an embedded non-sRGB ICC profile (and CMYK JPEGs) to sRGB, OpenCV does not; JPEG decoders may differ by a
 * few grey levels. Every decoding failure becomes a `UserError` naming the file.
 */
import sharp from "sharp";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { Image8, RgbaImage, RgbImage } from "./types.ts";

/** Formats `decodeImage` accepts (sharp's names). */
export const DECODABLE_FORMATS = ["jpeg", "png", "webp", "tiff", "gif", "avif", "heif"];

interface Raw {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

async function readSource(source: string | Uint8Array, name: string): Promise<Uint8Array> {
  if (typeof source !== "string") return source;
  try {
    return await Deno.readFile(source);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new UserError(`cannot read image: ${why}`, name);
  }
}

/** Decode to raw interleaved uint8 samples (1-4 channels as stored), orientation applied, 16-bit -> high byte. */
async function decodeRaw(source: string | Uint8Array, name: string): Promise<Raw> {
  const bytes = await readSource(source, name);
  try {
    const meta = await sharp(bytes).metadata();
    if (!meta.format || !DECODABLE_FORMATS.includes(meta.format)) {
      throw new UserError(`unsupported image format '${meta.format ?? "unknown"}'`, name);
    }
    let pipe = sharp(bytes).rotate(); // EXIF orientation, like OpenCV imread without IMREAD_IGNORE_ORIENTATION
    const deep = meta.depth === "ushort";
    if (deep) {
      // keep the stored 16-bit samples (sharp's own 8-bit conversion goes through a colourspace transform)
      pipe = pipe.toColourspace((meta.channels ?? 3) <= 2 ? "grey16" : "rgb16").raw({ depth: "ushort" });
    } else {
      pipe = pipe.raw();
    }
    const { data, info } = await pipe.toBuffer({ resolveWithObject: true });
    const n = info.width * info.height * info.channels;
    let out: Uint8Array;
    if (deep) {
      const u16 = new Uint16Array(data.buffer, data.byteOffset, n);
      out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = u16[i] >> 8;
    } else {
      out = new Uint8Array(data.buffer, data.byteOffset, n);
    }
    return { data: out, height: info.height, width: info.width, channels: info.channels };
  } catch (e) {
    if (e instanceof UserError) throw e;
    const msg = ((e as Error).message ?? String(e)).split("\n")[0];
    throw new UserError(`cannot decode image: ${msg}`, name);
  }
}

function sourceName(source: string | Uint8Array, name?: string): string {
  return name ?? (typeof source === "string" ? source : "<image bytes>");
}

/** Decode a JPEG/PNG/WebP file (or bytes) to RGB, OpenCV imread(IMREAD_COLOR) semantics. `name` labels errors. */
export async function decodeImage(source: string | Uint8Array, name?: string): Promise<RgbImage> {
  const raw = await decodeRaw(source, sourceName(source, name));
  const { height, width, channels: cn, data } = raw;
  if (cn === 3) return { data, height, width, channels: 3 };
  const out = new Uint8Array(height * width * 3);
  for (let i = 0, p = 0; i < height * width; i++, p += cn) {
    if (cn <= 2) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[p];
    else {
      out[3 * i] = data[p];
      out[3 * i + 1] = data[p + 1];
      out[3 * i + 2] = data[p + 2];
    }
  }
  return { data: out, height, width, channels: 3 };
}

/** Decode to RGBA (alpha 255 where the file has none), for cut-outs. `name` labels errors. */
export async function decodeRgba(source: string | Uint8Array, name?: string): Promise<RgbaImage> {
  const raw = await decodeRaw(source, sourceName(source, name));
  const { height, width, channels: cn, data } = raw;
  if (cn === 4) return { data, height, width, channels: 4 };
  const out = new Uint8Array(height * width * 4);
  for (let i = 0, p = 0; i < height * width; i++, p += cn) {
    const grey = cn <= 2;
    out[4 * i] = data[p];
    out[4 * i + 1] = grey ? data[p] : data[p + 1];
    out[4 * i + 2] = grey ? data[p] : data[p + 2];
    out[4 * i + 3] = cn === 2 ? data[p + 1] : 255;
  }
  return { data: out, height, width, channels: 4 };
}

function toSharp(img: Image8) {
  if (![1, 2, 3, 4].includes(img.channels) || img.data.length !== img.height * img.width * img.channels) {
    throw new RangeError(`bad image buffer: ${img.height}x${img.width}x${img.channels}, ${img.data.length} bytes`);
  }
  const channels = img.channels as 1 | 2 | 3 | 4;
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels } });
}

/** Encode a uint8 HWC image (1-4 channels) as PNG bytes (lossless). */
export async function encodePng(img: Image8): Promise<Uint8Array> {
  return new Uint8Array(await toSharp(img).png().toBuffer());
}

/** Encode a uint8 HWC image (1 or 3 channels; alpha is dropped) as JPEG bytes; quality 1-100, default 95. */
export async function encodeJpeg(img: Image8, quality = 95): Promise<Uint8Array> {
  return new Uint8Array(await toSharp(img).removeAlpha().jpeg({ quality }).toBuffer());
}

/** Write `img` to `file` (format from the extension: .png, .jpg/.jpeg, .webp), atomically. */
export async function writeImage(file: string, img: Image8): Promise<void> {
  const ext = file.toLowerCase().split(".").pop();
  let bytes: Uint8Array;
  if (ext === "png") bytes = await encodePng(img);
  else if (ext === "jpg" || ext === "jpeg") bytes = await encodeJpeg(img);
  else if (ext === "webp") bytes = new Uint8Array(await toSharp(img).webp({ lossless: true }).toBuffer());
  else throw new UserError(`cannot write image: unknown extension '.${ext}' (use .png, .jpg or .webp)`, file);
  await writeFileAtomic(file, bytes);
}
