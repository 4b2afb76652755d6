/**
 * Small image helpers for the data room (sharp): decode to raw RGBA / RGB / grey, encode PNG / JPEG. Kept private to
 * `lib/data` so dataset code does not depend on model-side image code.
 */
import sharp from "sharp";
import { UserError } from "../util/errors.ts";

/** A decoded image: interleaved 8-bit pixels `[h*w*channels]`. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Decode a file (or bytes) to RGBA; `hasAlpha` tells whether the source had an alpha channel. */
export async function decodeRgbaFile(src: string | Uint8Array): Promise<RawImage & { hasAlpha: boolean }> {
  const name = typeof src === "string" ? src : "<bytes>";
  try {
    const img = sharp(src);
    const meta = await img.metadata();
    const { data, info } = await img.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: 4,
      hasAlpha: !!meta.hasAlpha,
    };
  } catch (e) {
    throw new UserError(`unreadable image (${(e as Error).message.split("\n")[0]})`, name);
  }
}

/** Decode a file to `channels` (1 grey or 3 RGB) 8-bit channels. */
export async function decodeFile(src: string | Uint8Array, channels: 1 | 3): Promise<RawImage> {
  const name = typeof src === "string" ? src : "<bytes>";
  try {
    let img = sharp(src).removeAlpha();
    img = channels === 1 ? img.toColourspace("b-w") : img.toColourspace("srgb");
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`got ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels,
    };
  } catch (e) {
    throw new UserError(`unreadable image (${(e as Error).message.split("\n")[0]})`, name);
  }
}

/** Encode raw pixels as PNG bytes (deterministic: no timestamps). */
export async function encodePngRaw(img: RawImage): Promise<Uint8Array> {
  const buf = await sharp(img.data, {
    raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 | 4 },
  })
    .png({ compressionLevel: 6 }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Encode raw RGB pixels as JPEG bytes (quality 0-100). */
export async function encodeJpegRaw(img: RawImage, quality = 90): Promise<Uint8Array> {
  const buf = await sharp(img.data, {
    raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 | 4 },
  })
    .jpeg({ quality }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
