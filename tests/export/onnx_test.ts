/** ONNX export + onnxruntime engine: graph validity and metadata, parity with the reference forward outputs, engine choice. */
import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import { fixture, hasFixture, ROOT } from "../fixtures.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { exportYoloSegOnnx } from "../../lib/export/onnx.ts";
import { loadStateDict } from "../../lib/io/torch.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { ortAvailable, OrtSegEngine } from "../../lib/engine/ort.ts";
import { openEngine } from "../../lib/engine/mod.ts";

const { onnx } = onnxProto;
const CASE = "reference/forward/f1_bus_rect256";
const CKPT = "reference/yolo/seg_n_nc1.pt";
const have = hasFixture(CASE) && hasFixture(CKPT);

Deno.test({
  name: "onnx export: graph, opset, outputs and ultralytics-style metadata",
  ignore: !have,
  fn: async () => {
    const sd = await loadStateDict(fixture(CKPT));
    const { bytes, info } = exportYoloSegOnnx(sd, { imgsz: [256, 192], names: ["character"] });
    const m = onnx.ModelProto.decode(bytes);
    const graph = m.graph as InstanceType<typeof onnx.GraphProto>;
    assert.equal(Number(m.opsetImport![0].version), 13);
    assert.deepEqual(graph.input!.map((v) => v.name), ["images"]);
    assert.deepEqual(graph.output!.map((v) => v.name), ["output0", "output1"]);
    const dims = graph.output![0].type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
    assert.deepEqual(dims, [1, 4 + 1 + 32, 32 * 24 + 16 * 12 + 8 * 6]);
    assert.equal(info.numAnchors, 1008);
    const meta = Object.fromEntries(m.metadataProps!.map((p) => [p.key, p.value]));
    assert.equal(meta.task, "segment");
    assert.equal(meta.stride, "32");
    assert.equal(meta.names, "{0: 'character'}");
    assert.equal(meta.imgsz, "[256, 192]");
    // BatchNorm folded: no BatchNormalization nodes
    assert.ok(!graph.node!.some((n) => n.opType === "BatchNormalization"));
  },
});

async function compareWithReference(dynamic: boolean) {
  const sd = await loadStateDict(fixture(CKPT));
  const inp = await readNpy(fixture(CASE, "input.npy"));
  const [, , H, W] = inp.shape;
  const { bytes } = exportYoloSegOnnx(sd, { imgsz: [H, W], dynamic });
  const eng = await OrtSegEngine.open(bytes, { nc: 1 });
  // the engine takes HWC input: transpose the reference NCHW tensor
  const chw = inp.data as Float32Array, hwc = new Float32Array(chw.length);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) hwc[i * 3 + c] = chw[c * H * W + i];
  const out = await eng.runArrays(hwc, 1, H, W);
  await eng.dispose();
  const ref = await readNpy(fixture(CASE, "eval_pred.npy"));
  const [, C, A] = ref.shape;
  assert.equal(out.A, A);
  assert.equal(out.C, C);
  const r = ref.data as Float32Array;
  let coefScale = 1;
  for (let c = 5; c < C; c++) for (let a = 0; a < A; a++) coefScale = Math.max(coefScale, Math.abs(r[c * A + a]));
  let worstBox = 0, worstScore = 0, worstCoef = 0;
  for (let c = 0; c < C; c++) {
    for (let a = 0; a < A; a++) {
      const ours = out.pred[a * C + c], want = r[c * A + a];
      const d = Math.abs(ours - want);
      if (c < 4) worstBox = Math.max(worstBox, d - (0.05 + 2e-4 * Math.abs(want)));
      else if (c < 5) worstScore = Math.max(worstScore, d);
      else worstCoef = Math.max(worstCoef, d);
    }
  }
  assert.ok(worstBox <= 0, `box error exceeds 0.05 px + 2e-4|ref| by ${worstBox}`);
  assert.ok(worstScore <= 3e-4, `score maxabs ${worstScore}`);
  assert.ok(worstCoef <= 1e-3 * coefScale, `coef maxabs ${worstCoef}`);
  const pr = await readNpy(fixture(CASE, "eval_proto.npy"));
  const [, nm, ph, pw] = pr.shape;
  const p = pr.data as Float32Array, proto = out.protos[0];
  let scale = 1, worst = 0;
  for (let c = 0; c < nm; c++) {
    for (let i = 0; i < ph * pw; i++) {
      const want = p[c * ph * pw + i];
      scale = Math.max(scale, Math.abs(want));
      worst = Math.max(worst, Math.abs(proto.data[i * nm + c] - want));
    }
  }
  assert.ok(worst <= 1e-3 * scale, `proto maxabs ${worst} (scale ${scale})`);
}

