/**
 * Random state_dicts with the official SAM architectures' key names and shapes (ViT-B/L/H, MobileSAM), for latency
 * benchmarks and shape/config tests without the real checkpoints. Values are small seeded noise: outputs mean nothing.
 */
import type { StateDict } from "./weights.ts";

/** Official architectures. */
export type SamArch = "vit_b" | "vit_l" | "vit_h" | "mobile_sam";

const VIT: Record<string, { dim: number; depth: number; heads: number; global: number[] }> = {
  vit_b: { dim: 768, depth: 12, heads: 12, global: [2, 5, 8, 11] },
  vit_l: { dim: 1024, depth: 24, heads: 16, global: [5, 11, 17, 23] },
  vit_h: { dim: 1280, depth: 32, heads: 16, global: [7, 15, 23, 31] },
};

/** Seeded random state_dict of an official architecture (img 1024, prompt dim 256, decoder mlp 2048). */
export function syntheticSamStateDict(arch: SamArch, seed = 1): StateDict {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const sd: StateDict = new Map();
  const put = (k: string, shape: number[], kind: "w" | "one" | "zero" | "pos" = "w") => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = kind === "one" ? 1 : kind === "zero" ? 0 : kind === "pos" ? 0.5 + rnd() : rnd() * 2 / Math.sqrt(fanIn);
    }
    sd.set(k, { shape, dtype: "float32", data });
  };
  const ln = (k: string, c: number) => {
    put(`${k}.weight`, [c], "one");
    put(`${k}.bias`, [c], "zero");
  };
  const lin = (k: string, o: number, i: number) => {
    put(`${k}.weight`, [o, i]);
    put(`${k}.bias`, [o], "zero");
  };
  const cbn = (k: string, o: number, i: number, ks: number) => {
    put(`${k}.c.weight`, [o, i, ks, ks]);
    put(`${k}.bn.weight`, [o], "one");
    put(`${k}.bn.bias`, [o], "zero");
    put(`${k}.bn.running_mean`, [o], "zero");
    put(`${k}.bn.running_var`, [o], "pos");
  };
  const E = "image_encoder.";
  if (arch === "mobile_sam") {
    const dims = [64, 128, 160, 320], depths = [2, 2, 6, 2], heads = [2, 4, 5, 10], ws = [7, 7, 14, 7];
    cbn(`${E}patch_embed.seq.0`, 32, 3, 3);
    cbn(`${E}patch_embed.seq.2`, 64, 32, 3);
    for (let l = 0; l < 4; l++) {
      const d = dims[l];
      for (let b = 0; b < depths[l]; b++) {
        const p = `${E}layers.${l}.blocks.${b}.`;
        if (l === 0) {
          cbn(`${p}conv1`, 4 * d, d, 1);
          cbn(`${p}conv2`, 4 * d, 1, 3);
          cbn(`${p}conv3`, d, 4 * d, 1);
        } else {
          put(`${p}attn.attention_biases`, [heads[l], ws[l] * ws[l]]);
          ln(`${p}attn.norm`, d);
          lin(`${p}attn.qkv`, 3 * d, d);
          lin(`${p}attn.proj`, d, d);
          ln(`${p}mlp.norm`, d);
          lin(`${p}mlp.fc1`, 4 * d, d);
          lin(`${p}mlp.fc2`, d, 4 * d);
          cbn(`${p}local_conv`, d, 1, 3);
        }
      }
      if (l < 3) {
        const o = dims[l + 1];
        cbn(`${E}layers.${l}.downsample.conv1`, o, d, 1);
        cbn(`${E}layers.${l}.downsample.conv2`, o, 1, 3);
        cbn(`${E}layers.${l}.downsample.conv3`, o, o, 1);
      }
    }
    put(`${E}neck.0.weight`, [256, 320, 1, 1]);
  } else {
    const v = VIT[arch];
    const hd = v.dim / v.heads;
    put(`${E}pos_embed`, [1, 64, 64, v.dim]);
    put(`${E}patch_embed.proj.weight`, [v.dim, 3, 16, 16]);
    put(`${E}patch_embed.proj.bias`, [v.dim], "zero");
    for (let b = 0; b < v.depth; b++) {
      const p = `${E}blocks.${b}.`;
      const size = v.global.includes(b) ? 64 : 14;
      ln(`${p}norm1`, v.dim);
      lin(`${p}attn.qkv`, 3 * v.dim, v.dim);
      lin(`${p}attn.proj`, v.dim, v.dim);
      put(`${p}attn.rel_pos_h`, [2 * size - 1, hd]);
      put(`${p}attn.rel_pos_w`, [2 * size - 1, hd]);
      ln(`${p}norm2`, v.dim);
      lin(`${p}mlp.lin1`, 4 * v.dim, v.dim);
      lin(`${p}mlp.lin2`, v.dim, 4 * v.dim);
    }
    put(`${E}neck.0.weight`, [256, v.dim, 1, 1]);
  }
  ln(`${E}neck.1`, 256);
  put(`${E}neck.2.weight`, [256, 256, 3, 3]);
  ln(`${E}neck.3`, 256);
  const P = "prompt_encoder.";
  put(`${P}pe_layer.positional_encoding_gaussian_matrix`, [2, 128]);
  for (let i = 0; i < 4; i++) put(`${P}point_embeddings.${i}.weight`, [1, 256]);
  put(`${P}not_a_point_embed.weight`, [1, 256]);
  put(`${P}no_mask_embed.weight`, [1, 256]);
  put(`${P}mask_downscaling.0.weight`, [4, 1, 2, 2]);
  put(`${P}mask_downscaling.0.bias`, [4], "zero");
  ln(`${P}mask_downscaling.1`, 4);
  put(`${P}mask_downscaling.3.weight`, [16, 4, 2, 2]);
  put(`${P}mask_downscaling.3.bias`, [16], "zero");
  ln(`${P}mask_downscaling.4`, 16);
  put(`${P}mask_downscaling.6.weight`, [256, 16, 1, 1]);
  put(`${P}mask_downscaling.6.bias`, [256], "zero");
  const D = "mask_decoder.";
  put(`${D}iou_token.weight`, [1, 256]);
  put(`${D}mask_tokens.weight`, [4, 256]);
  const attn = (k: string, internal: number) => {
    lin(`${k}.q_proj`, internal, 256);
    lin(`${k}.k_proj`, internal, 256);
    lin(`${k}.v_proj`, internal, 256);
    lin(`${k}.out_proj`, 256, internal);
  };
  for (let l = 0; l < 2; l++) {
    const p = `${D}transformer.layers.${l}.`;
    attn(`${p}self_attn`, 256);
    ln(`${p}norm1`, 256);
    attn(`${p}cross_attn_token_to_image`, 128);
    ln(`${p}norm2`, 256);
    lin(`${p}mlp.lin1`, 2048, 256);
    lin(`${p}mlp.lin2`, 256, 2048);
    ln(`${p}norm3`, 256);
    ln(`${p}norm4`, 256);
    attn(`${p}cross_attn_image_to_token`, 128);
  }
  attn(`${D}transformer.final_attn_token_to_image`, 128);
  ln(`${D}transformer.norm_final_attn`, 256);
  put(`${D}output_upscaling.0.weight`, [256, 64, 2, 2]);
  put(`${D}output_upscaling.0.bias`, [64], "zero");
  ln(`${D}output_upscaling.1`, 64);
  put(`${D}output_upscaling.3.weight`, [64, 32, 2, 2]);
  put(`${D}output_upscaling.3.bias`, [32], "zero");
  for (let i = 0; i < 4; i++) {
    lin(`${D}output_hypernetworks_mlps.${i}.layers.0`, 256, 256);
    lin(`${D}output_hypernetworks_mlps.${i}.layers.1`, 256, 256);
    lin(`${D}output_hypernetworks_mlps.${i}.layers.2`, 32, 256);
  }
  lin(`${D}iou_prediction_head.layers.0`, 256, 256);
  lin(`${D}iou_prediction_head.layers.1`, 256, 256);
  lin(`${D}iou_prediction_head.layers.2`, 4, 256);
  return sd;
}
