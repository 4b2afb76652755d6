/** safetensors encoding (hand-computed bytes), the project checkpoint round trip, loadAnyWeights dispatch. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { encodeSafetensors, parseSafetensors, readSafetensors } from "../../lib/io/safetensors.ts";
import { loadAnyWeights, loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { loadUltralyticsCheckpoint, type StateDict } from "../../lib/io/torch.ts";
import { UserError } from "../../lib/util/errors.ts";
import { compareWithRefKeys, readRefKeys } from "../../tools/parity/yolo.ts";

async function tmpDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "ckpt_test_" });
}

Deno.test("safetensors: exact bytes of a one-tensor file", () => {
  const sd: StateDict = new Map([["w", { shape: [2], dtype: "float32", data: new Float32Array([1, -2]) }]]);
  const bytes = encodeSafetensors(sd);
  const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  '; // 54 bytes + 2 spaces of padding
  assert.equal(json.length, 56);
  const expect = new Uint8Array(8 + 56 + 8);
  expect[0] = 56;
  expect.set(new TextEncoder().encode(json), 8);
  expect.set([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0], 64); // 1.0f, -2.0f little-endian
  assert.deepEqual(bytes, expect);
});

Deno.test("safetensors: reads a file laid out like the Python library's (sorted header, metadata, F16/I64/BOOL)", () => {
  // header keys in alphabetical order, data in a different order; F16 1.0 = 0x3c00, -0.5 = 0xb800
  const header = JSON.stringify({
    __metadata__: { format: "pt" },
    a: { dtype: "I64", shape: [], data_offsets: [4, 12] },
    b: { dtype: "F16", shape: [1, 2], data_offsets: [0, 4] },
    c: { dtype: "BOOL", shape: [3], data_offsets: [12, 15] },
  });
  const hb = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + hb.length + 15);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
  bytes.set(hb, 8);
  bytes.set([0x00, 0x3c, 0x00, 0xb8, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 1], 8 + hb.length);
  const { stateDict, metadata } = parseSafetensors(bytes, "x.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...stateDict.keys()], ["b", "a", "c"]); // data order
  assert.deepEqual(stateDict.get("b"), { shape: [1, 2], dtype: "float16", data: new Float32Array([1, -0.5]) });
  assert.deepEqual([...stateDict.get("a")!.data as BigInt64Array], [-7n]);
  assert.deepEqual(stateDict.get("c"), { shape: [3], dtype: "bool", data: Uint8Array.of(1, 0, 1) });
  // re-encoding keeps F16 on disk: 2 + 8 + 3 data bytes
  const again = encodeSafetensors(stateDict);
  const n = Number(new DataView(again.buffer).getBigUint64(0, true));
  assert.equal(again.length - 8 - n, 15);
});

Deno.test("safetensors: malformed files give UserErrors naming the file", () => {
  const good = encodeSafetensors(new Map([["w", { shape: [2], dtype: "float32", data: new Float32Array(2) }]]));
  const bad: [Uint8Array, RegExp][] = [
    [good.subarray(0, 5), /shorter than 8/],
    [good.subarray(0, good.length - 1), /outside/],
    [Uint8Array.of(255, 255, 255, 255, 0, 0, 0, 0, 0), /header length/],
    [
      (() => {
        const b = good.slice();
        b[8] = 0x5b; // '[' breaks the JSON
        return b;
      })(),
      /not valid JSON|not a JSON object/,
    ],
  ];
  for (const [b, re] of bad) {
    assert.throws(() => parseSafetensors(b, "bad.safetensors"), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^bad\.safetensors: /);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("checkpoint: save/load round trip keeps order, dtypes, bits and meta; atomic (no temp files)", async () => {
  const dir = await tmpDir();
  try {
    const sd: StateDict = new Map();
    sd.set("z.weight", { shape: [2, 2], dtype: "float32", data: new Float32Array([0.1, -0, NaN, 3e38]) });
    sd.set("a.half", { shape: [3], dtype: "float16", data: new Float32Array([65504, 2 ** -24, -1.5]) });
    sd.set("m.bn.num_batches_tracked", { shape: [], dtype: "int64", data: new BigInt64Array([5n]) });
    sd.set("flags", { shape: [2], dtype: "bool", data: Uint8Array.of(0, 1) });
    sd.set("d", { shape: [1], dtype: "float64", data: new Float64Array([Math.PI]) });
    sd.set("empty", { shape: [0, 4], dtype: "float32", data: new Float32Array(0) });
    const meta = { names: ["girl", "boy"], nc: 2, metrics: { "mAP50-95(M)": 0.5 }, meta: { note: "é" } };
    const base = path.join(dir, "sub", "last");
    await saveCheckpoint(base, sd, meta);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(path.join(dir, "sub")))).map((e) => e.name).sort(), [
      "last.json",
      "last.safetensors",
    ]);
    for (const p of [base, `${base}.safetensors`, `${base}.json`]) {
      const back = await loadCheckpoint(p);
      assert.deepEqual([...back.stateDict.keys()], [...sd.keys()]);
      for (const [k, t] of sd) {
        const u = back.stateDict.get(k)!;
        assert.deepEqual(u.shape, t.shape);
        assert.equal(u.dtype, t.dtype);
        assert.deepEqual(
          new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
          new Uint8Array(t.data.buffer),
        );
      }
      assert.deepEqual(back.meta.names, meta.names);
      assert.deepEqual(back.meta.metrics, meta.metrics);
      assert.deepEqual(back.meta.meta, meta.meta);
      assert.equal(back.meta.format, "animeseg-checkpoint");
      assert.equal(back.meta.tensors, 6);
    }
    // fp16 stays 2 bytes per value on disk
    const st = await readSafetensors(`${base}.safetensors`);
    assert.equal(st.metadata.format, "animeseg-checkpoint");
    const missing = await loadCheckpoint(path.join(dir, "nope")).then(() => undefined, (e) => e);
    assert.ok(missing instanceof UserError);
    assert.match(missing.message, /not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "checkpoint: seg_n_nc1.pt → own format → back is still bit-identical to the reference; loadAnyWeights",
  ignore: !hasFixture("reference/yolo/seg_n_nc1_sd/keys.json") || !hasFixture("reference/sam/vit_tiny/model.pth"),
  fn: async () => {
    const dir = await tmpDir();
    try {
      const src = fixture("reference/yolo/seg_n_nc1.pt");
      const ck = await loadUltralyticsCheckpoint(src);
      const base = path.join(dir, "best");
      await saveCheckpoint(base, ck.stateDict, { names: ck.names, nc: ck.nc, yaml: ck.yaml, trainArgs: ck.trainArgs });
      const keys = await readRefKeys(fixture("reference/yolo/seg_n_nc1_sd/keys.json"));
      const any = await loadAnyWeights(`${base}.safetensors`);
      assert.equal(any.format, "animeseg");
      const c = await compareWithRefKeys(any.stateDict, keys);
      assert.deepEqual(c.problems, []);
      assert.equal(c.identical, 417);
      assert.deepEqual(any.meta.yaml, ck.yaml);
      // 3,263,811 params in fp16 + running stats: well under the fp32 size
      const size = (await Deno.stat(`${base}.safetensors`)).size;
      assert.ok(size < 7_000_000, `size ${size}`);

      const pt = await loadAnyWeights(src);
      assert.equal(pt.format, "ultralytics");
      assert.equal(pt.meta.nc, 1);
      assert.equal(pt.meta.source, "ema");
      const pth = await loadAnyWeights(fixture("reference/sam/vit_tiny/model.pth"));
      assert.equal(pth.format, "torch");
      assert.equal(pth.stateDict.size, 202);
      const bad = await loadAnyWeights(path.join(dir, "x.onnx")).then(() => undefined, (e) => e);
      assert.ok(bad instanceof UserError);
      assert.match(bad.message, /unknown weights format/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
