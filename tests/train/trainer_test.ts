/** Trainer: run layout, guards, and SIGKILL mid-epoch + resume = the uninterrupted run's final weights (same seed). */
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { buildModel, train } from "../../lib/train/trainer.ts";
import { saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { YoloSegModel } from "../../lib/yolo/model.ts";
import { UserError } from "../../lib/util/errors.ts";
import { makeTinyDataset } from "./tiny_data.ts";

await initBackend();

const base = { model: "n", epochs: 2, imgsz: 64, batch: 2, seed: 3, val: false, quiet: true };

Deno.test("trainer: empty training split fails before training", async () => {
  const dir = await Deno.makeTempDir();
  const yaml = await makeTinyDataset(dir, 2, 64);
  for (const f of ["im0.txt", "im1.txt"]) await Deno.remove(path.join(dir, "labels", "train", f));
  await assert.rejects(() => train({ ...base, data: yaml, project: dir, name: "x" }), UserError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "trainer: SIGKILL mid-epoch then resume gives the uninterrupted run's weights",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const yaml = await makeTinyDataset(dir, 6, 64); // 3 batches per epoch
    // the model's own create/dispose may keep a few tensors; the trainer builds two models (train + EMA eval)
    let t0 = tf.memory().numTensors;
    YoloSegModel.create({ scale: "n", nc: 2 }).dispose();
    const perModel = tf.memory().numTensors - t0;
    t0 = tf.memory().numTensors;
    const ref = await train({ ...base, data: yaml, project: dir, name: "ref" });
    assert.equal(tf.memory().numTensors - t0, 2 * perModel, "training leaked tensors");
    const csv = await Deno.readTextFile(path.join(ref.runDir, "results.csv"));
    assert.equal(csv.trim().split("\n").length, 3);
    assert.ok((await Deno.stat(path.join(ref.runDir, "train_batch0.png"))).size > 100);
    const args = JSON.parse(await Deno.readTextFile(path.join(ref.runDir, "args.json")));
    assert.equal(args.seed, 3);
    assert.ok(typeof args.backend === "string" && typeof args.commit === "string");

    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./train_child.ts", import.meta.url).pathname, yaml, dir, "killed"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let killed = false;
    while (!killed) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      if (buf.includes("batch 1 0")) {
        child.kill("SIGKILL"); // second epoch, after its first batch: mid-epoch
        killed = true;
      }
    }
    await reader.cancel().catch(() => {});
    const st = await child.status;
    assert.ok(killed && !st.success, "child was not killed mid-epoch");
    const runDir = path.join(dir, "killed");
    const before = JSON.parse(await Deno.readTextFile(path.join(runDir, "weights", "last_state.json")));
    assert.equal(before.epochsDone, 1);

    const resumed = await train({ resume: runDir, quiet: true });
    const a = await loadCheckpoint(ref.last), b = await loadCheckpoint(resumed.last);
    assert.equal(a.stateDict.size, b.stateDict.size);
    let maxDiff = 0;
    for (const [k, ra] of a.stateDict) {
      const rb = b.stateDict.get(k)!;
      for (let i = 0; i < ra.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(Number(ra.data[i]) - Number(rb.data[i])));
      }
    }
    assert.equal(maxDiff, 0, `final weights differ by ${maxDiff}`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "transfer: shape-matching tensors kept, init_cls_from copies the checkpoint's class rows",
  fn: async () => {
    // an s-scale 80-class checkpoint: the class branch width (128) does not depend on nc, so whole rows transfer
    const dir = await Deno.makeTempDir();
    const src = YoloSegModel.create({ scale: "s", nc: 80 });
    const sd = src.stateDict();
    src.dispose();
    await saveCheckpoint(path.join(dir, "s80"), sd, { names: Array.from({ length: 80 }, (_, i) => `c${i}`) });
    const m = await buildModel(path.join(dir, "s80"), 2, ["a", "b"], 5, true);
    const out = m.stateDict();
    m.dispose();
    assert.deepEqual(out.get("model.0.conv.weight")!.data, sd.get("model.0.conv.weight")!.data);
    assert.deepEqual(out.get("model.22.cv3.1.0.conv.weight")!.data, sd.get("model.22.cv3.1.0.conv.weight")!.data);
    for (const i of [0, 1, 2]) {
      const w = sd.get(`model.22.cv3.${i}.2.weight`)!, b = sd.get(`model.22.cv3.${i}.2.bias`)!;
      const per = w.data.length / 80;
      const ow = out.get(`model.22.cv3.${i}.2.weight`)!, ob = out.get(`model.22.cv3.${i}.2.bias`)!;
      assert.deepEqual(ow.shape, [2, ...w.shape.slice(1)]);
      for (const c of [0, 1]) {
        assert.deepEqual(
          Array.from((ow.data as Float32Array).subarray(c * per, (c + 1) * per)),
          Array.from((w.data as Float32Array).subarray(5 * per, 6 * per)),
        );
        assert.equal(ob.data[c], b.data[5]);
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});
