/**
 * ultralytics 8.2 `YOLODataset` for segmentation without augmentation (what validation uses, and what the trainer's
 * augmentation builds on): `loadImage` (long side to imgsz), rectangular batches (images sorted by aspect ratio,
 * batch shapes ceil(shape·imgsz/stride + pad)·stride), `LetterBox(scaleup=False)` to the batch shape, labels moved
 * into the letterboxed frame, and the loss masks (`overlap_mask`: one index map per image at 1/mask_ratio, instances
 * re-ordered by decreasing mask area).
 */
import sharp from "sharp";
import { readYoloDataset } from "../data/yolo.ts";
import { rasterizePolygons } from "../data/mask.ts";
import { argsortQuick } from "../metrics/npsort.ts";
import { UserError } from "../util/errors.ts";
import { applyLetterbox, decodeImageFile, letterboxGeometry, resizeLinearU8, type RgbImage } from "./image.ts";
import { resizeLinear } from "../image/mod.ts";
import { type ImageLabels, labelsFromItem } from "./labels.ts";

const f32 = Math.fround;

/** Options of `YoloSegDataset.open` (ultralytics names in camelCase; defaults are the validator's). */
export interface DatasetOptions {
  /** long side of the loaded image, and the square letterbox size when not rect (default 640) */
  imgsz?: number;
  /** batch size, used for rect batch shapes (default 16) */
  batch?: number;
  /** rectangular batches sorted by aspect ratio (default true: validation) */
  rect?: boolean;
  /** model stride (default 32) */
  stride?: number;
  /** rect padding in strides (default 0.5 for val, ultralytics uses 0.0 for train) */
  pad?: number;
  /** loss-mask downsampling (default 4) */
  maskRatio?: number;
  /** one index map per image (default true) instead of one mask per instance */
  overlapMask?: boolean;
  /** augmenting: affects only the resize interpolation of `loadImage` in older ultralytics; kept for the trainer */
  augment?: boolean;
  /** polygon resampling points (default 1000) */
  resample?: number;
  /** use only the first `limit` images of the split (file order, before rect sorting); 0 = all */
  limit?: number;
}

/** An image loaded as ultralytics `load_image`: long side resized to imgsz (aspect kept). */
export interface LoadedImage {
  img: RgbImage;
  /** original [h0, w0] */
  oriHW: [number, number];
  /** after resize [h, w] */
  resizedHW: [number, number];
}

/**
 * One letterboxed sample with labels in its frame. n instances, ordered as the loss sees them (by decreasing mask
 * area when masks are built with overlap).
 */
export interface Sample {
  imageFile: string;
  /** letterboxed image [H, W] RGB uint8 */
  img: RgbImage;
  oriHW: [number, number];
  resizedHW: [number, number];
  /** ultralytics ratio_pad: [[h/h0, w/w0], [left, top]] */
  ratioPad: [[number, number], [number, number]];
  /** [n] class ids */
  cls: Int32Array;
  /** [n*4] xywh normalised to the letterboxed image (float32) */
  bboxes: Float32Array;
  /** n resampled polygons in letterboxed pixels (flat xy, float32) */
  segments: Float32Array[];
  /** n original polygons normalised to the original image */
  polygons: Float32Array[];
  /** overlap: [H/r * W/r] index map (0 = background, k = instance k-1); else [n * H/r * W/r] 0/1 masks */
  masks: Uint16Array | Uint8Array;
  maskHW: [number, number];
}

/** ultralytics `set_rectangle`: order of images by aspect ratio h/w, batch index per position, batch shapes [H, W]. */
export function rectBatches(
  shapesHW: [number, number][],
  batch: number,
  imgsz: number,
  stride = 32,
  pad = 0.5,
): { order: number[]; batchIndex: number[]; batchShapes: [number, number][] } {
  const n = shapesHW.length;
  const ar = Float64Array.from(shapesHW, ([h, w]) => h / w);
  const order = Array.from(argsortQuick(ar));
  const batchIndex = Array.from({ length: n }, (_, i) => Math.floor(i / batch));
  const nb = n ? batchIndex[n - 1] + 1 : 0;
  const batchShapes: [number, number][] = [];
  for (let b = 0; b < nb; b++) {
    let mini = Infinity, maxi = -Infinity;
    for (let i = b * batch; i < Math.min(n, (b + 1) * batch); i++) {
      mini = Math.min(mini, ar[order[i]]);
      maxi = Math.max(maxi, ar[order[i]]);
    }
    let s: [number, number] = [1, 1];
    if (maxi < 1) s = [maxi, 1];
    else if (mini > 1) s = [1, 1 / mini];
    batchShapes.push(s.map((v) => Math.trunc(Math.ceil((v * imgsz) / stride + pad)) * stride) as [number, number]);
  }
  return { order, batchIndex, batchShapes };
}

