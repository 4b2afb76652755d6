/**
 * SAM's mask decoder in tfjs: TwoWayTransformer (token↔image attention with downsampled internal dim), output
 * upscaling (2 transposed convs), hypernetwork MLPs producing per-token mask weights, IoU head, multimask selection.
 */
import { tf } from "../backend/mod.ts";
import {
  applyConvT,
  applyLinear,
  type ConvT,
  convTranspose,
  gelu,
  layerNorm,
  type Linear,
  linear,
  type Norm,
  norm,
} from "./layers.ts";
import { f32, need, type StateDict } from "./weights.ts";

const P = "mask_decoder.";

interface Attn {
  q: Linear;
  k: Linear;
  v: Linear;
  out: Linear;
  heads: number;
}

interface TwoWayBlock {
  selfAttn: Attn;
  norm1: Norm;
  t2i: Attn;
  norm2: Norm;
  lin1: Linear;
  lin2: Linear;
  norm3: Norm;
  norm4: Norm;
  i2t: Attn;
  skipFirstPe: boolean;
}

/** Debug tensors of one decoder run (NHWC / token layouts). */
export interface DecoderDebug {
  tokensOut: tf.Tensor3D; // (B, 5+T, P)
  imageTokensOut: tf.Tensor3D; // (B, HW, P)
  upscaled: tf.Tensor4D; // (B, 4h, 4w, P/8)
  allIou: tf.Tensor2D; // (B, 4)
}

/** Decoder output: all mask logits (B, 4h, 4w, 4) NHWC, IoU (B, 4), optional debug tensors. */
export interface DecoderResult {
  masks: tf.Tensor4D;
  iou: tf.Tensor2D;
  debug?: DecoderDebug;
}

function mlp(sd: StateDict, prefix: string): Linear[] {
  const out: Linear[] = [];
  for (let i = 0; sd.has(`${prefix}.layers.${i}.weight`); i++) out.push(linear(sd, `${prefix}.layers.${i}`));
  return out;
}

function applyMlp(layers: Linear[], x: tf.Tensor): tf.Tensor {
  let y = x;
  for (let i = 0; i < layers.length; i++) {
    y = applyLinear(layers[i], y);
    if (i < layers.length - 1) y = tf.relu(y);
  }
  return y;
}

/** Mask decoder with weights on the backend. */
export class MaskDecoder {
  readonly dim: number;
  readonly numHeads: number;
  private iouToken: tf.Tensor2D;
  private maskTokens: tf.Tensor2D;
  private layers: TwoWayBlock[] = [];
  private finalAttn: Attn;
  private normFinal: Norm;
  private up0: ConvT;
  private up1: Norm;
  private up3: ConvT;
  private hyper: Linear[][] = [];
  private iouHead: Linear[];
  readonly numMaskTokens: number;

  /** `numHeads` cannot be inferred from shapes: 8 in every official model. */
  constructor(sd: StateDict, numHeads = 8) {
    const it = need(sd, `${P}iou_token.weight`);
    this.dim = it.shape[1];
    this.numHeads = numHeads;
    this.iouToken = tf.tensor2d(f32(it), [1, this.dim]);
    const mt = need(sd, `${P}mask_tokens.weight`);
    this.numMaskTokens = mt.shape[0];
    this.maskTokens = tf.tensor2d(f32(mt), mt.shape as [number, number]);
    const T = `${P}transformer.`;
    const attn = (p: string): Attn => ({
      q: linear(sd, `${p}.q_proj`),
      k: linear(sd, `${p}.k_proj`),
      v: linear(sd, `${p}.v_proj`),
      out: linear(sd, `${p}.out_proj`),
      heads: numHeads,
    });
    for (let i = 0; sd.has(`${T}layers.${i}.norm1.weight`); i++) {
      const l = `${T}layers.${i}.`;
      this.layers.push({
        selfAttn: attn(`${l}self_attn`),
        norm1: norm(sd, `${l}norm1`, 1e-5),
        t2i: attn(`${l}cross_attn_token_to_image`),
        norm2: norm(sd, `${l}norm2`, 1e-5),
        lin1: linear(sd, `${l}mlp.lin1`),
        lin2: linear(sd, `${l}mlp.lin2`),
        norm3: norm(sd, `${l}norm3`, 1e-5),
        norm4: norm(sd, `${l}norm4`, 1e-5),
        i2t: attn(`${l}cross_attn_image_to_token`),
        skipFirstPe: i === 0,
      });
    }
    this.finalAttn = attn(`${T}final_attn_token_to_image`);
    this.normFinal = norm(sd, `${T}norm_final_attn`, 1e-5);
    this.up0 = convTranspose(sd, `${P}output_upscaling.0`);
    this.up1 = norm(sd, `${P}output_upscaling.1`, 1e-6);
    this.up3 = convTranspose(sd, `${P}output_upscaling.3`);
    for (let i = 0; i < this.numMaskTokens; i++) this.hyper.push(mlp(sd, `${P}output_hypernetworks_mlps.${i}`));
    this.iouHead = mlp(sd, `${P}iou_prediction_head`);
  }

