/**
 * SamPredictor: embed an image once (`setImage`), then prompt it with points / a box / a low-res mask (`predict`), or
 * with many boxes in one decoder batch (`predictBoxes`). Coordinates are original-image pixels; outputs are
 * full-resolution masks (H*W, row-major), IoU predictions and the decoder's low-res logits.
 */
import { tf } from "../backend/mod.ts";
import type { SamModel } from "./model.ts";
import { applyCoords, applyImage, postprocessMasks, preprocess, preprocessShape, type RgbImage } from "./transforms.ts";
import { UserError } from "../util/errors.ts";

/** Prompt for one `predict` call (original-image pixels). */
export interface PromptInput {
  /** (N, 2) xy points */
  points?: ArrayLike<number>[] | Float32Array;
  /** (N,) labels: 1 foreground, 0 background */
  labels?: ArrayLike<number>;
  /** xyxy box */
  box?: ArrayLike<number>;
  /** low-res mask logits (S/4 * S/4), e.g. a previous `lowRes` output */
  maskInput?: Float32Array;
  /** 3 masks (true, default) or 1 */
  multimask?: boolean;
  /** return un-thresholded logits in `logits` instead of only binary masks */
  returnLogits?: boolean;
}

/** Result of one prompt: C masks (C = 3 multimask, else 1). */
export interface PromptResult {
  /** C binary masks, each H*W (0/1, row-major) */
  masks: Uint8Array[];
  /** C IoU predictions */
  iou: Float32Array;
  /** C low-res logits, each (S/4)^2 row-major */
  lowRes: Float32Array[];
  /** C full-resolution logits when `returnLogits` */
  logits?: Float32Array[];
}

function flatPoints(p: ArrayLike<number>[] | Float32Array): Float32Array {
  if (p instanceof Float32Array) return p;
  const out = new Float32Array(p.length * 2);
  p.forEach((xy, i) => {
    out[i * 2] = xy[0];
    out[i * 2 + 1] = xy[1];
  });
  return out;
}

/** Predictor bound to one model; holds the current image embedding. */
export class SamPredictor {
  readonly model: SamModel;
  features: tf.Tensor4D | null = null;
  originalSize: [number, number] = [0, 0];
  inputSize: [number, number] = [0, 0];

  constructor(model: SamModel) {
    this.model = model;
  }

  /** Resize (PIL-exact), normalise, pad and encode an RGB image; replaces the previous embedding. */
  setImage(img: RgbImage): void {
    const S = this.model.imgSize;
    const resized = applyImage(img, S);
    this.setResizedImage(resized, [img.height, img.width]);
  }

  /** Encode an already resized image (`ResizeLongestSide` output) for an original of `origHW`. */
  setResizedImage(resized: RgbImage, origHW: [number, number]): void {
    this.reset();
    const x = preprocess(resized, this.model.imgSize);
    this.features = this.model.encoder.forward(x);
    x.dispose();
    this.originalSize = origHW;
    this.inputSize = [resized.height, resized.width];
  }

  /** Use a precomputed embedding (1, S/16, S/16, P) NHWC (the predictor takes ownership). */
  setEmbedding(features: tf.Tensor4D, origHW: [number, number]): void {
    this.reset();
    this.features = features;
    this.originalSize = origHW;
    this.inputSize = preprocessShape(origHW[0], origHW[1], this.model.imgSize);
  }

  /** Drop the embedding. */
  reset(): void {
    this.features?.dispose();
    this.features = null;
  }

  private need(): tf.Tensor4D {
    if (!this.features) throw new UserError("SamPredictor: call setImage before predict");
    return this.features;
  }

  /**
   * Batched decoder run on prompts already in resized-input coordinates (predict_torch). points: (B, N, 2) with
   * labels (B, N); boxes (B, 4); maskInput (B, S/4, S/4, 1). Returns low-res logits (B, S/4, S/4, C) and IoU (B, C).
   */
  predictTorch(
    B: number,
    points: { coords: Float32Array; labels: Int32Array; n: number } | null,
    boxes: Float32Array | null,
    maskInput: tf.Tensor4D | null,
    multimask: boolean,
  ): { lowRes: tf.Tensor4D; iou: tf.Tensor2D } {
    const feats = this.need();
    return tf.tidy(() => {
      const sparse = this.model.prompt.sparse(points, boxes, B);
      const dense = this.model.prompt.dense(maskInput);
      const r = this.model.decoder.forward(feats, this.model.prompt.denseImagePe(), sparse, dense, multimask);
      return { lowRes: r.masks, iou: r.iou };
    });
  }