Deno.test({
  name: "onnx export run by onnxruntime matches ultralytics' eval outputs (static shapes)",
  ignore: !have || !(await ortAvailable()),
  fn: () => compareWithReference(false),
});

Deno.test({
  name: "onnx export run by onnxruntime matches ultralytics' eval outputs (dynamic shapes)",
  ignore: !have || !(await ortAvailable()),
  fn: () => compareWithReference(true),
});

Deno.test({
  name: "engine choice: auto picks ort and caches the export; tfjs on request",
  ignore: !have || !(await ortAvailable()),
  fn: async () => {
    await initBackend();
    const cache = await Deno.makeTempDir();
    Deno.env.set("ANIMESEG_CACHE", cache);
    try {
      const a = await openEngine(fixture(CKPT), { engine: "auto", imgsz: [256, 192] });
      assert.equal(a.engine, "ort");
      assert.ok(a.onnxFile && a.onnxFile.startsWith(cache), `cached in ${a.onnxFile}`);
      const mtime = (await Deno.stat(a.onnxFile!)).mtime?.getTime();
      await a.dispose();
      const b = await openEngine(fixture(CKPT), { engine: "auto", imgsz: [256, 192] });
      assert.equal((await Deno.stat(b.onnxFile!)).mtime?.getTime(), mtime, "second open reuses the cached file");
      await b.dispose();
      const t = await openEngine(fixture(CKPT), { engine: "tfjs" });
      assert.equal(t.engine, "tfjs");
      assert.equal(t.ort, null);
      await t.dispose();
    } finally {
      Deno.env.delete("ANIMESEG_CACHE");
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "engine choice: without onnxruntime-node, auto falls back to tfjs and ort fails with a clear message",
  ignore: !have,
  fn: async () => {
    const script = `
      import { initBackend } from "${ROOT}/lib/backend/mod.ts";
      import { openEngine } from "${ROOT}/lib/engine/mod.ts";
      await initBackend();
      const e = await openEngine(${JSON.stringify(fixture(CKPT))}, { engine: "auto" });
      console.log("ENGINE", e.engine, e.note);
      await e.dispose();
      try { await openEngine(${JSON.stringify(fixture(CKPT))}, { engine: "ort" }); console.log("ORT-OK"); }
      catch (err) { console.log("ORT-ERR", (err as Error).message); }
      Deno.exit(0);`;
    const file = await Deno.makeTempFile({ dir: ROOT, prefix: ".enginecheck_", suffix: ".ts" });
    try {
      await Deno.writeTextFile(file, script);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", file],
        env: { ANIMESEG_NO_ORT: "1", NO_COLOR: "1" },
        cwd: ROOT,
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.match(text, /ENGINE tfjs onnxruntime-node unavailable \(disabled by ANIMESEG_NO_ORT=1\)/);
      assert.match(text, /ORT-ERR onnxruntime-node unavailable/);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "predict with engine=ort gives the same detections as engine=tfjs on real images (pretrained checkpoint)",
  ignore: !hasFixture("pretrained/yolov8n-seg-coco.pt") || !hasFixture("coco128-seg") || !(await ortAvailable()),
  fn: async () => {
    await initBackend();
    const { predict } = await import("../../lib/yolo/predict.ts");
    const { decodeImage } = await import("../../lib/image/mod.ts");
    const imgs = await Promise.all(
      ["000000000009", "000000000025", "000000000034"].map((s) =>
        decodeImage(fixture("coco128-seg", "images", "train2017", `${s}.jpg`))
      ),
    );
    const t = await openEngine(fixture("pretrained/yolov8n-seg-coco.pt"), { engine: "tfjs" });
    const cache = await Deno.makeTempDir();
    Deno.env.set("ANIMESEG_CACHE", cache);
    const o = await openEngine(fixture("pretrained/yolov8n-seg-coco.pt"), { engine: "ort", imgsz: [320, 320] });
    try {
      const a = await predict(t.model, imgs, { imgsz: 320, conf: 0.25 });
      const b = await predict(o.ort!, imgs, { imgsz: 320, conf: 0.25 });
      let total = 0;
      for (let i = 0; i < imgs.length; i++) {
        assert.equal(b[i].n, a[i].n, `image ${i}: detection count`);
        assert.deepEqual(Array.from(b[i].cls), Array.from(a[i].cls));
        for (let k = 0; k < a[i].boxes.length; k++) assert.ok(Math.abs(a[i].boxes[k] - b[i].boxes[k]) < 0.1);
        for (let k = 0; k < a[i].n; k++) assert.ok(Math.abs(a[i].conf[k] - b[i].conf[k]) < 3e-4);
        total += a[i].n;
      }
      assert.ok(total > 0, "the real checkpoint finds objects");
    } finally {
      await o.dispose();
      await t.dispose();
      Deno.env.delete("ANIMESEG_CACHE");
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "the exported ONNX of the real pretrained checkpoint matches the tfjs model on the forward fixtures' input",
  ignore: !hasFixture("pretrained/yolov8n-seg-coco.pt") || !hasFixture("reference/forward/f1_bus_rect256") ||
    !(await ortAvailable()),
  fn: async () => {
    await initBackend();
    const { loadYoloModel } = await import("../../lib/yolo/load.ts");
    const { tf } = await import("../../lib/backend/mod.ts");
    const model = await loadYoloModel(fixture("pretrained/yolov8n-seg-coco.pt"), { verbose: false });
    try {
      const inp = await readNpy(fixture("reference/forward/f1_bus_rect256/input.npy"));
      const [B, , H, W] = inp.shape;
      const chw = inp.data as Float32Array, hwc = new Float32Array(chw.length);
      for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) hwc[i * 3 + c] = chw[c * H * W + i];
      const out = model.forward(tf.tensor4d(hwc, [B, H, W, 3]), { train: false });
      const tfPred = (await out.pred.data()) as Float32Array, tfProto = (await out.proto.data()) as Float32Array;
      tf.dispose(out as unknown as import("@tensorflow/tfjs").TensorContainer);
      const { bytes } = exportYoloSegOnnx(model.stateDict(), { imgsz: [H, W] });
      const eng = await OrtSegEngine.open(bytes, { nc: model.nc });
      const o = await eng.runArrays(hwc, B, H, W);
      await eng.dispose();
      assert.equal(o.pred.length, tfPred.length);
      const C = o.C;
      let box = 0, score = 0, coef = 0, coefScale = 1;
      for (let i = 0; i < tfPred.length; i++) {
        const k = i % C, d = Math.abs(o.pred[i] - tfPred[i]);
        if (k < 4) box = Math.max(box, d / (0.05 + 2e-4 * Math.abs(tfPred[i])));
        else if (k < 4 + model.nc) score = Math.max(score, d);
        else (coef = Math.max(coef, d), coefScale = Math.max(coefScale, Math.abs(tfPred[i])));
      }
      assert.ok(box <= 1, `box error ratio ${box}`);
      assert.ok(score <= 3e-4, `score maxabs ${score}`);
      assert.ok(coef <= 1e-3 * coefScale, `coef maxabs ${coef}`);
      let proto = 0, pScale = 1;
      for (let i = 0; i < tfProto.length; i++) {
        proto = Math.max(proto, Math.abs(o.protos[0].data[i] - tfProto[i]));
        pScale = Math.max(pScale, Math.abs(tfProto[i]));
      }
      assert.ok(proto <= 1e-3 * pScale, `proto maxabs ${proto}`);
    } finally {
      model.dispose();
    }
  },
});
