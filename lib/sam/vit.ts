/**
 * SAM's ViT image encoder (ImageEncoderViT) in tfjs, NHWC: 16x16 patch embedding + absolute pos_embed, transformer
 * blocks with windowed or global attention and decomposed relative positions, neck to the prompt dimension.
 * Configuration is inferred from tensor shapes (see `inferVitConfig`).
 */
import { tf } from "../backend/mod.ts";
import {
  applyConv,
  applyLinear,
  type Conv,
  conv,
  gelu,
  layerNorm,
  type Linear,
  linear,
  type Norm,
  norm,
} from "./layers.ts";
import { f32, need, type StateDict } from "./weights.ts";
import { UserError } from "../util/errors.ts";

/** Shape-inferred configuration of a ViT encoder. */
export interface VitConfig {
  imgSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  /** window size per block; 0 = global attention */
  windows: number[];
  mlpDim: number;
  outChans: number;
}

const P = "image_encoder.";

/** Infer the ViT configuration from state_dict shapes (README rules). */
export function inferVitConfig(sd: StateDict): VitConfig {
  const pe = need(sd, `${P}pos_embed`).shape; // (1, S/16, S/16, D)
  const grid = pe[1];
  const imgSize = 16 * grid;
  const embedDim = need(sd, `${P}patch_embed.proj.weight`).shape[0];
  let depth = 0;
  while (sd.has(`${P}blocks.${depth}.norm1.weight`)) depth++;
  if (depth === 0) throw new UserError("ViT checkpoint has no image_encoder.blocks.*");
  const headDim = need(sd, `${P}blocks.0.attn.rel_pos_h`).shape[1];
  const windows: number[] = [];
  for (let i = 0; i < depth; i++) {
    const l = need(sd, `${P}blocks.${i}.attn.rel_pos_h`).shape[0];
    windows.push(l === 2 * grid - 1 ? 0 : (l + 1) / 2);
  }
  return {
    imgSize,
    embedDim,
    depth,
    numHeads: embedDim / headDim,
    windows,
    mlpDim: need(sd, `${P}blocks.0.mlp.lin1.weight`).shape[0],
    outChans: need(sd, `${P}neck.0.weight`).shape[0],
  };
}

/**
 * Relative position table for q_size x k_size (SAM get_rel_pos): linear-interpolates rel_pos (L, C) to
 * 2*max(q,k)-1 rows when needed (F.interpolate linear, align_corners=False), then gathers → (q, k, C).
 */
export function relPosTable(rel: Float32Array, L: number, C: number, q: number, k: number): Float32Array {
  const maxDist = 2 * Math.max(q, k) - 1;
  let table = rel;
  if (L !== maxDist) {
    table = new Float32Array(maxDist * C);
    const scale = L / maxDist;
    for (let i = 0; i < maxDist; i++) {
      let src = (i + 0.5) * scale - 0.5;
      if (src < 0) src = 0;
      const i0 = Math.floor(src);
      const i1 = Math.min(i0 + 1, L - 1);
      const l1 = src - i0, l0 = 1 - l1;
      for (let c = 0; c < C; c++) table[i * C + c] = Math.fround(l0 * rel[i0 * C + c] + l1 * rel[i1 * C + c]);
    }
  }
  const out = new Float32Array(q * k * C);
  const qs = Math.max(k / q, 1), ks = Math.max(q / k, 1);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < k; b++) {
      const idx = Math.trunc(a * qs - b * ks + (k - 1) * ks);
      out.set(table.subarray(idx * C, idx * C + C), (a * k + b) * C);
    }
  }
  return out;
}

interface VitBlock {
  norm1: Norm;
  norm2: Norm;
  qkv: Linear;
  proj: Linear;
  lin1: Linear;
  lin2: Linear;
  window: number;
  /** transposed relative tables (size, C, size) for batched matmul */
  relH: tf.Tensor3D;
  relW: tf.Tensor3D;
}

/** Image encoder with weights on the tfjs backend. */
export class VitEncoder {
  readonly cfg: VitConfig;
  private patch: Conv;
  private pos: tf.Tensor4D;
  private blocks: VitBlock[] = [];
  private neck0: Conv;
  private neck1: Norm;
  private neck2: Conv;
  private neck3: Norm;

  /** Input side S. */
  get imgSize(): number {
    return this.cfg.imgSize;
  }