/** ultralytics `load_image`: decode, then resize the long side to imgsz (w = min(ceil(w0·r), imgsz)), INTER_LINEAR. */
export async function loadImage(file: string, imgsz: number): Promise<LoadedImage> {
  const im = await decodeImageFile(file);
  const h0 = im.height, w0 = im.width;
  const r = imgsz / Math.max(h0, w0);
  if (r === 1) return { img: im, oriHW: [h0, w0], resizedHW: [h0, w0] };
  const w = Math.min(Math.ceil(w0 * r), imgsz), h = Math.min(Math.ceil(h0 * r), imgsz);
  return { img: resizeLinear({ ...im, channels: 3 as const }, h, w), oriHW: [h0, w0], resizedHW: [h, w] };
}

/** Image size [h, w] from the header (EXIF orientation applied), as ultralytics' `exif_size`. */
async function imageShape(file: string): Promise<[number, number]> {
  try {
    const m = await sharp(file).metadata();
    if (!m.width || !m.height) throw new Error("no size");
    return (m.orientation ?? 1) >= 5 ? [m.width, m.height] : [m.height, m.width];
  } catch (e) {
    throw new UserError(`cannot read image header (${(e as Error).message.split("\n")[0]})`, file);
  }
}

/**
 * ultralytics `polygons2masks_overlap`: each polygon (letterboxed pixels) filled at [H, W] like cv2.fillPoly,
 * resized to [H/r, W/r] with INTER_LINEAR; instances by decreasing area; index map where smaller instances win.
 * Returns the map and the order (sorted position → input index).
 */
export function overlapMasks(
  segments: Float32Array[],
  H: number,
  W: number,
  ratio = 4,
): { masks: Uint16Array; order: number[]; hw: [number, number] } {
  const mh = Math.floor(H / ratio), mw = Math.floor(W / ratio);
  const small = segments.map((s) => downsampledPolygonMask(s, H, W, mh, mw));
  const areas = Float64Array.from(small, (m) => -m.reduce((a, v) => a + v, 0));
  const order = Array.from(argsortQuick(areas));
  const masks = new Uint16Array(mh * mw);
  order.forEach((src, k) => {
    const m = small[src];
    for (let i = 0; i < m.length; i++) if (m[i]) masks[i] = k + 1;
  });
  return { masks, order, hw: [mh, mw] };
}

/** ultralytics `polygon2mask` of one polygon: fillPoly at [H, W], then cv2.resize to [mh, mw] (INTER_LINEAR). */
export function downsampledPolygonMask(seg: Float32Array, H: number, W: number, mh: number, mw: number): Uint8Array {
  const full = rasterizePolygons([seg], H, W, 1);
  return mh === H && mw === W ? full : resizeLinearU8(full, H, W, 1, mh, mw);
}

/** A YOLO segmentation split, ordered as ultralytics' val dataloader iterates it. */
export class YoloSegDataset {
  private constructor(
    readonly yamlFile: string,
    readonly names: string[],
    /** labels per image, in iteration order */
    readonly labels: ImageLabels[],
    /** original [h, w] per image, in iteration order */
    readonly shapes: [number, number][],
    readonly opts: Required<DatasetOptions>,
    /** batch index per image (rect) */
    readonly batchIndex: number[],
    /** letterbox target [H, W] per batch (rect), else empty */
    readonly batchShapes: [number, number][],
    /** images whose label file is missing */
    readonly missingLabels: number,
  ) {}

  /** Read a split of a dataset YAML: labels (duplicates dropped), image sizes, rect order. */
  static async open(
    yamlFile: string,
    split: "train" | "val" | "test",
    opts: DatasetOptions = {},
  ): Promise<YoloSegDataset> {
    const o: Required<DatasetOptions> = {
      imgsz: opts.imgsz ?? 640,
      batch: opts.batch ?? 16,
      rect: opts.rect ?? true,
      stride: opts.stride ?? 32,
      pad: opts.pad ?? 0.5,
      maskRatio: opts.maskRatio ?? 4,
      overlapMask: opts.overlapMask ?? true,
      augment: opts.augment ?? false,
      resample: opts.resample ?? 1000,
      limit: opts.limit ?? 0,
    };
    const ds = readYoloDataset(yamlFile, split);
    if (o.limit > 0) ds.items = ds.items.slice(0, o.limit);
    if (ds.items.length === 0) throw new UserError(`no images in split '${split}'`, yamlFile);
    let labels = ds.items.map((it) => labelsFromItem(it, o.resample));
    let shapes = await Promise.all(ds.items.map((it) => imageShape(it.imageFile)));
    let batchIndex = labels.map((_, i) => Math.floor(i / o.batch)), batchShapes: [number, number][] = [];
    if (o.rect) {
      const r = rectBatches(shapes, o.batch, o.imgsz, o.stride, o.pad);
      labels = r.order.map((i) => labels[i]);
      shapes = r.order.map((i) => shapes[i]);
      batchIndex = r.batchIndex;
      batchShapes = r.batchShapes;
    }
    return new YoloSegDataset(yamlFile, ds.names, labels, shapes, o, batchIndex, batchShapes, ds.missingLabels);
  }