  /** Upsample low-res logits (B, S/4, S/4, C) to the original image: (B, H, W, C) logits. */
  upscale(lowRes: tf.Tensor4D): tf.Tensor4D {
    return postprocessMasks(lowRes, this.model.imgSize, this.inputSize, this.originalSize);
  }

  /** Prompt the current image once (SamPredictor.predict). */
  predict(p: PromptInput): PromptResult {
    const S = this.model.imgSize;
    const multimask = p.multimask ?? true;
    let pts: { coords: Float32Array; labels: Int32Array; n: number } | null = null;
    if (p.points) {
      const flat = flatPoints(p.points);
      const n = flat.length / 2;
      if (!p.labels || p.labels.length !== n) throw new UserError("predict: labels must be given, one per point");
      pts = { coords: applyCoords(flat, this.originalSize, S), labels: Int32Array.from(p.labels), n };
    }
    const box = p.box ? applyCoords(Array.from(p.box), this.originalSize, S) : null;
    const q = S / 4;
    if (p.maskInput && p.maskInput.length !== q * q) {
      throw new UserError(`predict: maskInput must have ${q}x${q} values`);
    }
    const mi = p.maskInput ? tf.tensor4d(p.maskInput, [1, q, q, 1]) : null;
    const { lowRes, iou } = this.predictTorch(1, pts, box, mi, multimask);
    mi?.dispose();
    const out = this.collect(lowRes, iou, 0, p.returnLogits ?? false);
    lowRes.dispose();
    iou.dispose();
    return out;
  }

  /** Read back item `b` of a batched result: masks thresholded at 0, low-res and optional full-res logits. */
  private collect(lowRes: tf.Tensor4D, iou: tf.Tensor2D, b: number, logits: boolean): PromptResult {
    const [, h4, w4, C] = lowRes.shape;
    const [H, W] = this.originalSize;
    const lr = tf.tidy(() => lowRes.slice([b, 0, 0, 0], [1, h4, w4, C]));
    const full = this.upscale(lr);
    const fd = full.dataSync() as Float32Array;
    const ld = lr.dataSync() as Float32Array;
    const id = iou.dataSync() as Float32Array;
    full.dispose();
    lr.dispose();
    const res: PromptResult = { masks: [], iou: id.slice(b * C, b * C + C), lowRes: [] };
    if (logits) res.logits = [];
    for (let c = 0; c < C; c++) {
      const m = new Uint8Array(H * W);
      const lg = logits ? new Float32Array(H * W) : null;
      for (let i = 0; i < H * W; i++) {
        const v = fd[i * C + c];
        m[i] = v > this.model.maskThreshold ? 1 : 0;
        if (lg) lg[i] = v;
      }
      res.masks.push(m);
      if (lg) res.logits!.push(lg);
      const l = new Float32Array(h4 * w4);
      for (let i = 0; i < h4 * w4; i++) l[i] = ld[i * C + c];
      res.lowRes.push(l);
    }
    return res;
  }

  /**
   * Many box prompts in decoder batches of `batch` (boxes (n, 4) xyxy original pixels). Returns one result per box
   * (1 mask each unless `multimask`).
   */
  predictBoxes(
    boxes: ArrayLike<number>,
    opts: { multimask?: boolean; batch?: number; returnLogits?: boolean } = {},
  ): PromptResult[] {
    const n = boxes.length / 4;
    const batch = opts.batch ?? 16;
    const out: PromptResult[] = [];
    const S = this.model.imgSize;
    for (let s = 0; s < n; s += batch) {
      const B = Math.min(batch, n - s);
      const bx = applyCoords(Array.from(boxes).slice(s * 4, (s + B) * 4), this.originalSize, S);
      const { lowRes, iou } = this.predictTorch(B, null, bx, null, opts.multimask ?? false);
      for (let b = 0; b < B; b++) out.push(this.collect(lowRes, iou, b, opts.returnLogits ?? false));
      lowRes.dispose();
      iou.dispose();
    }
    return out;
  }
}
