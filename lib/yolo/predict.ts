/**
 * The YOLOv8-seg predict pipeline as ultralytics' `SegmentationPredictor`: letterbox (minimum rectangle when every
 * image of a batch has the same shape, else square), /255, forward, NMS, masks (process_mask + scale to the
 * original image, or process_mask_native with retinaMasks), boxes scaled to original pixels. The model is any
 * object with the `SegModel` shape (the tfjs `YoloSegModel`); everything after the forward is plain typed arrays.
 */
import { tf } from "../backend/mod.ts";
import { letterbox, type RgbImage } from "../image/mod.ts";
import {
  type Detections,
  nonMaxSuppression,
  processMask,
  processMaskNative,
  type Proto,
  scaleBinaryMasks,
  scaleBoxes,
} from "./postprocess.ts";

export type { RgbImage };

/** What predict needs from a model (`YoloSegModel` satisfies it). */
export interface SegModel {
  nc: number;
  names: Record<number, string> | string[];
  /** x [B, H, W, 3] in 0..1 → pred [B, A, 4+nc+nm] (xywh input pixels, scores, coefs), proto [B, H/4, W/4, nm] */
  forward(x: tf.Tensor4D, opts: { train: false }): { pred: tf.Tensor3D; proto: tf.Tensor4D };
}

/** An inference engine that works on typed arrays (the ONNX runtime engine): same outputs as `runForwardArrays`. */
export interface ArraySegModel {
  nc: number;
  names: Record<number, string> | string[];
  runArrays(input: Float32Array, B: number, H: number, W: number): Promise<ForwardArrays>;
}

/** Options of `predict` (ultralytics names in camelCase). */
export interface PredictOptions {
  /** input size: one number (square) or [H, W]; rounded up to a multiple of 32 (default 640) */
  imgsz?: number | [number, number];
  conf?: number;
  iou?: number;
  maxDet?: number;
  classes?: number[] | null;
  agnostic?: boolean;
  /** masks from the full-resolution logits (process_mask_native) */
  retinaMasks?: boolean;
  /** images per forward pass (default 1) */
  batch?: number;
}

/** Result of one image, in original-image pixels. */
export interface Prediction {
  /** number of detections */
  n: number;
  /** [n, 4] xyxy original pixels */
  boxes: Float32Array;
  /** [n] scores */
  conf: Float32Array;
  /** [n] class ids */
  cls: Int32Array;
  /** n masks, each [h * w] 0/1 at the original resolution */
  masks: Uint8Array[];
  /** class names by id */
  names: Record<number, string>;
  /** original [h, w] */
  origHW: [number, number];
  /** network input [H, W] */
  inputHW: [number, number];
  /** time per stage for this image's batch, ms, divided by the batch size */
  speed: { preprocess: number; inference: number; postprocess: number };
}

/** Round the requested size up to a multiple of the stride, as ultralytics `check_imgsz`. */
export function checkImgsz(imgsz: number | [number, number], stride = 32): [number, number] {
  const [h, w] = typeof imgsz === "number" ? [imgsz, imgsz] : imgsz;
  return [Math.max(stride, Math.ceil(h / stride) * stride), Math.max(stride, Math.ceil(w / stride) * stride)];
}

/** Raw forward output as typed arrays: pred [B, A, C] anchor-major and per-image HWC prototypes. */
export interface ForwardArrays {
  pred: Float32Array;
  A: number;
  C: number;
  protos: Proto[];
}

/** Run the model on an HWC float batch [B, H, W, 3] (0..1) and read the outputs; disposes every tensor it makes. */
export async function runForwardArrays(
  model: SegModel | ArraySegModel,
  input: Float32Array,
  B: number,
  H: number,
  W: number,
): Promise<ForwardArrays> {
  if ("runArrays" in model) return await model.runArrays(input, B, H, W);
  const x = tf.tensor4d(input, [B, H, W, 3]);
  let out: Record<string, unknown> | null = null;
  try {
    out = model.forward(x, { train: false }) as unknown as Record<string, unknown>;
    const pred = out.pred as tf.Tensor3D, proto = out.proto as tf.Tensor4D;
    const [, A, C] = pred.shape;
    const [, mh, mw, nm] = proto.shape;
    const pd = (await pred.data()) as Float32Array;
    const pr = (await proto.data()) as Float32Array;
    const protos: Proto[] = [];
    const per = mh * mw * nm;
    for (let b = 0; b < B; b++) protos.push({ data: pr.subarray(b * per, (b + 1) * per), h: mh, w: mw, c: nm });
    return { pred: pd, A, C, protos };
  } finally {
    x.dispose();
    if (out) disposeAll(out);
  }
}

