/**
 * SAM's prompt encoder in tfjs: random-Fourier positional encoding, point/box sparse embeddings (+0.5 pixel centre,
 * padding point when no box), dense embedding from a low-res mask (mask_downscaling) or the no-mask embedding. NHWC.
 */
import { tf } from "../backend/mod.ts";
import { applyConv, type Conv, conv, gelu, layerNorm, type Norm, norm } from "./layers.ts";
import { f32, need, type StateDict } from "./weights.ts";

const P = "prompt_encoder.";

/** Prompt encoder weights and operations. */
export class PromptEncoder {
  readonly embedDim: number;
  readonly imgSize: number;
  readonly gridSize: number;
  private gauss: tf.Tensor2D; // (2, P/2)
  private pointEmb: tf.Tensor1D[];
  private notAPoint: tf.Tensor1D;
  private noMask: tf.Tensor1D;
  private md: { c0: Conv; n1: Norm; c3: Conv; n4: Norm; c6: Conv };
  private densePe: tf.Tensor4D | null = null;

  constructor(sd: StateDict, imgSize: number) {
    const g = need(sd, `${P}pe_layer.positional_encoding_gaussian_matrix`);
    this.gauss = tf.tensor2d(f32(g), g.shape as [number, number]);
    this.embedDim = g.shape[1] * 2;
    this.imgSize = imgSize;
    this.gridSize = imgSize / 16;
    this.pointEmb = [0, 1, 2, 3].map((i) => tf.tensor1d(f32(need(sd, `${P}point_embeddings.${i}.weight`))));
    this.notAPoint = tf.tensor1d(f32(need(sd, `${P}not_a_point_embed.weight`)));
    this.noMask = tf.tensor1d(f32(need(sd, `${P}no_mask_embed.weight`)));
    this.md = {
      c0: conv(sd, `${P}mask_downscaling.0`, 2, 0),
      n1: norm(sd, `${P}mask_downscaling.1`, 1e-6),
      c3: conv(sd, `${P}mask_downscaling.3`, 2, 0),
      n4: norm(sd, `${P}mask_downscaling.4`, 1e-6),
      c6: conv(sd, `${P}mask_downscaling.6`, 1, 0),
    };
  }

  /** PositionEmbeddingRandom._pe_encoding on coords in [0,1]: (..., 2) → (..., P). */
  private peEncoding(coords: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const shape = coords.shape;
      const c = tf.sub(tf.mul(coords, 2), 1).reshape([-1, 2]) as tf.Tensor2D;
      const p = tf.mul(tf.matMul(c, this.gauss), 2 * Math.PI);
      return tf.concat([tf.sin(p), tf.cos(p)], -1).reshape([...shape.slice(0, -1), this.embedDim]);
    });
  }

  /** get_dense_pe: (1, S/16, S/16, P) positional encoding of the embedding grid (cached; do not dispose). */
  denseImagePe(): tf.Tensor4D {
    if (!this.densePe) {
      const g = this.gridSize;
      // keep: the first call may happen inside a caller's tidy, which must not dispose the cache
      this.densePe = tf.keep(tf.tidy(() => {
        const coords = new Float32Array(g * g * 2);
        for (let y = 0; y < g; y++) {
          for (let x = 0; x < g; x++) {
            coords[(y * g + x) * 2] = Math.fround(Math.fround(x + 1 - 0.5) / g);
            coords[(y * g + x) * 2 + 1] = Math.fround(Math.fround(y + 1 - 0.5) / g);
          }
        }
        return this.peEncoding(tf.tensor3d(coords, [g, g, 2])).expandDims(0) as tf.Tensor4D;
      }));
    }
    return this.densePe;
  }

  /**
   * Sparse embeddings (B, T, P). `points` (B, N, 2) xy in resized-input pixels with `labels` (B, N) (1 fg, 0 bg,
   * -1 padding); `boxes` (B, 4) xyxy in resized-input pixels. A padding point is appended when there is no box.
   */
  sparse(
    points: { coords: Float32Array; labels: Int32Array; n: number } | null,
    boxes: Float32Array | null,
    B: number,
  ) {
    return tf.tidy(() => {
      const parts: tf.Tensor[] = [];
      const S = this.imgSize;
      if (points) {
        const pad = boxes === null;
        const n = points.n + (pad ? 1 : 0);
        const coords = new Float32Array(B * n * 2);
        const labels = new Int32Array(B * n);
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < n; i++) {
            const real = i < points.n;
            const o = (b * n + i) * 2;
            const src = (b * points.n + i) * 2;
            coords[o] = real ? Math.fround(Math.fround(points.coords[src] + 0.5) / S) : 0;
            coords[o + 1] = real ? Math.fround(Math.fround(points.coords[src + 1] + 0.5) / S) : 0;
            labels[b * n + i] = real ? points.labels[b * points.n + i] : -1;
          }
        }
        const pe = this.peEncoding(tf.tensor3d(coords, [B, n, 2]));
        // per-token additive embedding and keep mask
        const P = this.embedDim;
        const lab = tf.tensor3d(labels, [B, n, 1], "int32");
        const isPad = tf.cast(tf.equal(lab, -1), "float32");
        const isBg = tf.cast(tf.equal(lab, 0), "float32");
        const isFg = tf.cast(tf.equal(lab, 1), "float32");
        let e = tf.mul(pe, tf.sub(1, isPad));
        e = tf.add(e, tf.mul(isPad, this.notAPoint.reshape([1, 1, P])));
        e = tf.add(e, tf.mul(isBg, this.pointEmb[0].reshape([1, 1, P])));
        e = tf.add(e, tf.mul(isFg, this.pointEmb[1].reshape([1, 1, P])));
        parts.push(e);
      }
      if (boxes) {
        const c = new Float32Array(B * 4);
        for (let i = 0; i < B * 4; i++) c[i] = Math.fround(Math.fround(boxes[i] + 0.5) / S);
        const pe = this.peEncoding(tf.tensor3d(c, [B, 2, 2]));
        const P = this.embedDim;
        const add = tf.stack([this.pointEmb[2], this.pointEmb[3]]).reshape([1, 2, P]);
        parts.push(tf.add(pe, add));
      }
      if (parts.length === 0) return tf.zeros([B, 0, this.embedDim]) as tf.Tensor3D;
      return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor3D;
    });
  }

  /**
   * Dense embeddings: mask_downscaling(mask (B, S/4, S/4, 1)) → (B, S/16, S/16, P), or without a mask the no-mask
   * embedding as (1, S/16, S/16, P) (broadcast over the batch by the decoder).
   */
  dense(mask: tf.Tensor4D | null): tf.Tensor4D {
    return tf.tidy(() => {
      const g = this.gridSize;
      if (!mask) return tf.broadcastTo(this.noMask.reshape([1, 1, 1, this.embedDim]), [1, g, g, this.embedDim]);
      let y = gelu(layerNorm(this.md.n1, applyConv(this.md.c0, mask))) as tf.Tensor4D;
      y = gelu(layerNorm(this.md.n4, applyConv(this.md.c3, y))) as tf.Tensor4D;
      return applyConv(this.md.c6, y);
    });
  }
}
