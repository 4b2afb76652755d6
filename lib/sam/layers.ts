/**
 * Building blocks shared by the SAM encoders/decoder in tfjs (NHWC): PyTorch-layout weight conversion (Linear,
 * Conv2d, ConvTranspose2d, BatchNorm folding), LayerNorm / LayerNorm2d with explicit eps, exact-erf GELU.
 */
import { tf } from "../backend/mod.ts";
import { f32, need, type StateDict } from "./weights.ts";

/** Linear layer: weight stored as (in, out) for `matMul`, optional bias (out). */
export interface Linear {
  w: tf.Tensor2D;
  b: tf.Tensor1D | null;
}

/** Load `prefix.weight` (out,in) [+ `prefix.bias`] as a Linear. */
export function linear(sd: StateDict, prefix: string): Linear {
  const we = need(sd, `${prefix}.weight`);
  const [o, i] = we.shape;
  const w = tf.tidy(() => tf.transpose(tf.tensor2d(f32(we), [o, i])) as tf.Tensor2D);
  const be = sd.get(`${prefix}.bias`);
  return { w, b: be ? tf.tensor1d(f32(be)) : null };
}

/** Apply a Linear to the last axis of x (any rank). */
export function applyLinear(l: Linear, x: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const x2 = x.reshape([-1, shape[shape.length - 1]]) as tf.Tensor2D;
  let y: tf.Tensor = tf.matMul(x2, l.w);
  if (l.b) y = tf.add(y, l.b);
  return y.reshape([...shape.slice(0, -1), l.w.shape[1]]);
}

/** Norm parameters: scale, shift and eps. */
export interface Norm {
  w: tf.Tensor1D;
  b: tf.Tensor1D;
  eps: number;
}

/** Load a LayerNorm (`prefix.weight`, `prefix.bias`) with the given eps. */
export function norm(sd: StateDict, prefix: string, eps: number): Norm {
  return { w: tf.tensor1d(f32(need(sd, `${prefix}.weight`))), b: tf.tensor1d(f32(need(sd, `${prefix}.bias`))), eps };
}

/** LayerNorm over the last axis (PyTorch semantics, biased variance); also LayerNorm2d in NHWC. */
export function layerNorm(n: Norm, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const d = tf.sub(x, mean);
    const v = tf.mean(tf.square(d), -1, true);
    return tf.add(tf.mul(tf.mul(d, tf.rsqrt(tf.add(v, n.eps))), n.w), n.b);
  });
}

/** GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** Conv2d with PyTorch weights converted to HWIO (or depthwise HWC1), optional bias. */
export interface Conv {
  w: tf.Tensor4D;
  b: tf.Tensor1D | null;
  stride: number;
  pad: number;
  depthwise: boolean;
}

/** Torch conv weight (out, in/groups, kh, kw) → tfjs HWIO; depthwise when groups == out == in. */
export function convFromTorch(
  w: Float32Array,
  shape: number[],
  bias: Float32Array | null,
  stride: number,
  pad: number,
  groups = 1,
): Conv {
  const [o, i, kh, kw] = shape;
  const depthwise = groups > 1;
  const t = tf.tidy(() => {
    const wt = tf.tensor4d(w, [o, i, kh, kw]);
    return depthwise ? tf.transpose(wt, [2, 3, 0, 1]) as tf.Tensor4D : tf.transpose(wt, [2, 3, 1, 0]) as tf.Tensor4D;
  });
  return { w: t, b: bias ? tf.tensor1d(bias) : null, stride, pad, depthwise };
}

/** Load a plain Conv2d `prefix.weight` [+ bias]. */
export function conv(sd: StateDict, prefix: string, stride: number, pad: number, groups = 1): Conv {
  const we = need(sd, `${prefix}.weight`);
  const be = sd.get(`${prefix}.bias`);
  return convFromTorch(f32(we), we.shape, be ? f32(be) : null, stride, pad, groups);
}

/** Load Conv2d (no bias) + BatchNorm2d (eval, eps) folded into one conv with bias: MobileSAM's Conv2d_BN. */
export function convBn(sd: StateDict, prefix: string, stride: number, pad: number, groups = 1, eps = 1e-5): Conv {
  const we = need(sd, `${prefix}.c.weight`);
  const g = f32(need(sd, `${prefix}.bn.weight`));
  const beta = f32(need(sd, `${prefix}.bn.bias`));
  const rm = f32(need(sd, `${prefix}.bn.running_mean`));
  const rv = f32(need(sd, `${prefix}.bn.running_var`));
  const w = f32(we);
  const o = we.shape[0];
  const per = w.length / o;
  // fold in float64, round once: w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps)
  const wf = new Float32Array(w.length);
  const bf = new Float32Array(o);
  for (let c = 0; c < o; c++) {
    const s = Math.fround(g[c] / Math.sqrt(Math.fround(rv[c] + eps)));
    for (let j = 0; j < per; j++) wf[c * per + j] = w[c * per + j] * s;
    bf[c] = beta[c] - rm[c] * s;
  }
  return convFromTorch(wf, we.shape, bf, stride, pad, groups);
}

/** Apply a Conv (NHWC input) with explicit symmetric zero padding. */
export function applyConv(c: Conv, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const p = c.pad;
    const xp = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) : x;
    let y: tf.Tensor4D = c.depthwise
      ? tf.depthwiseConv2d(xp, c.w, c.stride, "valid")
      : tf.conv2d(xp, c.w, c.stride, "valid");
    if (c.b) y = tf.add(y, c.b);
    return y;
  });
}

/** ConvTranspose2d with kernel == stride (SAM's output upscaling, k=2 s=2) as one matmul + pixel shuffle. */
export interface ConvT {
  w: tf.Tensor2D; // (in, kh*kw*out)
  b: tf.Tensor1D;
  k: number;
  out: number;
}

/** Load `prefix.weight` (in, out, k, k) + bias. */
export function convTranspose(sd: StateDict, prefix: string): ConvT {
  const we = need(sd, `${prefix}.weight`);
  const [i, o, kh, kw] = we.shape;
  const w = tf.tidy(() =>
    tf.transpose(tf.tensor4d(f32(we), [i, o, kh, kw]), [0, 2, 3, 1]).reshape([i, kh * kw * o]) as tf.Tensor2D
  );
  return { w, b: tf.tensor1d(f32(need(sd, `${prefix}.bias`))), k: kh, out: o };
}

/** Apply a stride==kernel transposed conv: (B,H,W,in) → (B,kH,kW,out). */
export function applyConvT(c: ConvT, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, i] = x.shape;
    const k = c.k;
    const y = tf.matMul(x.reshape([b * h * w, i]), c.w); // (bhw, k*k*out) ordered (kh, kw, out)
    const y4 = y.reshape([b * h, w, k, k * c.out]).transpose([0, 2, 1, 3]); // (bh, kh, w, kw*out)
    return tf.add(y4.reshape([b, h * k, w * k, c.out]), c.b) as tf.Tensor4D;
  });
}

/** Dispose every tensor reachable in a plain object tree (model parameters). */
export function disposeTree(o: unknown): void {
  if (o instanceof tf.Tensor) o.dispose();
  else if (Array.isArray(o)) o.forEach(disposeTree);
  else if (o && typeof o === "object") { for (const v of Object.values(o)) disposeTree(v); }
}