  constructor(sd: StateDict) {
    this.cfg = inferVitConfig(sd);
    const c = this.cfg;
    const grid = c.imgSize / 16;
    const headDim = c.embedDim / c.numHeads;
    this.patch = conv(sd, `${P}patch_embed.proj`, 16, 0);
    this.pos = tf.tensor4d(f32(need(sd, `${P}pos_embed`)), [1, grid, grid, c.embedDim]);
    for (let i = 0; i < c.depth; i++) {
      const b = `${P}blocks.${i}.`;
      const size = c.windows[i] > 0 ? c.windows[i] : grid;
      const rh = need(sd, `${b}attn.rel_pos_h`), rw = need(sd, `${b}attn.rel_pos_w`);
      const th = relPosTable(f32(rh), rh.shape[0], headDim, size, size);
      const tw = relPosTable(f32(rw), rw.shape[0], headDim, size, size);
      this.blocks.push({
        norm1: norm(sd, `${b}norm1`, 1e-6),
        norm2: norm(sd, `${b}norm2`, 1e-6),
        qkv: linear(sd, `${b}attn.qkv`),
        proj: linear(sd, `${b}attn.proj`),
        lin1: linear(sd, `${b}mlp.lin1`),
        lin2: linear(sd, `${b}mlp.lin2`),
        window: c.windows[i],
        relH: tf.tidy(() => tf.tensor3d(th, [size, size, headDim]).transpose([0, 2, 1]) as tf.Tensor3D),
        relW: tf.tidy(() => tf.tensor3d(tw, [size, size, headDim]).transpose([0, 2, 1]) as tf.Tensor3D),
      });
    }
    this.neck0 = conv(sd, `${P}neck.0`, 1, 0);
    this.neck1 = norm(sd, `${P}neck.1`, 1e-6);
    this.neck2 = conv(sd, `${P}neck.2`, 1, 1);
    this.neck3 = norm(sd, `${P}neck.3`, 1e-6);
  }

  /** Patch embedding (before pos_embed): (1,S,S,3) normalised+padded → (1,S/16,S/16,D). */
  patchEmbed(x: tf.Tensor4D): tf.Tensor4D {
    return applyConv(this.patch, x);
  }

  /**
   * Run the encoder on a preprocessed (B,S,S,3) input. `onIntermediate(name, t)` receives `patch_embed` and
   * `block_<i>` (NHWC); the callback must not keep the tensor beyond its call unless it clones it.
   * Returns the neck output (B, S/16, S/16, outChans).
   */
  forward(x: tf.Tensor4D, onIntermediate?: (name: string, t: tf.Tensor) => void): tf.Tensor4D {
    let h = tf.tidy(() => {
      const p = this.patchEmbed(x);
      onIntermediate?.("patch_embed", p);
      return tf.add(p, this.pos) as tf.Tensor4D;
    });
    for (let i = 0; i < this.blocks.length; i++) {
      const nh = tf.tidy(() => this.block(this.blocks[i], h));
      h.dispose();
      h = nh;
      onIntermediate?.(`block_${i}`, h);
    }
    const out = tf.tidy(() => {
      let y = layerNorm(this.neck1, applyConv(this.neck0, h)) as tf.Tensor4D;
      y = layerNorm(this.neck3, applyConv(this.neck2, y)) as tf.Tensor4D;
      return y;
    });
    h.dispose();
    return out;
  }

