/**
 * Reading `torch.save` files (the zip container: `<prefix>/data.pkl` + `<prefix>/data/<key>` raw storages, and the
 * legacy torch < 1.6 pickle stream) through the safe pickle interpreter, into plain data with tensors as
 * `TensorRecord`s (C order, float16/bfloat16 widened to float32 exactly). Also state_dict extraction (plain files,
 * checkpoint dicts, pickled nn.Module trees) and the ultralytics trainer checkpoint (`ema` or `model`, names, yaml,
 * train args).
 */
import { unzipSync } from "fflate";
import { UserError } from "../util/errors.ts";
import { halfToFloat } from "./npy.ts";
import { PickleGlobal, PickleObject, type TorchTensorRef, unpickle, unpickleAt } from "./pickle.ts";

/** Element types a torch storage can hold here (`dtype` keeps the stored type; data may be widened). */
export type TensorDtype =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** Typed arrays a `TensorRecord` may carry: float16/bfloat16 → Float32Array, bool → Uint8Array (0/1). */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A tensor as data: `shape` (torch order, [] for 0-d), stored `dtype`, values in C order. */
export interface TensorRecord {
  shape: number[];
  dtype: TensorDtype;
  data: TensorData;
}

/** Parameter and buffer name → tensor, in state_dict order. */
export type StateDict = Map<string, TensorRecord>;

const STORAGE_DTYPES: Record<string, TensorDtype> = {
  "torch.FloatStorage": "float32",
  "torch.HalfStorage": "float16",
  "torch.BFloat16Storage": "bfloat16",
  "torch.DoubleStorage": "float64",
  "torch.LongStorage": "int64",
  "torch.IntStorage": "int32",
  "torch.ShortStorage": "int16",
  "torch.CharStorage": "int8",
  "torch.ByteStorage": "uint8",
  "torch.BoolStorage": "bool",
  "torch.UntypedStorage": "uint8",
  "torch.storage.UntypedStorage": "uint8",
};

/** Bytes per element of each stored dtype. */
export const DTYPE_BYTES: Record<TensorDtype, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** True when `v` is a `TensorRecord`. */
export function isTensorRecord(v: unknown): v is TensorRecord {
  return v !== null && typeof v === "object" && Array.isArray((v as TensorRecord).shape) &&
    typeof (v as TensorRecord).dtype === "string" && ArrayBuffer.isView((v as TensorRecord).data);
}

/** Number of elements of a shape ([] → 1). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

let HALF_TABLE: Float32Array | undefined;
/** Little-endian float16 bytes → Float32Array (exact, via a 65536-entry table). */
export function halfBytesToFloat32(bytes: Uint8Array): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    const bits = new Uint32Array(HALF_TABLE.buffer);
    for (let h = 0; h < 65536; h++) {
      // inf/NaN keep their payload bit-exactly; everything else is exact arithmetic
      if ((h & 0x7c00) === 0x7c00) bits[h] = ((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13);
      else HALF_TABLE[h] = halfToFloat(h);
    }
  }
  const n = bytes.byteLength >> 1;
  const out = new Float32Array(n);
  const t = HALF_TABLE;
  for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = t[bytes[j] | (bytes[j + 1] << 8)];
  return out;
}

function bf16BytesToFloat32(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >> 1;
  const u = new Uint32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 2) u[i] = (bytes[j] | (bytes[j + 1] << 8)) << 16;
  return new Float32Array(u.buffer);
}

/** Contiguous little-endian bytes of one dtype → the record's typed array (copies or views aligned bytes). */
export function bytesToTensorData(bytes: Uint8Array, dtype: TensorDtype): TensorData {
  const size = DTYPE_BYTES[dtype];
  const n = Math.floor(bytes.byteLength / size);
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const buf = aligned.buffer as ArrayBuffer, off = aligned.byteOffset;
  switch (dtype) {
    case "float16":
      return halfBytesToFloat32(bytes);
    case "bfloat16":
      return bf16BytesToFloat32(bytes);
    case "float32":
      return new Float32Array(buf, off, n);
    case "float64":
      return new Float64Array(buf, off, n);
    case "int64":
      return new BigInt64Array(buf, off, n);
    case "int32":
      return new Int32Array(buf, off, n);
    case "int16":
      return new Int16Array(buf, off, n);
    case "int8":
      return new Int8Array(buf, off, n);
    case "uint8":
    case "bool":
      return new Uint8Array(buf, off, n);
  }
}