  /** Number of images. */
  get length(): number {
    return this.labels.length;
  }

  /** Number of label instances after duplicate removal. */
  get instanceCount(): number {
    return this.labels.reduce((a, l) => a + l.cls.length, 0);
  }

  /** Letterbox target [H, W] of image i. */
  targetShape(i: number): [number, number] {
    return this.opts.rect ? this.batchShapes[this.batchIndex[i]] : [this.opts.imgsz, this.opts.imgsz];
  }

  /** Image i, letterboxed, with its labels and loss masks in the letterboxed frame. */
  async getItem(i: number): Promise<Sample> {
    const lab = this.labels[i];
    const li = await loadImage(lab.imageFile, this.opts.imgsz);
    const [h, w] = li.resizedHW;
    const g = letterboxGeometry(h, w, this.targetShape(i), false);
    const img = applyLetterbox(li.img, g);
    const H = img.height, W = img.width;
    const r = f32(g.ratio), dw = f32(g.dw), dh = f32(g.dh);
    const n = lab.cls.length;
    // Instances: denormalize by the resized size, scale by r, add (dw, dh); then Format normalises by (W, H)
    const boxes = new Float32Array(n * 4);
    for (let k = 0; k < n; k++) {
      const [cx, cy, bw, bh] = lab.bboxes.subarray(k * 4, k * 4 + 4);
      const x1 = f32(f32(f32(f32(cx - f32(bw / 2)) * w) * r) + dw),
        y1 = f32(f32(f32(f32(cy - f32(bh / 2)) * h) * r) + dh);
      const x2 = f32(f32(f32(f32(cx + f32(bw / 2)) * w) * r) + dw),
        y2 = f32(f32(f32(f32(cy + f32(bh / 2)) * h) * r) + dh);
      boxes.set([
        f32(f32(f32(x1 + x2) / 2) / W),
        f32(f32(f32(y1 + y2) / 2) / H),
        f32(f32(x2 - x1) / W),
        f32(f32(y2 - y1) / H),
      ], k * 4);
    }
    const segs = lab.segments.map((s) => {
      const out = new Float32Array(s.length);
      for (let j = 0; j < s.length; j += 2) {
        out[j] = f32(f32(f32(s[j] * w) * r) + dw);
        out[j + 1] = f32(f32(f32(s[j + 1] * h) * r) + dh);
      }
      return out;
    });
    let order = Array.from({ length: n }, (_, k) => k);
    let masks: Uint16Array | Uint8Array;
    const mh = Math.floor(H / this.opts.maskRatio), mw = Math.floor(W / this.opts.maskRatio);
    if (this.opts.overlapMask) {
      if (n) {
        const om = overlapMasks(segs, H, W, this.opts.maskRatio);
        masks = om.masks;
        order = om.order;
      } else masks = new Uint16Array(mh * mw);
    } else {
      masks = new Uint8Array(n * mh * mw);
      segs.forEach((s, k) => masks.set(downsampledPolygonMask(s, H, W, mh, mw), k * mh * mw));
    }
    const cls = Int32Array.from(order, (k) => lab.cls[k]);
    const bboxes = new Float32Array(n * 4);
    order.forEach((k, j) => bboxes.set(boxes.subarray(k * 4, k * 4 + 4), j * 4));
    return {
      imageFile: lab.imageFile,
      img,
      oriHW: li.oriHW,
      resizedHW: li.resizedHW,
      ratioPad: [[h / li.oriHW[0], w / li.oriHW[1]], [g.left, g.top]],
      cls,
      bboxes,
      segments: order.map((k) => segs[k]),
      polygons: order.map((k) => lab.polygons[k]),
      masks,
      maskHW: [mh, mw],
    };
  }

  /** Image indices of each batch, in order (batches of `batch` consecutive images). */
  batches(): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < this.length; i += this.opts.batch) {
      out.push(Array.from({ length: Math.min(this.opts.batch, this.length - i) }, (_, k) => i + k));
    }
    return out;
  }
}
