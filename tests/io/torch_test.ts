/**
 * The torch.save reader: the reference checkpoints load bit-identical to their dumps (npy and SHA-256 paths), the
 * ultralytics metadata matches models.json, SAM model.pth files match weights/keys.json, hand-built archives with
 * strided / offset / fp16 / int64 / bool / fp64 storages give hand-computed values, bad files give UserErrors.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { zipSync } from "fflate";
import { fixture, hasFixture } from "../fixtures.ts";
import { loadStateDict, loadUltralyticsCheckpoint, readTorchFile, type TensorRecord } from "../../lib/io/torch.ts";
import { UserError } from "../../lib/util/errors.ts";
import { compareWithRefKeys, readRefKeys } from "../../tools/parity/yolo.ts";

const YOLO = "reference/yolo";

Deno.test({
  name: "torch: seg_n_nc1.pt (ema, fp16) is bit-identical to its .npy dump and to its digests",
  ignore: !hasFixture(`${YOLO}/seg_n_nc1_sd/keys.json`),
  fn: async () => {
    const ck = await loadUltralyticsCheckpoint(fixture(YOLO, "seg_n_nc1.pt"));
    const keys = await readRefKeys(fixture(YOLO, "seg_n_nc1_sd", "keys.json"));
    const viaNpy = await compareWithRefKeys(ck.stateDict, keys);
    assert.deepEqual(viaNpy.problems, []);
    assert.equal(viaNpy.identical, 417);
    assert.equal(viaNpy.viaNpy, 417);
    // same checkpoint, checked through the float32 / raw SHA-256 digests only
    const viaHash = await compareWithRefKeys(ck.stateDict, keys.map((k) => ({ ...k, npy: undefined })));
    assert.deepEqual(viaHash.problems, []);
    assert.equal(viaHash.identical, 417);
    // raw stored bytes too (fp16 narrowed back from float32 must be exact)
    const viaRaw = await compareWithRefKeys(
      ck.stateDict,
      keys.map((k) => ({ ...k, npy: undefined, sha256AsFloat32: undefined })),
    );
    assert.equal(viaRaw.identical, 417);

    const models = JSON.parse(await Deno.readTextFile(fixture(YOLO, "models.json")));
    const ref = models.seg_n_nc1;
    assert.equal(ck.source, "ema");
    assert.equal(ck.nc, ref.nc);
    assert.deepEqual(ck.names, Object.values(ref.names));
    assert.deepEqual(ck.yaml, ref.yaml);
    assert.equal(ck.trainArgs?.task, "detect");
    const params = [...ck.stateDict].filter(([k]) => !/running_|num_batches/.test(k))
      .reduce((a, [, t]) => a + t.data.length, 0);
    assert.equal(params, ref.n_params);
    const t = ck.stateDict.get("model.0.conv.weight")!;
    assert.deepEqual(t.shape, [16, 3, 3, 3]);
    assert.equal(t.dtype, "float16");
    assert.ok(t.data instanceof Float32Array);
  },
});

Deno.test({
  name: "torch: plain state_dict file and the nc80 checkpoint match their references",
  ignore: !hasFixture(`${YOLO}/seg_n_nc80_sd/keys.json`) || !hasFixture(`${YOLO}/seg_n_nc1_state_dict.pt`),
  fn: async () => {
    const sd = await loadStateDict(fixture(YOLO, "seg_n_nc1_state_dict.pt"));
    const c1 = await compareWithRefKeys(sd, await readRefKeys(fixture(YOLO, "seg_n_nc1_sd", "keys.json")));
    assert.deepEqual(c1.problems, []);
    assert.equal(c1.identical, 417);
    const ck = await loadUltralyticsCheckpoint(fixture(YOLO, "seg_n_nc80.pt"));
    const c80 = await compareWithRefKeys(ck.stateDict, await readRefKeys(fixture(YOLO, "seg_n_nc80_sd", "keys.json")));
    assert.deepEqual(c80.problems, []);
    assert.equal(c80.identical, 417);
    assert.equal(c80.viaHash, 417);
    assert.equal(ck.nc, 80);
    assert.equal(ck.stateDict.get("model.0.bn.num_batches_tracked")?.dtype, "int64");
    // loadStateDict on a trainer checkpoint takes the same path (ema)
    const sd80 = await loadStateDict(fixture(YOLO, "seg_n_nc80.pt"));
    assert.deepEqual([...sd80.keys()], [...ck.stateDict.keys()]);
  },
});

Deno.test({
  name: "torch: pretrained yolov8n-seg-coco.pt (model, ema None) loads with COCO names",
  ignore: !hasFixture("pretrained/yolov8n-seg-coco.pt"),
  fn: async () => {
    const ck = await loadUltralyticsCheckpoint(fixture("pretrained", "yolov8n-seg-coco.pt"));
    assert.equal(ck.source, "model");
    assert.equal(ck.epoch, -1);
    assert.equal(ck.nc, 80);
    assert.equal(ck.names.length, 80);
    assert.equal(ck.names[0], "person");
    assert.equal(ck.names[79], "toothbrush");
    assert.equal(ck.stateDict.size, 417);
    const params = [...ck.stateDict].filter(([k]) => !/running_|num_batches/.test(k))
      .reduce((a, [, t]) => a + t.data.length, 0);
    assert.equal(params, 3409968);
    assert.deepEqual(ck.stateDict.get("model.22.cv4.0.2.weight")?.shape, [32, 32, 1, 1]);
  },
});

for (const model of ["vit_tiny", "mobilesam_tiny"]) {
  Deno.test({
    name: `torch: SAM ${model}/model.pth is bit-identical to weights/keys.json`,
    ignore: !hasFixture(`reference/sam/${model}/weights/keys.json`),
    fn: async () => {
      const sd = await loadStateDict(fixture("reference/sam", model, "model.pth"));
      const keys = await readRefKeys(fixture("reference/sam", model, "weights", "keys.json"));
      const c = await compareWithRefKeys(sd, keys);
      assert.deepEqual(c.problems, []);
      assert.equal(c.identical, keys.length);
      assert.ok(c.viaNpy > 0);
      assert.ok(!sd.has("image_encoder.pixel_mean") && !sd.has("pixel_mean"));
    },
  });
}

// ---- hand-built archives ----

function pk(...parts: (string | number | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === "number" ? Uint8Array.of(p) : typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p
  );
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
function str(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return pk(0x58, ...new Uint8Array(new Uint32Array([b.length]).buffer), b);
}
const int = (n: number) => pk("J", new Uint8Array(new Int32Array([n]).buffer));
const tuple = (xs: number[]) => pk("(", ...xs.map(int), "t");
/** _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict()) */
function tensor(cls: string, key: string, numel: number, offset: number, size: number[], stride: number[]) {
  return pk(
    "ctorch._utils\n_rebuild_tensor_v2\n(",
    pk("(", str("storage"), `ctorch\n${cls}\n`, str(key), str("cpu"), int(numel), "tQ"),
    int(offset),
    tuple(size),
    tuple(stride),
    0x89,
    "ccollections\nOrderedDict\n)R",
    "tR",
  );
}
function archive(prefix: string, pkl: Uint8Array, storages: Record<string, ArrayBufferView>): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    [`${prefix}/data.pkl`]: [pkl, { level: 0 }],
    [`${prefix}/version`]: [new TextEncoder().encode("3\n"), { level: 0 }],
  };
  for (const [k, v] of Object.entries(storages)) {
    files[`${prefix}/data/${k}`] = [new Uint8Array(v.buffer, v.byteOffset, v.byteLength), { level: 0 }];
  }
  return zipSync(files);
}