interface StorageRef {
  dtype: TensorDtype;
  key: string;
  bytes: Uint8Array;
}

/** Gather the bytes of a strided view into C order. */
function gatherStrided(src: Uint8Array, size: number, offset: number, shape: number[], stride: number[]): Uint8Array {
  const n = numel(shape);
  const out = new Uint8Array(n * size);
  const nd = shape.length;
  const idx = new Array(nd).fill(0);
  let srcEl = offset;
  for (let i = 0; i < n; i++) {
    const s = srcEl * size;
    for (let b = 0; b < size; b++) out[i * size + b] = src[s + b];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      srcEl += stride[d];
      if (idx[d] < shape[d]) break;
      srcEl -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d];
  }
  return true;
}

const TORCH_DTYPES: Record<string, TensorDtype> = {
  "torch.float32": "float32",
  "torch.float": "float32",
  "torch.float16": "float16",
  "torch.half": "float16",
  "torch.bfloat16": "bfloat16",
  "torch.float64": "float64",
  "torch.double": "float64",
  "torch.int64": "int64",
  "torch.long": "int64",
  "torch.int32": "int32",
  "torch.int": "int32",
  "torch.int16": "int16",
  "torch.short": "int16",
  "torch.int8": "int8",
  "torch.uint8": "uint8",
  "torch.bool": "bool",
};

function materialise(ref: TorchTensorRef, file: string): TensorRecord {
  let st = ref.storage as StorageRef;
  if (!st || typeof st !== "object" || !("bytes" in st)) {
    throw new UserError(`tensor refers to a storage that is not in the archive`, file);
  }
  if (ref.dtype !== undefined) {
    // _rebuild_tensor_v3: an untyped storage viewed as `dtype`
    const dtype = TORCH_DTYPES[ref.dtype];
    if (!dtype) throw new UserError(`unsupported tensor dtype ${ref.dtype}`, file);
    st = { ...st, dtype };
  }
  const size = DTYPE_BYTES[st.dtype];
  const n = numel(ref.shape);
  if (ref.shape.length !== ref.stride.length) throw new UserError(`tensor shape/stride rank mismatch`, file);
  if (ref.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new UserError(`bad tensor shape [${ref.shape}]`, file);
  }
  let bytes: Uint8Array;
  if (n === 0) bytes = new Uint8Array(0);
  else if (isContiguous(ref.shape, ref.stride)) {
    const start = ref.offset * size, end = start + n * size;
    if (ref.offset < 0 || end > st.bytes.byteLength) {
      throw new UserError(`storage ${st.key} too short for a tensor of shape [${ref.shape}]`, file);
    }
    bytes = st.bytes.subarray(start, end);
  } else {
    let maxEl = ref.offset;
    for (let d = 0; d < ref.shape.length; d++) {
      if (ref.stride[d] < 0) throw new UserError(`negative stride in storage ${st.key}`, file);
      maxEl += (ref.shape[d] - 1) * ref.stride[d];
    }
    if (ref.offset < 0 || (maxEl + 1) * size > st.bytes.byteLength) {
      throw new UserError(`storage ${st.key} too short for a strided tensor of shape [${ref.shape}]`, file);
    }
    // stride-0 (expanded) views can describe far more elements than stored; refuse absurd blow-ups
    if (n * size > Math.max(16 * st.bytes.byteLength, 64 << 20)) {
      throw new UserError(`strided tensor of shape [${ref.shape}] is too large for storage ${st.key}`, file);
    }
    bytes = gatherStrided(st.bytes, size, ref.offset, ref.shape, ref.stride);
  }
  return { shape: [...ref.shape], dtype: st.dtype, data: bytesToTensorData(bytes, st.dtype) };
}