  private block(blk: VitBlock, x: tf.Tensor4D): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    let y = layerNorm(blk.norm1, x) as tf.Tensor4D;
    const ws = blk.window;
    let Hp = H, Wp = W;
    if (ws > 0) {
      const ph = (ws - (H % ws)) % ws, pw = (ws - (W % ws)) % ws;
      if (ph || pw) y = tf.pad(y, [[0, 0], [0, ph], [0, pw], [0, 0]]);
      Hp = H + ph;
      Wp = W + pw;
      y = y.reshape([B * (Hp / ws), ws, Wp / ws, ws * C]).transpose([0, 2, 1, 3]).reshape([-1, ws, ws, C]);
    }
    y = this.attention(blk, y);
    if (ws > 0) {
      y = y.reshape([B * (Hp / ws), Wp / ws, ws, ws * C]).transpose([0, 2, 1, 3]).reshape([B, Hp, Wp, C]);
      if (Hp !== H || Wp !== W) y = tf.slice(y, [0, 0, 0, 0], [B, H, W, C]);
    }
    const x1 = tf.add(x, y);
    const m = applyLinear(blk.lin2, gelu(applyLinear(blk.lin1, layerNorm(blk.norm2, x1))));
    return tf.add(x1, m) as tf.Tensor4D;
  }

  /**
   * Bytes one chunk of attention logits may take; queries are processed in grid-row chunks under this budget so
   * global attention at 1024 px (12-16 heads x 4096 x 4096) fits the wasm heap. Results do not depend on it.
   */
  static attnBudgetBytes = 64 * 1024 * 1024;

  /** Multi-head attention with decomposed relative positions over (B', h, w, C) tokens. */
  private attention(blk: VitBlock, x: tf.Tensor4D): tf.Tensor4D {
    const [B, h, w, C] = x.shape;
    const nH = this.cfg.numHeads, hd = C / nH, N = h * w;
    const qkv = applyLinear(blk.qkv, x.reshape([B, N, C])); // (B, N, 3*C) ordered (3, nH, hd)
    // split q, k, v → (B*nH, N, hd)
    const [q, k, v] = tf.split(qkv, 3, 2).map((t) =>
      t.reshape([B, N, nH, hd]).transpose([0, 2, 1, 3]).reshape([B * nH, N, hd])
    );
    const scale = 1 / Math.sqrt(hd);
    const BB = B * nH;
    // decomposed relative positions from the unscaled q: relH (BB, h, w, kh), relW (BB, h, w, kw)
    const rq = q.reshape([BB, h, w, hd]);
    const relH = tf.matMul(rq.transpose([1, 0, 2, 3]).reshape([h, BB * w, hd]), blk.relH)
      .reshape([h, BB, w, h]).transpose([1, 0, 2, 3]);
    const relW = tf.matMul(rq.transpose([2, 0, 1, 3]).reshape([w, BB * h, hd]), blk.relW)
      .reshape([w, BB, h, w]).transpose([1, 2, 0, 3]);
    const qs = tf.mul(q, scale);
    // k transposed once: wasm's BatchMatMul with transposeB is several times slower for long key sequences
    const kT = tf.transpose(k, [0, 2, 1]);
    const outs: tf.Tensor[] = [];
    if (BB <= 16 && N >= 1024) {
      // few heads, long sequences (global attention): head by head with 2-D matmuls (wasm's batched matmul is far
      // slower there), query rows in chunks so the logits stay under the memory budget
      const rowsPerChunk = Math.max(1, Math.min(h, Math.floor(VitEncoder.attnBudgetBytes / (w * N * 4))));
      const heads: tf.Tensor[] = [];
      for (let b = 0; b < BB; b++) {
        heads.push(tf.tidy(() => {
          const qh = tf.slice(qs, [b, 0, 0], [1, N, hd]).reshape([N, hd]);
          const kh = tf.slice(kT, [b, 0, 0], [1, hd, N]).reshape([hd, N]) as tf.Tensor2D;
          const vh = tf.slice(v, [b, 0, 0], [1, N, hd]).reshape([N, hd]) as tf.Tensor2D;
          const rhh = tf.slice(relH, [b, 0, 0, 0], [1, h, w, h]).reshape([N, h, 1]);
          const rwh = tf.slice(relW, [b, 0, 0, 0], [1, h, w, w]).reshape([N, 1, w]);
          const parts: tf.Tensor[] = [];
          for (let r0 = 0; r0 < h; r0 += rowsPerChunk) {
            const nq = Math.min(rowsPerChunk, h - r0) * w;
            parts.push(tf.tidy(() => {
              const qc = tf.slice(qh, [r0 * w, 0], [nq, hd]) as tf.Tensor2D;
              const bias = tf.add(tf.slice(rhh, [r0 * w, 0, 0], [nq, h, 1]), tf.slice(rwh, [r0 * w, 0, 0], [nq, 1, w]));
              const attn = tf.add(tf.matMul(qc, kh), bias.reshape([nq, N]));
              return tf.matMul(tf.softmax(attn) as tf.Tensor2D, vh); // (nq, hd)
            }));
          }
          return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
        }));
      }
      outs.push(tf.stack(heads));
    } else {
      const rowsPerChunk = Math.max(1, Math.min(h, Math.floor(VitEncoder.attnBudgetBytes / (BB * w * N * 4))));
      for (let r0 = 0; r0 < h; r0 += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, h - r0);
        outs.push(tf.tidy(() => {
          const nq = rows * w;
          const qc = rows === h ? qs : tf.slice(qs, [0, r0 * w, 0], [BB, nq, hd]);
          const attn = tf.matMul(qc, kT); // (BB, nq, N)
          const rh = rows === h ? relH : tf.slice(relH, [0, r0, 0, 0], [BB, rows, w, h]);
          const rw = rows === h ? relW : tf.slice(relW, [0, r0, 0, 0], [BB, rows, w, w]);
          const bias = tf.add(rh.reshape([BB * nq, h, 1]), rw.reshape([BB * nq, 1, w])).reshape([BB, nq, N]);
          return tf.matMul(tf.softmax(tf.add(attn, bias)), v); // (BB, nq, hd)
        }));
      }
    }
    const o = (outs.length === 1 ? outs[0] : tf.concat(outs, 1)).reshape([B, nH, N, hd]).transpose([0, 2, 1, 3])
      .reshape([B, h, w, C]);
    return applyLinear(blk.proj, o) as tf.Tensor4D;
  }
}
