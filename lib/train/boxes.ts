/**
 * Box geometry used by training: anchor grids (ultralytics `make_anchors`), CIoU as ultralytics `bbox_iou(...,
 * CIoU=True)` both as plain numbers (assigner, no gradient) and as tfjs ops (loss, differentiable), DFL decoding.
 */
import { tf } from "../backend/mod.ts";

/** Anchor centres in grid units and their strides for feature maps of the given [h, w] sizes. */
export function makeAnchors(
  sizes: Array<[number, number]>,
  strides: number[],
  offset = 0.5,
): { points: Float32Array; stride: Float32Array; count: number } {
  const count = sizes.reduce((a, [h, w]) => a + h * w, 0);
  const points = new Float32Array(count * 2);
  const stride = new Float32Array(count);
  let k = 0;
  sizes.forEach(([h, w], l) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        points[2 * k] = x + offset;
        points[2 * k + 1] = y + offset;
        stride[k] = strides[l];
        k++;
      }
    }
  });
  return { points, stride, count };
}

const EPS = 1e-7;
const FOUR_OVER_PI2 = 4 / (Math.PI * Math.PI);

/** CIoU of two xyxy boxes (numbers), exactly as ultralytics `bbox_iou(b1, b2, xywh=False, CIoU=True)`, eps 1e-7. */
export function ciou(
  ax1: number,
  ay1: number,
  ax2: number,
  ay2: number,
  bx1: number,
  by1: number,
  bx2: number,
  by2: number,
): number {
  const w1 = ax2 - ax1, h1 = ay2 - ay1 + EPS;
  const w2 = bx2 - bx1, h2 = by2 - by1 + EPS;
  const iw = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0);
  const ih = Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  const inter = iw * ih;
  const union = w1 * h1 + w2 * h2 - inter + EPS;
  const iou = inter / union;
  const cw = Math.max(ax2, bx2) - Math.min(ax1, bx1);
  const ch = Math.max(ay2, by2) - Math.min(ay1, by1);
  const c2 = cw * cw + ch * ch + EPS;
  const dx = bx1 + bx2 - ax1 - ax2, dy = by1 + by2 - ay1 - ay2;
  const rho2 = (dx * dx + dy * dy) / 4;
  const da = Math.atan(w2 / h2) - Math.atan(w1 / h1);
  const v = FOUR_OVER_PI2 * da * da;
  const alpha = v / (v - iou + (1 + EPS));
  return iou - (rho2 / c2 + v * alpha);
}

/** Identity whose gradient is zero (torch `.detach()` / `no_grad` inside a differentiable expression). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad(
    ((a: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return { value: a.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return f(x) as T;
}

/**
 * Differentiable CIoU of predicted boxes `pred` [n,4] xyxy against constant targets `target` [n,4] xyxy → [n].
 * As ultralytics: the CIoU trade-off `alpha` is computed without gradient.
 */
export function ciouTensor(pred: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [ax1, ay1, ax2, ay2] = tf.split(pred, 4, 1).map((t) => t.reshape([-1]));
    const [bx1, by1, bx2, by2] = tf.split(target, 4, 1).map((t) => t.reshape([-1]));
    const w1 = ax2.sub(ax1), h1 = ay2.sub(ay1).add(EPS);
    const w2 = bx2.sub(bx1), h2 = by2.sub(by1).add(EPS);
    const iw = tf.minimum(ax2, bx2).sub(tf.maximum(ax1, bx1)).relu();
    const ih = tf.minimum(ay2, by2).sub(tf.maximum(ay1, by1)).relu();
    const inter = iw.mul(ih);
    const union = w1.mul(h1).add(w2.mul(h2)).sub(inter).add(EPS);
    const iou = inter.div(union);
    const cw = tf.maximum(ax2, bx2).sub(tf.minimum(ax1, bx1));
    const ch = tf.maximum(ay2, by2).sub(tf.minimum(ay1, by1));
    const c2 = cw.square().add(ch.square()).add(EPS);
    const rho2 = bx1.add(bx2).sub(ax1).sub(ax2).square().add(by1.add(by2).sub(ay1).sub(ay2).square()).div(4);
    const v = tf.atan(w2.div(h2)).sub(tf.atan(w1.div(h1))).square().mul(FOUR_OVER_PI2);
    const alpha = stopGradient(v.div(v.sub(iou).add(1 + EPS)));
    return iou.sub(rho2.div(c2).add(v.mul(alpha))) as tf.Tensor1D;
  });
}

/**
 * Decode DFL distributions (numbers, no gradient): `dist` [A, 4*regMax] logits (side-major), anchors [A,2] grid
 * units → xyxy [A,4] in grid units (ultralytics `bbox_decode` + `dist2bbox(xywh=False)`).
 */
export function decodeDfl(dist: Float32Array, anchors: Float32Array, count: number, regMax = 16): Float32Array {
  const out = new Float32Array(count * 4);
  const no = 4 * regMax;
  const e = new Float64Array(regMax);
  for (let a = 0; a < count; a++) {
    const d = [0, 0, 0, 0];
    for (let s = 0; s < 4; s++) {
      const base = a * no + s * regMax;
      let m = -Infinity;
      for (let j = 0; j < regMax; j++) m = Math.max(m, dist[base + j]);
      let sum = 0, acc = 0;
      for (let j = 0; j < regMax; j++) {
        e[j] = Math.exp(dist[base + j] - m);
        sum += e[j];
      }
      for (let j = 0; j < regMax; j++) acc += (e[j] / sum) * j;
      d[s] = acc;
    }
    const ax = anchors[2 * a], ay = anchors[2 * a + 1];
    out[4 * a] = ax - d[0];
    out[4 * a + 1] = ay - d[1];
    out[4 * a + 2] = ax + d[2];
    out[4 * a + 3] = ay + d[3];
  }
  return out;
}