/** Dispose every tensor found in an output object (tensors, arrays of tensors). */
function disposeAll(o: Record<string, unknown>): void {
  for (const v of Object.values(o)) {
    if (v instanceof tf.Tensor) v.dispose();
    else if (Array.isArray(v)) { for (const t of v) if (t instanceof tf.Tensor) t.dispose(); }
  }
}

function namesRecord(names: SegModel["names"], nc: number): Record<number, string> {
  const out: Record<number, string> = {};
  for (let i = 0; i < nc; i++) out[i] = (names as Record<number, string>)[i] ?? String(i);
  return out;
}

/** Masks and boxes of one image from its detections (input frame) → original frame. */
export function finishImage(
  det: Detections,
  proto: Proto,
  inputHW: [number, number],
  origHW: [number, number],
  retinaMasks: boolean,
): { boxes: Float32Array; masks: Uint8Array[] } {
  const boxes = scaleBoxes(inputHW, det.boxes, origHW);
  const [oh, ow] = origHW;
  const flat = retinaMasks
    ? processMaskNative(proto, det.coefs, boxes, det.n, origHW)
    : scaleBinaryMasks(processMask(proto, det.coefs, det.boxes, det.n, inputHW, true), det.n, inputHW, origHW, {
      boxes: det.boxes,
      // processMask output is empty beyond one proto cell (plus the bilinear tap) outside each box
      margin: 2 * Math.ceil(Math.max(inputHW[0] / proto.h, inputHW[1] / proto.w)) + 2,
    });
  const masks: Uint8Array[] = [];
  for (let i = 0; i < det.n; i++) masks.push(flat.subarray(i * oh * ow, (i + 1) * oh * ow));
  return { boxes, masks };
}

/** Predict instances on decoded RGB images; one `Prediction` per image, in order. */
export async function predict(
  model: SegModel | ArraySegModel,
  images: RgbImage[],
  opts: PredictOptions = {},
): Promise<Prediction[]> {
  const imgsz = checkImgsz(opts.imgsz ?? 640);
  const bs = Math.max(1, opts.batch ?? 1);
  const names = namesRecord(model.names, model.nc);
  const results: Prediction[] = [];
  for (let s = 0; s < images.length; s += bs) {
    const chunk = images.slice(s, s + bs);
    const t0 = performance.now();
    const same = chunk.every((im) => im.height === chunk[0].height && im.width === chunk[0].width);
    const lbs = chunk.map((im) => letterbox(im, { newShape: imgsz, auto: same, stride: 32 }));
    const H = lbs[0].image.height, W = lbs[0].image.width;
    const x = new Float32Array(chunk.length * H * W * 3);
    lbs.forEach((lb, b) => {
      const d = lb.image.data, o = b * H * W * 3;
      for (let i = 0; i < d.length; i++) x[o + i] = d[i] / 255;
    });
    const t1 = performance.now();
    const fw = await runForwardArrays(model, x, chunk.length, H, W);
    const t2 = performance.now();
    const per: Omit<Prediction, "speed">[] = [];
    for (let b = 0; b < chunk.length; b++) {
      const det = nonMaxSuppression(fw.pred.subarray(b * fw.A * fw.C, (b + 1) * fw.A * fw.C), fw.A, {
        conf: opts.conf ?? 0.25,
        iou: opts.iou ?? 0.7,
        nc: model.nc,
        classes: opts.classes,
        agnostic: opts.agnostic ?? false,
        maxDet: opts.maxDet ?? 300,
      });
      const origHW: [number, number] = [chunk[b].height, chunk[b].width];
      const { boxes, masks } = finishImage(det, fw.protos[b], [H, W], origHW, opts.retinaMasks ?? false);
      per.push({ n: det.n, boxes, conf: det.conf, cls: det.cls, masks, names, origHW, inputHW: [H, W] });
    }
    const t3 = performance.now();
    const k = chunk.length;
    const speed = { preprocess: (t1 - t0) / k, inference: (t2 - t1) / k, postprocess: (t3 - t2) / k };
    for (const p of per) results.push({ ...p, speed });
  }
  return results;
}
