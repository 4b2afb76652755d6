// SAM parity subset against the reference fixtures: the whole `sam` parity category on the ViT fixture model
// (weights, resize, encoder, prompts, decoder, masks, AMG), and the TinyViT (MobileSAM) encoder + one decoder case.
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { readNpySync, toNumbers } from "../../lib/io/npy.ts";
import { category } from "../../tools/parity/sam.ts";
import { SamModel } from "../../lib/sam/model.ts";
import { SamPredictor } from "../../lib/sam/predictor.ts";
import { preprocess, type RgbImage } from "../../lib/sam/transforms.ts";
import { inferVitConfig } from "../../lib/sam/vit.ts";
import { loadNpyFolder, loadSamStateDict } from "../../lib/sam/weights.ts";
import { fixture, hasFixture } from "../fixtures.ts";

const REF = fixture("reference");
const VIT = fixture("reference/sam/vit_tiny");
const TINY = fixture("reference/sam/mobilesam_tiny");

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, mr = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    mr = Math.max(mr, Math.abs(b[i]));
  }
  return m / mr;
}

function img(file: string): RgbImage {
  const a = readNpySync(file);
  return { data: a.data as Uint8Array, height: a.shape[0], width: a.shape[1] };
}

Deno.test({
  name: "sam parity category: every vit_tiny case passes (README tolerances)",
  ignore: !hasFixture("reference/sam/vit_tiny/config.json"),
  async fn() {
    await initBackend();
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    let fail = 0, pass = 0;
    for await (const r of category.run(REF, { engine: "tfjs", extra: { models: "vit_tiny", amg: "amg_crop0" } })) {
      if (r.verdict === "FAIL") {
        fail++;
        lines.push(`${r.name} ${r.detail}`);
      }
      if (r.verdict === "PASS") pass++;
    }
    assert.equal(fail, 0, lines.join("\n"));
    assert.ok(pass >= 90, `only ${pass} cases passed`);
    assert.equal(tf.memory().numTensors, before, "tensor leak");
  },
});

Deno.test({
  name: "config inference from shapes matches vit_tiny/config.json",
  ignore: !hasFixture("reference/sam/vit_tiny/config.json"),
  fn() {
    const cfg = JSON.parse(Deno.readTextFileSync(path.join(VIT, "config.json")));
    const c = inferVitConfig(loadNpyFolder(path.join(VIT, "weights")));
    assert.equal(c.imgSize, cfg.img_size);
    assert.equal(c.embedDim, cfg.encoder_embed_dim);
    assert.equal(c.depth, cfg.encoder_depth);
    assert.equal(c.numHeads, cfg.encoder_num_heads);
    assert.deepEqual(
      c.windows.map((w, i) => (w === 0 ? i : -1)).filter((i) => i >= 0),
      cfg.encoder_global_attn_indexes,
    );
    assert.equal(c.outChans, cfg.prompt_embed_dim);
  },
});

Deno.test({
  name: "MobileSAM (TinyViT) embedding and point_fg_multi decoder vs fixtures",
  ignore: !hasFixture("reference/sam/mobilesam_tiny/model.pth"),
  async fn() {
    await initBackend();
    const before = tf.memory().numTensors;
    const model = await SamModel.load(TINY);
    assert.equal(model.kind, "tinyvit");
    const dir = path.join(TINY, "groceries_wide");
    const x = preprocess(img(path.join(dir, "input_resized.npy")), model.imgSize);
    const emb = model.encoder.forward(x);
    x.dispose();
    const ref = readNpySync(path.join(dir, "image_embedding.npy"));
    const ours = tf.tidy(() => emb.transpose([0, 3, 1, 2]).dataSync());
    const r = rel(ours, toNumbers(ref));
    assert.ok(r <= 2e-4, `embedding rel ${r}`);
    // decoder from our embedding through the predictor API (end to end tolerances)
    const meta = JSON.parse(Deno.readTextFileSync(path.join(dir, "meta.json")));
    const pred = new SamPredictor(model);
    pred.setEmbedding(emb, meta.original_size);
    const pc = meta.prompt_cases.find((p: { name: string }) => p.name === "point_fg_multi");
    const out = pred.predict({ points: pc.inputs.point_coords, labels: pc.inputs.point_labels, multimask: true });
    const iouRef = toNumbers(readNpySync(path.join(dir, "prompts/point_fg_multi/iou_predictions.npy")));
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(out.iou[i] - iouRef[i]) <= 5e-4);
    const low = toNumbers(readNpySync(path.join(dir, "prompts/point_fg_multi/low_res_logits.npy")));
    const q = low.length / 3;
    for (let c = 0; c < 3; c++) assert.ok(rel(out.lowRes[c], low.subarray(c * q, (c + 1) * q)) <= 5e-4);
    const masks = toNumbers(readNpySync(path.join(dir, "prompts/point_fg_multi/masks.npy")));
    const HW = out.masks[0].length;
    for (let c = 0; c < 3; c++) {
      let nd = 0;
      for (let i = 0; i < HW; i++) if (out.masks[c][i] !== masks[c * HW + i]) nd++;
      assert.ok(nd / HW <= 1e-3, `mask ${c}: ${nd} px differ`);
    }
    pred.reset();
    model.dispose();
    assert.equal(tf.memory().numTensors, before, "tensor leak");
  },
});

Deno.test({
  name: "TinyViT config inference matches mobilesam_tiny/config.json",
  ignore: !hasFixture("reference/sam/mobilesam_tiny/config.json"),
  async fn() {
    const { inferTinyVitConfig } = await import("../../lib/sam/tinyvit.ts");
    const cfg = JSON.parse(Deno.readTextFileSync(path.join(TINY, "config.json")));
    const c = inferTinyVitConfig(await loadSamStateDict(path.join(TINY, "model.pth")));
    assert.deepEqual(c.embedDims, cfg.tinyvit_embed_dims);
    assert.deepEqual(c.depths, cfg.tinyvit_depths);
    assert.deepEqual(c.numHeads.slice(1), cfg.tinyvit_num_heads.slice(1));
    assert.deepEqual(c.windowSizes.slice(1), cfg.tinyvit_window_sizes.slice(1));
  },
});

Deno.test({
  name: "ViT attention in query-row chunks (as used for 1024 px global attention) gives the fixture embedding",
  ignore: !hasFixture("reference/sam/vit_tiny/truck/image_embedding.npy"),
  async fn() {
    await initBackend();
    const { VitEncoder } = await import("../../lib/sam/vit.ts");
    const model = await SamModel.load(VIT);
    const dir = path.join(VIT, "truck");
    const saved = VitEncoder.attnBudgetBytes;
    VitEncoder.attnBudgetBytes = 1; // one grid row per chunk
    try {
      const x = preprocess(img(path.join(dir, "input_resized.npy")), model.imgSize);
      const emb = model.encoder.forward(x);
      x.dispose();
      const ours = tf.tidy(() => emb.transpose([0, 3, 1, 2]).dataSync());
      emb.dispose();
      const r = rel(ours, toNumbers(readNpySync(path.join(dir, "image_embedding.npy"))));
      assert.ok(r <= 1e-4, `embedding rel ${r}`);
    } finally {
      VitEncoder.attnBudgetBytes = saved;
      model.dispose();
    }
  },
});