function byteswap(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let b = 0; b < size; b++) out[i + b] = bytes[i + size - 1 - b];
  return out;
}

/** Parse `torch.save` zip bytes; `file` names the source in errors. */
export function parseTorchBytes(bytes: Uint8Array, file: string): unknown {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    if (bytes[0] === 0x80) return parseLegacyTorch(bytes, file);
    throw new UserError(`not a torch.save file (neither a zip archive nor the legacy pickle format)`, file);
  }
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new UserError(`corrupt zip archive (${(e as Error).message})`, file);
  }
  const pklName = Object.keys(entries).find((k) => /^[^/]+\/data\.pkl$/.test(k)) ??
    Object.keys(entries).find((k) => k.endsWith("data.pkl"));
  if (!pklName) throw new UserError(`no data.pkl in the archive`, file);
  const prefix = pklName.slice(0, -"data.pkl".length);
  const order = entries[`${prefix}byteorder`];
  const bigEndian = order !== undefined && new TextDecoder().decode(order).trim() === "big";
  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 3) {
      throw new UserError(`unsupported persistent id in data.pkl`, file);
    }
    const cls = pid[1];
    const key = String(pid[2]);
    const dtype = cls instanceof PickleGlobal ? STORAGE_DTYPES[cls.$class] : undefined;
    if (!dtype) {
      throw new UserError(`unsupported storage type ${cls instanceof PickleGlobal ? cls.$class : String(cls)}`, file);
    }
    const cached = storages.get(key);
    if (cached) return cached;
    let raw = entries[`${prefix}data/${key}`];
    if (raw === undefined) throw new UserError(`storage ${prefix}data/${key} missing from the archive`, file);
    if (bigEndian && DTYPE_BYTES[dtype] > 1) raw = byteswap(raw, DTYPE_BYTES[dtype]);
    const st: StorageRef = { dtype, key, bytes: raw };
    storages.set(key, st);
    return st;
  };
  const tensors = new Map<TorchTensorRef, TensorRecord>();
  try {
    return unpickle(entries[pklName], {
      name: `${file}:${pklName}`,
      persistentLoad,
      rebuildTensor: (ref) => {
        let t = tensors.get(ref);
        if (!t) tensors.set(ref, t = materialise(ref, file));
        return t;
      },
    });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot read data.pkl: ${(e as Error).message}`, file);
  }
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * The legacy (torch < 1.6) `torch.save` stream: pickles of the magic number, protocol version, sys_info, the object
 * (storages as persistent ids with optional views), the storage key list, then per storage an int64 element count
 * and its raw bytes.
 */
function parseLegacyTorch(bytes: Uint8Array, file: string): unknown {
  const name = `${file}:legacy`;
  const pending: { ref: TorchTensorRef; rec: TensorRecord }[] = [];
  const storages = new Map<string, StorageRef>();
  const views = new WeakMap<object, { root: StorageRef; elemOffset: number }>();
  let bigEndian = false;
  try {
    let r = unpickleAt(bytes, 0, { name });
    if (r.value !== LEGACY_MAGIC) {
      throw new UserError(`not a torch.save file (pickle without torch's magic number)`, file);
    }
    r = unpickleAt(bytes, r.end, { name });
    if (r.value !== 1001) throw new UserError(`unsupported legacy torch.save protocol ${String(r.value)}`, file);
    r = unpickleAt(bytes, r.end, { name });
    if (r.value instanceof Map && r.value.get("little_endian") === false) bigEndian = true;
    const persistentLoad = (pid: unknown): unknown => {
      if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) return new PickleObject("$persistent", [pid]);
      const cls = pid[1];
      const dtype = cls instanceof PickleGlobal ? STORAGE_DTYPES[cls.$class] : undefined;
      if (!dtype) {
        throw new UserError(`unsupported storage type ${cls instanceof PickleGlobal ? cls.$class : String(cls)}`, file);
      }
      const key = String(pid[2]);
      let root = storages.get(key);
      if (!root) storages.set(key, root = { dtype, key, bytes: new Uint8Array(0) });
      const view = pid[5];
      const handle = {};
      views.set(handle, { root, elemOffset: Array.isArray(view) ? Number(view[1]) : 0 });
      return handle;
    };
    const main = unpickleAt(bytes, r.end, {
      name,
      persistentLoad,
      rebuildTensor: (ref) => {
        const rec: TensorRecord = { shape: [...ref.shape], dtype: "float32", data: new Float32Array(0) };
        pending.push({ ref, rec });
        return rec;
      },
    });
    const keys = unpickleAt(bytes, main.end, { name });
    if (!Array.isArray(keys.value)) throw new UserError(`legacy torch.save: storage key list missing`, file);
    let pos = keys.end;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const k of keys.value) {
      const st = storages.get(String(k));
      if (!st) throw new UserError(`legacy torch.save: storage ${String(k)} is not used by the object`, file);
      if (pos + 8 > bytes.length) throw new UserError(`truncated legacy torch.save (storage ${st.key})`, file);
      const n = Number(dv.getBigInt64(pos, !bigEndian));
      const len = n * DTYPE_BYTES[st.dtype];
      pos += 8;
      if (n < 0 || pos + len > bytes.length) {
        throw new UserError(`truncated legacy torch.save (storage ${st.key})`, file);
      }
      st.bytes = bytes.slice(pos, pos + len);
      if (bigEndian && DTYPE_BYTES[st.dtype] > 1) st.bytes = byteswap(st.bytes, DTYPE_BYTES[st.dtype]);
      pos += len;
    }
    for (const { ref, rec } of pending) {
      const v = views.get(ref.storage as object);
      if (!v) throw new UserError(`tensor refers to a storage that is not in the file`, file);
      const t = materialise({ ...ref, storage: v.root, offset: ref.offset + v.elemOffset }, file);
      Object.assign(rec, t);
    }
    return main.value;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot read legacy torch.save: ${(e as Error).message}`, file);
  }
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(file);
  } catch (e) {
    throw new UserError(`cannot read (${(e as Error).message})`, file);
  }
}

/** Read a `torch.save` file: the unpickled object, with tensors as `TensorRecord`s and dicts as `Map`s. */
export async function readTorchFile(file: string): Promise<unknown> {
  return parseTorchBytes(await readBytes(file), file);
}

/** The attributes (BUILD state) of a pickled object as a Map, or undefined. */
export function objectState(v: unknown): Map<unknown, unknown> | undefined {
  if (!(v instanceof PickleObject)) return undefined;
  const s = v.state;
  if (s instanceof Map) return s;
  // (dict_state, slots_state) form
  if (Array.isArray(s) && s[0] instanceof Map) return s[0];
  return undefined;
}

/** True when `v` looks like a pickled `torch.nn.Module` (has `_modules` and `_parameters`). */
export function isModule(v: unknown): v is PickleObject {
  const s = objectState(v);
  return s !== undefined && s.get("_modules") instanceof Map && s.get("_parameters") instanceof Map;
}

/** What `module.state_dict()` would return for a pickled nn.Module: params, persistent buffers, then children. */
export function moduleStateDict(module: PickleObject, prefix = "", out: StateDict = new Map(), depth = 0): StateDict {
  if (depth > 200) throw new UserError(`module tree deeper than 200 levels at '${prefix}' (cyclic or malformed)`);
  const s = objectState(module);
  if (!s) return out;
  const params = s.get("_parameters");
  if (params instanceof Map) {
    for (const [k, v] of params) if (isTensorRecord(v)) out.set(prefix + String(k), v);
  }
  const buffers = s.get("_buffers");
  const np = s.get("_non_persistent_buffers_set");
  const nonPersistent = np instanceof Set ? np : new Set();
  if (buffers instanceof Map) {
    for (const [k, v] of buffers) if (isTensorRecord(v) && !nonPersistent.has(k)) out.set(prefix + String(k), v);
  }
  const children = s.get("_modules");
  if (children instanceof Map) {
    for (const [k, v] of children) {
      if (v instanceof PickleObject) moduleStateDict(v, `${prefix}${String(k)}.`, out, depth + 1);
    }
  }
  return out;
}

function asStateDict(v: unknown): StateDict | undefined {
  if (isModule(v)) return moduleStateDict(v);
  if (!(v instanceof Map) || v.size === 0) return undefined;
  const out: StateDict = new Map();
  for (const [k, t] of v) {
    if (typeof k !== "string" || !isTensorRecord(t)) return undefined;
    out.set(k, t);
  }
  return out;
}

/** Find the state_dict in a loaded object: a plain name → tensor dict, or a dict with `state_dict`/`ema`/`model`. */
export function extractStateDict(obj: unknown, file: string): StateDict {
  const direct = asStateDict(obj);
  if (direct) return direct;
  if (obj instanceof Map) {
    for (const key of ["state_dict", "ema", "model", "model_state_dict", "module", "net"]) {
      const sd = asStateDict(obj.get(key));
      if (sd) return sd;
    }
  }
  throw new UserError(`no state_dict found (expected a name → tensor dict, or a dict with 'state_dict'/'model')`, file);
}

/** Load a state_dict from a `.pt`/`.pth` file (plain state_dict, checkpoint dict, or pickled module). */
export async function loadStateDict(file: string): Promise<StateDict> {
  const obj = await readTorchFile(file);
  try {
    return extractStateDict(obj, file);
  } catch (e) {
    if (e instanceof UserError && e.message.startsWith(file)) throw e;
    throw new UserError((e as Error).message, file);
  }
}

/**
 * Plain JSON-able view: Map → object, Set → array, bigint → number when safe (else string), inert objects →
 * `{ $class, args?, state? }`, tensors → `{ $tensor: dtype, shape }`, bytes → latin1 string. Cycles → "$cycle".
 */
export function toPlain(v: unknown, seen: Set<unknown> = new Set()): unknown {
  if (v === null || v === undefined) return null;
  if (seen.size > 500) return "$too_deep";
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v !== "object") return typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
  if (seen.has(v)) return "$cycle";
  seen.add(v);
  try {
    if (isTensorRecord(v)) return { $tensor: v.dtype, shape: v.shape };
    if (v instanceof Uint8Array) return new TextDecoder("latin1").decode(v);
    if (Array.isArray(v)) return v.map((x) => toPlain(x, seen));
    if (v instanceof Set) return [...v].map((x) => toPlain(x, seen));
    if (v instanceof Map) {
      const o: Record<string, unknown> = Object.create(null);
      for (const [k, x] of v) o[String(k)] = toPlain(x, seen);
      return { ...o };
    }
    if (v instanceof PickleGlobal) return { $class: v.$class };
    if (v instanceof PickleObject) {
      const s = objectState(v);
      const o: Record<string, unknown> = { $class: v.$class };
      if (v.args.length) o.args = toPlain(v.args, seen);
      if (s) Object.assign(o, toPlain(s, seen) as Record<string, unknown>);
      else if (v.state !== undefined) o.state = toPlain(v.state, seen);
      return o;
    }
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const o: Record<string, unknown> = Object.create(null);
      for (const [k, x] of Object.entries(v)) o[k] = toPlain(x, seen);
      return { ...o };
    }
    return String(v);
  } finally {
    seen.delete(v);
  }
}

/** What an ultralytics trainer checkpoint (`last.pt`/`best.pt`, or an official `yolov8n-seg.pt`) holds. */
export interface UltralyticsCheckpoint {
  /** `model.<i>.<path>.<param>` → tensor, as `model.state_dict()` would list it */
  stateDict: StateDict;
  /** number of classes */
  nc: number;
  /** class names, index = class id */
  names: string[];
  /** the model yaml dict (scales, backbone, head, nc, ...) */
  yaml: Record<string, unknown> | null;
  /** training arguments (`train_args`), plain JSON */
  trainArgs: Record<string, unknown> | null;
  /** last finished epoch (-1 when training finished and the optimizer was stripped) */
  epoch: number | null;
  /** which entry the weights came from */
  source: "ema" | "model";
}

/** Load an ultralytics checkpoint: weights from `ema` if not None, else `model`; names, nc, yaml, train args. */
export async function loadUltralyticsCheckpoint(file: string): Promise<UltralyticsCheckpoint> {
  const obj = await readTorchFile(file);
  try {
    return ultralyticsFromObject(obj, file);
  } catch (e) {
    if (e instanceof UserError && e.message.startsWith(file)) throw e;
    throw new UserError((e as Error).message, file);
  }
}

/** `loadUltralyticsCheckpoint` on an already unpickled checkpoint object (`file` is for error messages). */
export function ultralyticsFromObject(obj: unknown, file: string): UltralyticsCheckpoint {
  if (!(obj instanceof Map)) throw new UserError(`not an ultralytics checkpoint (top level is not a dict)`, file);
  const ema = obj.get("ema");
  const model = obj.get("model");
  const source: "ema" | "model" = ema !== null && ema !== undefined ? "ema" : "model";
  const net = source === "ema" ? ema : model;
  if (!isModule(net)) {
    throw new UserError(`not an ultralytics checkpoint (no pickled model under 'ema' or 'model')`, file);
  }
  const stateDict = moduleStateDict(net);
  if (stateDict.size === 0) throw new UserError(`the pickled model has no parameters`, file);
  const attrs = objectState(net)!;
  const yamlRaw = attrs.get("yaml");
  const yaml = yamlRaw instanceof Map ? toPlain(yamlRaw) as Record<string, unknown> : null;
  const namesRaw = attrs.get("names");
  let names: string[] = [];
  if (namesRaw instanceof Map) {
    const entries = [...namesRaw.entries()].map(([k, v]) => [Number(k), String(v)] as const);
    entries.sort((a, b) => a[0] - b[0]);
    names = entries.map(([, v]) => v);
  } else if (Array.isArray(namesRaw)) names = namesRaw.map(String);
  let nc = typeof yaml?.nc === "number" ? yaml.nc as number : NaN;
  if (!Number.isFinite(nc)) {
    const head = lastModule(net);
    const hnc = head ? objectState(head)?.get("nc") : undefined;
    nc = typeof hnc === "number" ? hnc : names.length;
  }
  if (names.length === 0) names = Array.from({ length: nc }, (_, i) => String(i));
  let trainArgs: Record<string, unknown> | null = null;
  const ta = obj.get("train_args");
  if (ta instanceof Map) trainArgs = toPlain(ta) as Record<string, unknown>;
  else {
    const args = attrs.get("args");
    const s = args instanceof Map ? args : objectState(args);
    if (s) trainArgs = toPlain(s) as Record<string, unknown>;
  }
  const ep = obj.get("epoch");
  const epoch = typeof ep === "number" ? ep : typeof ep === "bigint" ? Number(ep) : null;
  return { stateDict, nc, names, yaml, trainArgs, epoch, source };
}

/** The last layer of `model.model` (the head) of a pickled ultralytics model. */
function lastModule(net: PickleObject): PickleObject | undefined {
  const seq = objectState(net)?.get("_modules");
  const inner = seq instanceof Map ? seq.get("model") : undefined;
  const layers = objectState(inner)?.get("_modules");
  if (!(layers instanceof Map) || layers.size === 0) return undefined;
  const last = [...layers.values()].at(-1);
  return last instanceof PickleObject ? last : undefined;
}
