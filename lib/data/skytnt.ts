/**
 * SkyTNT anime-segmentation layout: `fg/*.png` RGBA character cut-outs, `bg/*.jpg` backgrounds, `imgs/*` real images
 * with `masks/*` grey masks of the same name (thresholded at 127). Listing, loading and validation.
 */
import * as path from "node:path";
import { UserError } from "../util/errors.ts";
import { decodeFile, decodeRgbaFile, type RawImage } from "./image_io.ts";

const IMG = /\.(png|jpe?g|webp|bmp|tiff?)$/i;

/** Files of a SkyTNT-layout folder (absolute paths, sorted). `pairs` are `imgs/` files with their `masks/` file. */
export interface SkytntLayout {
  root: string;
  fg: string[];
  bg: string[];
  pairs: { image: string; mask: string }[];
}

function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile && IMG.test(e.name)).map((e) => path.join(dir, e.name))
      .sort();
  } catch {
    return [];
  }
}

/** List a SkyTNT-layout folder. Throws when it has neither `fg/`+`bg/` nor `imgs/`. A mask-less image is an error. */
export function readSkytnt(root: string): SkytntLayout {
  const fg = list(path.join(root, "fg")), bg = list(path.join(root, "bg"));
  const imgs = list(path.join(root, "imgs"));
  if ((fg.length === 0 || bg.length === 0) && imgs.length === 0) {
    throw new UserError("not a SkyTNT layout folder (needs fg/ and bg/ images, or imgs/ + masks/)", root);
  }
  const masks = new Map(list(path.join(root, "masks")).map((m) => [path.parse(m).name, m]));
  const pairs = imgs.map((image) => {
    const mask = masks.get(path.parse(image).name);
    if (!mask) throw new UserError("image has no mask of the same name in masks/", image);
    return { image, mask };
  });
  return { root, fg, bg, pairs };
}

/** Load a foreground cut-out as RGBA `[h*w*4]`. A file without alpha (or fully opaque) is an error. */
export async function loadForeground(file: string): Promise<RawImage> {
  const img = await decodeRgbaFile(file);
  if (!img.hasAlpha) throw new UserError("foreground has no alpha channel", file);
  let transparent = 0;
  for (let i = 3; i < img.data.length; i += 4) if (img.data[i] < 128) transparent++;
  if (transparent === 0) throw new UserError("foreground alpha is fully opaque (no cut-out)", file);
  return { data: img.data, width: img.width, height: img.height, channels: 4 };
}

/** Load a background as RGB `[h*w*3]`. */
export function loadBackground(file: string): Promise<RawImage> {
  return decodeFile(file, 3);
}

/** Load a real image (RGB) and its mask thresholded at 127 (> 127 = 1) `[h*w]`; sizes must match. */
export async function loadPair(pair: { image: string; mask: string }): Promise<{ image: RawImage; mask: Uint8Array }> {
  const image = await decodeFile(pair.image, 3);
  const m = await decodeFile(pair.mask, 1);
  if (m.width !== image.width || m.height !== image.height) {
    throw new UserError(
      `mask size ${m.width}x${m.height} differs from its image ${image.width}x${image.height}`,
      pair.mask,
    );
  }
  const mask = new Uint8Array(m.width * m.height);
  for (let i = 0; i < mask.length; i++) mask[i] = m.data[i] > 127 ? 1 : 0;
  return { image, mask };
}
