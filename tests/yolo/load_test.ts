/** loadYoloModel: scale/yaml names, .pt checkpoints (names, nc), and one-line errors for bad inputs. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend } from "../../lib/backend/mod.ts";
import { UserError } from "../../lib/util/errors.ts";
import { loadYoloModel } from "../../lib/yolo/load.ts";
import { saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { fixture, hasFixture } from "../fixtures.ts";

await initBackend();

Deno.test("a scale or yaml name gives a fresh model", async () => {
  const m = await loadYoloModel("yolov8n-seg.yaml", { nc: 3, names: { 0: "a", 1: "b", 2: "c" } });
  assert.equal(m.scale, "n");
  assert.equal(m.nc, 3);
  assert.equal(m.names[2], "c");
  m.dispose();
  const d = await loadYoloModel("n");
  assert.equal(d.nc, 80); // ultralytics' yaml default
  d.dispose();
});

Deno.test({
  name: "ultralytics checkpoint: nc, names and every tensor loaded (nc80 reference)",
  ignore: !hasFixture("reference/yolo/seg_n_nc80.pt"),
  async fn() {
    const m = await loadYoloModel(fixture("reference/yolo/seg_n_nc80.pt"), { verbose: false });
    assert.equal(m.nc, 80);
    assert.equal(Object.keys(m.names).length, 80);
    assert.equal(m.parameterCount(), 3409968);
    m.dispose();
  },
});

Deno.test("missing or corrupt files raise a UserError naming the file", async () => {
  await assert.rejects(() => loadYoloModel("no/such/file.pt"), UserError);
  const dir = await Deno.makeTempDir();
  const bad = path.join(dir, "bad.pt");
  await Deno.writeFile(bad, new Uint8Array([1, 2, 3, 4]));
  await assert.rejects(() => loadYoloModel(bad), (e: Error) => e instanceof UserError && e.message.includes(bad));
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "project checkpoint (safetensors + json) round trip keeps every tensor and the names",
  ignore: !hasFixture("reference/yolo/seg_n_nc1.pt"),
  async fn() {
    const ref = await loadYoloModel(fixture("reference/yolo/seg_n_nc1.pt"), { verbose: false });
    const dir = await Deno.makeTempDir();
    const base = path.join(dir, "ck");
    const sd = ref.stateDict();
    await saveCheckpoint(base, sd, { names: ["character"] });
    const m = await loadYoloModel(base, { verbose: false });
    assert.equal(m.names[0], "character");
    const back = m.stateDict();
    for (const [k, v] of sd) assert.deepEqual(back.get(k)!.data, v.data, k);
    m.dispose();
    ref.dispose();
    await Deno.remove(dir, { recursive: true });
  },
});