  /** Multi-head attention; q/k/v may have batch 1 (shared image side) or B: batch dims broadcast. */
  private attention(a: Attn, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
    const qp = applyLinear(a.q, q), kp = applyLinear(a.k, k), vp = applyLinear(a.v, v);
    const C = qp.shape[2] as number;
    const h = a.heads, d = C / h;
    const sep = (t: tf.Tensor) => t.reshape([t.shape[0], t.shape[1] as number, h, d]).transpose([0, 2, 1, 3]);
    const kT = sep(kp).transpose([0, 1, 3, 2]); // explicit transpose: faster than transposeB on wasm
    const att = tf.softmax(tf.div(tf.matMul(sep(qp), kT), Math.sqrt(d)));
    const o = tf.matMul(att, sep(vp)).transpose([0, 2, 1, 3]);
    return applyLinear(a.out, o.reshape([o.shape[0], o.shape[1] as number, C])) as tf.Tensor3D;
  }

  /**
   * predict_masks: image embedding (1 or B, h, w, P), dense PE (1, h, w, P), sparse (B, T, P), dense (B, h, w, P).
   * Returns all 4 mask logits (B, 4h, 4w, 4) NHWC and IoU predictions (B, 4); optionally debug tensors.
   */
  predictMasks(
    image: tf.Tensor4D,
    pe: tf.Tensor4D,
    sparse: tf.Tensor3D,
    dense: tf.Tensor4D,
    debug = false,
  ): DecoderResult {
    return tf.tidy(() => {
      const B = sparse.shape[0];
      const [, h, w, C] = image.shape;
      const out = tf.concat([this.iouToken, this.maskTokens], 0);
      const tokens = tf.concat([tf.broadcastTo(out.expandDims(0), [B, out.shape[0], C]), sparse], 1) as tf.Tensor3D;
      // image side stays at batch 1 while it is the same for every prompt (no Tile of the embedding)
      const src = tf.add(image, dense);
      const keys0 = src.reshape([src.shape[0], h * w, C]) as tf.Tensor3D;
      const keyPe = pe.reshape([1, h * w, C]) as tf.Tensor3D;
      let queries = tokens;
      let keys = keys0;
      for (const L of this.layers) {
        if (L.skipFirstPe) queries = this.attention(L.selfAttn, queries, queries, queries);
        else {
          const q = tf.add(queries, tokens) as tf.Tensor3D;
          queries = tf.add(queries, this.attention(L.selfAttn, q, q, queries));
        }
        queries = layerNorm(L.norm1, queries) as tf.Tensor3D;
        let q = tf.add(queries, tokens) as tf.Tensor3D;
        let k = tf.add(keys, keyPe) as tf.Tensor3D;
        queries = tf.add(queries, this.attention(L.t2i, q, k, keys));
        queries = layerNorm(L.norm2, queries) as tf.Tensor3D;
        queries = tf.add(queries, applyLinear(L.lin2, tf.relu(applyLinear(L.lin1, queries))));
        queries = layerNorm(L.norm3, queries) as tf.Tensor3D;
        q = tf.add(queries, tokens) as tf.Tensor3D;
        k = tf.add(keys, keyPe) as tf.Tensor3D;
        keys = tf.add(keys, this.attention(L.i2t, k, q, queries));
        keys = layerNorm(L.norm4, keys) as tf.Tensor3D;
      }
      const q = tf.add(queries, tokens) as tf.Tensor3D;
      const k = tf.add(keys, keyPe) as tf.Tensor3D;
      queries = layerNorm(this.normFinal, tf.add(queries, this.attention(this.finalAttn, q, k, keys))) as tf.Tensor3D;
      const hs = queries;
      const iouOut = hs.slice([0, 0, 0], [B, 1, C]).reshape([B, C]);
      const srcImg = (keys.shape[0] === B ? keys : tf.broadcastTo(keys, [B, h * w, C])).reshape([
        B,
        h,
        w,
        C,
      ]) as tf.Tensor4D;
      const u0 = gelu(layerNorm(this.up1, applyConvT(this.up0, srcImg))) as tf.Tensor4D;
      const up = gelu(applyConvT(this.up3, u0)) as tf.Tensor4D; // (B, 4h, 4w, C/8)
      const nm = this.numMaskTokens;
      const hyper = tf.stack(
        this.hyper.map((m, i) => applyMlp(m, hs.slice([0, 1 + i, 0], [B, 1, C]).reshape([B, C]))),
        1,
      ) as tf.Tensor3D; // (B, nm, C/8)
      const [, H4, W4, c8] = up.shape;
      const masks = tf.matMul(up.reshape([B, H4 * W4, c8]), hyper, false, true).reshape([B, H4, W4, nm]) as tf.Tensor4D;
      const iou = applyMlp(this.iouHead, iouOut) as tf.Tensor2D;
      const res: DecoderResult = { masks, iou };
      if (debug) res.debug = { tokensOut: hs, imageTokensOut: keys, upscaled: up, allIou: iou };
      return res as unknown as tf.TensorContainer;
    }) as unknown as DecoderResult;
  }

  /** MaskDecoder.forward: select masks 1..3 (multimask) or 0. Returns (B, 4h, 4w, M) logits and (B, M) IoU. */
  forward(image: tf.Tensor4D, pe: tf.Tensor4D, sparse: tf.Tensor3D, dense: tf.Tensor4D, multimask: boolean) {
    return tf.tidy(() => {
      const { masks, iou } = this.predictMasks(image, pe, sparse, dense);
      const [B, H, W, nm] = masks.shape;
      const s = multimask ? 1 : 0, n = multimask ? nm - 1 : 1;
      return {
        masks: masks.slice([0, 0, 0, s], [B, H, W, n]) as tf.Tensor4D,
        iou: iou.slice([0, s], [B, n]) as tf.Tensor2D,
      };
    });
  }
}