async function withFile(bytes: Uint8Array, fn: (file: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "torch_test_" });
  const file = path.join(dir, "x.pt");
  await Deno.writeFile(file, bytes);
  try {
    await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("torch: strided views, storage offsets, fp16/int64/bool/fp64 storages, parameters, any prefix", async () => {
  const pkl = pk(
    0x80,
    2,
    "}(",
    str("transposed"),
    tensor("FloatStorage", "0", 6, 0, [2, 3], [1, 2]),
    str("offset"),
    tensor("FloatStorage", "0", 6, 2, [2], [1]),
    str("stepped"),
    tensor("FloatStorage", "0", 6, 1, [2], [3]),
    str("param"),
    pk("ctorch._utils\n_rebuild_parameter\n(", tensor("FloatStorage", "0", 6, 0, [3, 2], [2, 1]), 0x88, "}tR"),
    str("half"),
    tensor("HalfStorage", "1", 4, 0, [2, 2], [2, 1]),
    str("long0d"),
    tensor("LongStorage", "2", 2, 1, [], []),
    str("bool"),
    tensor("BoolStorage", "3", 3, 0, [3], [1]),
    str("double"),
    tensor("DoubleStorage", "4", 2, 0, [2], [1]),
    str("v3half"),
    pk(
      "ctorch._utils\n_rebuild_tensor_v3\n(",
      pk("(", str("storage"), "ctorch\nUntypedStorage\n", str("5"), str("cpu"), int(6), "tQ"),
      int(1),
      tuple([2]),
      tuple([1]),
      0x89,
      "ccollections\nOrderedDict\n)R",
      "ctorch\nfloat16\n",
      "tR",
    ),
    str("size"),
    pk("ctorch\nSize\n(", tuple([4, 5]), "tR"),
    "u.",
  );
  const bytes = archive("weird name", pkl, {
    "0": new Float32Array([0, 1, 2, 3, 4, 5]),
    "1": new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]), // 1, -2, 0.5, 65504
    "2": new BigInt64Array([5n, -7n]),
    "3": Uint8Array.of(1, 0, 1),
    "4": new Float64Array([1.5, 2.25]),
    "5": new Uint16Array([0x0000, 0x4000, 0xbc00]), // untyped bytes of float16 0, 2, -1
  });
  await withFile(bytes, async (file) => {
    const v = await readTorchFile(file) as Map<string, TensorRecord>;
    const get = (k: string) => v.get(k)!;
    assert.deepEqual(get("transposed").shape, [2, 3]);
    assert.deepEqual([...get("transposed").data as Float32Array], [0, 2, 4, 1, 3, 5]);
    assert.deepEqual([...get("offset").data as Float32Array], [2, 3]);
    assert.deepEqual([...get("stepped").data as Float32Array], [1, 4]);
    assert.deepEqual([...get("param").data as Float32Array], [0, 1, 2, 3, 4, 5]);
    assert.equal(get("half").dtype, "float16");
    assert.deepEqual([...get("half").data as Float32Array], [1, -2, 0.5, 65504]);
    assert.deepEqual(get("long0d").shape, []);
    assert.deepEqual([...get("long0d").data as BigInt64Array], [-7n]);
    assert.equal(get("bool").dtype, "bool");
    assert.deepEqual([...get("bool").data as Uint8Array], [1, 0, 1]);
    assert.ok(get("double").data instanceof Float64Array);
    assert.deepEqual([...get("double").data as Float64Array], [1.5, 2.25]);
    assert.deepEqual(v.get("size"), [4, 5]);
    assert.equal(get("v3half").dtype, "float16");
    assert.deepEqual([...get("v3half").data as Float32Array], [2, -1]); // offset 1 in float16 elements
    const sd = await loadStateDict(file).catch((e) => e);
    assert.ok(sd instanceof UserError, "a dict with a non-tensor entry is not a state_dict");
  });
});

