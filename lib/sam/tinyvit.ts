/**
 * MobileSAM's TinyViT image encoder in tfjs (NHWC): Conv2d_BN (BN folded, eps 1e-5), MBConv stage, PatchMerging,
 * windowed attention blocks with cached attention biases and a depthwise local conv, 256-channel neck.
 * Configuration (dims, depths, heads, windows, MLP/MBConv widths) is inferred from tensor shapes.
 */
import { tf } from "../backend/mod.ts";
import {
  applyConv,
  applyLinear,
  type Conv,
  conv,
  convBn,
  gelu,
  layerNorm,
  type Linear,
  linear,
  type Norm,
  norm,
} from "./layers.ts";
import { f32, need, type StateDict } from "./weights.ts";

const P = "image_encoder.";

/** Shape-inferred TinyViT configuration (img_size is fixed at 1024 by MobileSAM's code). */
export interface TinyVitConfig {
  imgSize: number;
  embedDims: number[];
  depths: number[];
  numHeads: number[];
  windowSizes: number[];
}

/** Infer the TinyViT configuration from state_dict shapes. */
export function inferTinyVitConfig(sd: StateDict): TinyVitConfig {
  const embedDims: number[] = [need(sd, `${P}patch_embed.seq.2.c.weight`).shape[0]];
  const depths: number[] = [], numHeads: number[] = [0], windowSizes: number[] = [0];
  for (
    let i = 0;
    sd.has(`${P}layers.${i}.blocks.0.${i === 0 ? "conv1" : "attn.norm"}.${i === 0 ? "c." : ""}weight`);
    i++
  ) {
    let d = 0;
    while (sd.has(`${P}layers.${i}.blocks.${d}.${i === 0 ? "conv1.c" : "attn.norm"}.weight`)) d++;
    depths.push(d);
    if (i > 0) {
      const ab = need(sd, `${P}layers.${i}.blocks.0.attn.attention_biases`).shape;
      numHeads.push(ab[0]);
      windowSizes.push(Math.round(Math.sqrt(ab[1])));
    }
    const ds = sd.get(`${P}layers.${i}.downsample.conv1.c.weight`);
    if (ds) embedDims.push(ds.shape[0]);
  }
  return { imgSize: 1024, embedDims, depths, numHeads, windowSizes };
}

interface MbConv {
  c1: Conv;
  c2: Conv;
  c3: Conv;
}
interface Merge {
  c1: Conv;
  c2: Conv;
  c3: Conv;
}
interface TvBlock {
  norm: Norm;
  qkv: Linear;
  proj: Linear;
  bias: tf.Tensor3D; // (heads, N, N)
  heads: number;
  ws: number;
  local: Conv;
  mlpNorm: Norm;
  fc1: Linear;
  fc2: Linear;
}

/** MobileSAM image encoder. */
export class TinyVitEncoder {
  readonly cfg: TinyVitConfig;
  private pe0: Conv;
  private pe2: Conv;
  private stage0: MbConv[] = [];
  private merges: (Merge | null)[] = [];
  private stages: TvBlock[][] = [];
  private neck0: Conv;
  private neck1: Norm;
  private neck2: Conv;
  private neck3: Norm;

  /** Input side S (1024). */
  get imgSize(): number {
    return this.cfg.imgSize;
  }

  constructor(sd: StateDict) {
    this.cfg = inferTinyVitConfig(sd);
    const c = this.cfg;
    this.pe0 = convBn(sd, `${P}patch_embed.seq.0`, 2, 1);
    this.pe2 = convBn(sd, `${P}patch_embed.seq.2`, 2, 1);
    for (let i = 0; i < c.depths.length; i++) {
      const L = `${P}layers.${i}.`;
      const blocks: TvBlock[] = [];
      for (let j = 0; j < c.depths[i]; j++) {
        const b = `${L}blocks.${j}.`;
        if (i === 0) {
          const hid = need(sd, `${b}conv1.c.weight`).shape[0];
          this.stage0.push({
            c1: convBn(sd, `${b}conv1`, 1, 0),
            c2: convBn(sd, `${b}conv2`, 1, 1, hid),
            c3: convBn(sd, `${b}conv3`, 1, 0),
          });
        } else {
          const ab = need(sd, `${b}attn.attention_biases`);
          const [heads, nOff] = ab.shape;
          const ws = c.windowSizes[i];
          const dim = c.embedDims[i];
          blocks.push({
            norm: norm(sd, `${b}attn.norm`, 1e-5),
            qkv: linear(sd, `${b}attn.qkv`),
            proj: linear(sd, `${b}attn.proj`),
            bias: tf.tensor3d(attentionBiases(f32(ab), heads, nOff, ws), [heads, ws * ws, ws * ws]),
            heads,
            ws,
            local: convBn(sd, `${b}local_conv`, 1, 1, dim),
            mlpNorm: norm(sd, `${b}mlp.norm`, 1e-5),
            fc1: linear(sd, `${b}mlp.fc1`),
            fc2: linear(sd, `${b}mlp.fc2`),
          });
        }
      }
      this.stages.push(blocks);
      const ds = `${L}downsample.`;
      if (sd.has(`${ds}conv1.c.weight`)) {
        const out = need(sd, `${ds}conv1.c.weight`).shape[0];
        const stride = out === 320 || out === 448 || out === 576 ? 1 : 2;
        this.merges.push({
          c1: convBn(sd, `${ds}conv1`, 1, 0),
          c2: convBn(sd, `${ds}conv2`, stride, 1, out),
          c3: convBn(sd, `${ds}conv3`, 1, 0),
        });
      } else this.merges.push(null);
    }
    this.neck0 = conv(sd, `${P}neck.0`, 1, 0);
    this.neck1 = norm(sd, `${P}neck.1`, 1e-6);
    this.neck2 = conv(sd, `${P}neck.2`, 1, 1);
    this.neck3 = norm(sd, `${P}neck.3`, 1e-6);
  }

