// SamPredictor.predict on every vit_tiny prompt case (points, box, box+point, mask input, single/multi, logits)
// from the fixture embedding, against the reference outputs.
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { readNpySync, toNumbers } from "../../lib/io/npy.ts";
import { SamModel } from "../../lib/sam/model.ts";
import { SamPredictor } from "../../lib/sam/predictor.ts";
import { fixture, hasFixture } from "../fixtures.ts";

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

const DIR = fixture("reference/sam/vit_tiny/truck");

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, mr = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    mr = Math.max(mr, Math.abs(b[i]));
  }
  return m / mr;
}

Deno.test({
  name: "SamPredictor.predict reproduces every vit_tiny prompt case",
  ignore: !hasFixture("reference/sam/vit_tiny/truck/meta.json"),
  async fn() {
    await initBackend();
    const before = tf.memory().numTensors;
    const model = await SamModel.load(path.dirname(DIR));
    const meta = JSON.parse(Deno.readTextFileSync(path.join(DIR, "meta.json")));
    const e = readNpySync(path.join(DIR, "image_embedding.npy"));
    const emb = tf.tidy(() =>
      tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]).transpose([0, 2, 3, 1])
    ) as tf.Tensor4D;
    const p = new SamPredictor(model);
    p.setEmbedding(emb, meta.original_size);
    let n = 0;
    for (const pc of meta.prompt_cases) {
      const pd = path.join(DIR, "prompts", pc.name);
      const mi = path.join(pd, "mask_input.npy");
      const maskInput = exists(mi) ? toNumbers(readNpySync(mi)) as Float32Array : undefined;
      const out = p.predict({
        points: pc.inputs.point_coords ?? undefined,
        labels: pc.inputs.point_labels ?? undefined,
        box: pc.inputs.box ?? undefined,
        maskInput,
        multimask: pc.multimask_output,
        returnLogits: true,
      });
      const C = pc.multimask_output ? 3 : 1;
      assert.equal(out.masks.length, C);
      const iouRef = toNumbers(readNpySync(path.join(pd, "iou_predictions.npy")));
      for (let c = 0; c < C; c++) assert.ok(Math.abs(out.iou[c] - iouRef[c]) <= 1e-4, `${pc.name} iou ${c}`);
      const low = toNumbers(readNpySync(path.join(pd, "low_res_logits.npy")));
      const q = low.length / C;
      for (let c = 0; c < C; c++) assert.ok(relErr(out.lowRes[c], low.subarray(c * q, (c + 1) * q)) <= 1e-4);
      const masks = toNumbers(readNpySync(path.join(pd, "masks.npy")));
      const HW = out.masks[0].length;
      for (let c = 0; c < C; c++) {
        let nd = 0;
        for (let i = 0; i < HW; i++) if (out.masks[c][i] !== masks[c * HW + i]) nd++;
        assert.ok(nd / HW <= 1e-3, `${pc.name} mask ${c}: ${nd} px differ`);
      }
      const fr = path.join(pd, "mask_logits_fullres.npy");
      if (exists(fr)) {
        assert.ok(relErr(out.logits![0], toNumbers(readNpySync(fr))) <= 1e-4, `${pc.name} fullres`);
      }
      n++;
    }
    assert.ok(n >= 9, `only ${n} prompt cases`);
    p.reset();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  },
});