Deno.test("torch: legacy (torch < 1.6) stream with a storage view", async () => {
  const magic = pk(0x80, 2, 0x8a, 10, Uint8Array.of(0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19), ".");
  const version = pk(0x80, 2, "M", 0xe9, 0x03, ".");
  const sysInfo = pk(0x80, 2, "}(", str("little_endian"), 0x88, "u.");
  const ref = (view: Uint8Array) =>
    pk("(", str("storage"), "ctorch\nFloatStorage\n", str("140"), str("cpu"), int(6), view, "tQ");
  const rebuild = (pid: Uint8Array, offset: number, size: number[], stride: number[]) =>
    pk("ctorch._utils\n_rebuild_tensor_v2\n(", pid, int(offset), tuple(size), tuple(stride), 0x89, "}tR");
  const main = pk(
    0x80,
    2,
    "}(",
    str("w"),
    rebuild(ref(pk("N")), 0, [3, 2], [1, 3]),
    str("v"),
    rebuild(ref(pk("(", str("140"), int(4), int(2), "t")), 1, [1], [1]),
    "u.",
  );
  const keys = pk(0x80, 2, "](", str("140"), "e.");
  const data = pk(
    new Uint8Array(new BigInt64Array([6n]).buffer),
    new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer),
  );
  await withFile(pk(magic, version, sysInfo, main, keys, data), async (file) => {
    const v = await readTorchFile(file) as Map<string, TensorRecord>;
    assert.deepEqual(v.get("w")?.shape, [3, 2]);
    assert.deepEqual([...v.get("w")!.data as Float32Array], [0, 3, 1, 4, 2, 5]);
    assert.deepEqual([...v.get("v")!.data as Float32Array], [5]); // view at element 4, tensor offset 1
    const sd = await loadStateDict(file);
    assert.deepEqual([...sd.keys()], ["w", "v"]);
  });
  await withFile(pk(magic, version, sysInfo, main, keys, data.subarray(0, 20)), async (file) => {
    await assert.rejects(() => readTorchFile(file), /truncated legacy torch\.save/);
  });
});

Deno.test("torch: bad files give one-line UserErrors naming the file", async () => {
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("hello world"), /not a torch\.save file/],
    [pk(0x80, 2, 0x8a, 10), /legacy/],
    [pk(0x80, 2, "K", 5, "."), /magic number/],
    [zipSync({ "a/other.txt": new Uint8Array(3) }), /no data\.pkl/],
    [archive("a", pk(0x80, 2, tensor("FloatStorage", "9", 4, 0, [4], [1]), "."), {}), /a\/data\/9 missing/],
    [
      archive("a", pk(0x80, 2, tensor("FloatStorage", "0", 4, 0, [100], [1]), "."), { "0": new Float32Array(4) }),
      /too short/,
    ],
    [archive("a", pk(0x80, 2, tensor("FloatStorage", "0", 4, 0, [4], [1])), { "0": new Float32Array(4) }), /truncated/],
    [
      archive("a", pk(0x80, 2, tensor("QInt8Storage", "0", 4, 0, [4], [1]), "."), { "0": new Float32Array(4) }),
      /storage type/,
    ],
    [pk("PK", 3, 4, "garbage garbage garbage"), /corrupt zip|no data\.pkl/],
  ];
  for (const [bytes, re] of cases) {
    await withFile(bytes, async (file) => {
      const err = await readTorchFile(file).then(() => undefined, (e) => e);
      assert.ok(err instanceof UserError, `expected UserError for ${re}, got ${err}`);
      assert.ok(err.message.startsWith(file), err.message);
      assert.match(err.message, re);
      assert.ok(!err.message.includes("\n"));
    });
  }
  const missing = await readTorchFile("/nonexistent/x.pt").then(() => undefined, (e) => e);
  assert.ok(missing instanceof UserError);
});