  /**
   * (1, 1024, 1024, 3) preprocessed → (1, 64, 64, 256). `onIntermediate` gets `patch_embed` and `layer_<i>`
   * (all NHWC grids; the reference stores tokens row-major over the same grid).
   */
  forward(x: tf.Tensor4D, onIntermediate?: (name: string, t: tf.Tensor) => void): tf.Tensor4D {
    let h = tf.tidy(() => applyConv(this.pe2, gelu(applyConv(this.pe0, x)) as tf.Tensor4D));
    onIntermediate?.("patch_embed", h);
    for (let i = 0; i < this.stages.length; i++) {
      if (i === 0) {
        for (const m of this.stage0) h = this.swap(h, (t) => this.mbconv(m, t));
      } else {
        for (const b of this.stages[i]) h = this.swap(h, (t) => this.block(b, t));
      }
      const mg = this.merges[i];
      if (mg) h = this.swap(h, (t) => this.merge(mg, t));
      onIntermediate?.(`layer_${i}`, h);
    }
    const out = tf.tidy(() => {
      const y = layerNorm(this.neck1, applyConv(this.neck0, h)) as tf.Tensor4D;
      return layerNorm(this.neck3, applyConv(this.neck2, y)) as tf.Tensor4D;
    });
    h.dispose();
    return out;
  }

  private swap(h: tf.Tensor4D, f: (t: tf.Tensor4D) => tf.Tensor4D): tf.Tensor4D {
    const n = tf.tidy(() => f(h));
    h.dispose();
    return n;
  }

  private mbconv(m: MbConv, x: tf.Tensor4D): tf.Tensor4D {
    let y = gelu(applyConv(m.c1, x)) as tf.Tensor4D;
    y = gelu(applyConv(m.c2, y)) as tf.Tensor4D;
    y = applyConv(m.c3, y);
    return gelu(tf.add(y, x)) as tf.Tensor4D;
  }

  private merge(m: Merge, x: tf.Tensor4D): tf.Tensor4D {
    let y = gelu(applyConv(m.c1, x)) as tf.Tensor4D;
    y = gelu(applyConv(m.c2, y)) as tf.Tensor4D;
    return applyConv(m.c3, y);
  }

  private block(b: TvBlock, x: tf.Tensor4D): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    const ws = b.ws;
    let y: tf.Tensor4D = x;
    const pb = (ws - (H % ws)) % ws, pr = (ws - (W % ws)) % ws;
    if (pb || pr) y = tf.pad(y, [[0, 0], [0, pb], [0, pr], [0, 0]]);
    const Hp = H + pb, Wp = W + pr;
    const win = y.reshape([B * (Hp / ws), ws, Wp / ws, ws * C]).transpose([0, 2, 1, 3]).reshape([-1, ws * ws, C]);
    let a = this.attention(b, win as tf.Tensor3D);
    a = a.reshape([B * (Hp / ws), Wp / ws, ws, ws * C]).transpose([0, 2, 1, 3]).reshape([B, Hp, Wp, C]);
    if (pb || pr) a = tf.slice(a, [0, 0, 0, 0], [B, H, W, C]);
    let h = applyConv(b.local, tf.add(x, a) as tf.Tensor4D);
    const m = applyLinear(b.fc2, gelu(applyLinear(b.fc1, layerNorm(b.mlpNorm, h))));
    h = tf.add(h, m) as tf.Tensor4D;
    return h;
  }

  private attention(b: TvBlock, x: tf.Tensor3D): tf.Tensor {
    const [Bw, N, C] = x.shape;
    const nh = b.heads, kd = C / nh;
    const qkv = applyLinear(b.qkv, layerNorm(b.norm, x)).reshape([Bw, N, nh, 3 * kd]);
    const [q, k, v] = tf.split(qkv, 3, 3).map((t) => t.transpose([0, 2, 1, 3])); // (Bw, nh, N, kd)
    const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), Math.pow(kd, -0.5)), b.bias));
    const o = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([Bw, N, C]);
    return applyLinear(b.proj, o);
  }
}

/** MobileSAM's cached `ab = attention_biases[:, idxs]`: (heads, n_offsets) → (heads, N, N) over a ws x ws window. */
export function attentionBiases(ab: Float32Array, heads: number, nOff: number, ws: number): Float32Array {
  const N = ws * ws;
  const offsets = new Map<number, number>();
  const idxs = new Int32Array(N * N);
  for (let p1 = 0; p1 < N; p1++) {
    for (let p2 = 0; p2 < N; p2++) {
      const key = Math.abs(Math.floor(p1 / ws) - Math.floor(p2 / ws)) * 100000 + Math.abs((p1 % ws) - (p2 % ws));
      if (!offsets.has(key)) offsets.set(key, offsets.size);
      idxs[p1 * N + p2] = offsets.get(key)!;
    }
  }
  const out = new Float32Array(heads * N * N);
  for (let h = 0; h < heads; h++) for (let i = 0; i < N * N; i++) out[h * N * N + i] = ab[h * nOff + idxs[i]];
  return out;
}
