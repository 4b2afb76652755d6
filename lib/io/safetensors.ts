/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}` padded with spaces to
 * 8 bytes, then the raw little-endian C-order tensor bytes. Tensors keep their stored dtype (float16 stays F16 on
 * disk, widened to float32 in memory exactly); entries are written and read back in state_dict order.
 */
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "./atomic.ts";
import { storedBytes } from "./tensor_bytes.ts";
import { bytesToTensorData, DTYPE_BYTES, numel, type StateDict, type TensorDtype } from "./torch.ts";

const TO_ST: Record<TensorDtype, string> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  int16: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};
const FROM_ST: Record<string, TensorDtype> = Object.fromEntries(
  Object.entries(TO_ST).map(([k, v]) => [v, k as TensorDtype]),
);

/** A parsed safetensors file: tensors in file order and the `__metadata__` string map. */
export interface Safetensors {
  stateDict: StateDict;
  metadata: Record<string, string>;
}

/** Serialise a state_dict (and string metadata) to safetensors bytes. */
export function encodeSafetensors(stateDict: StateDict, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of stateDict) {
    if (name === "__metadata__") throw new UserError(`tensor name '__metadata__' is reserved in safetensors`);
    const bytes = storedBytes(t);
    const expect = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (bytes.byteLength !== expect) {
      throw new UserError(
        `tensor ${name}: shape [${t.shape}] needs ${expect} bytes of ${t.dtype}, has ${bytes.byteLength}`,
      );
    }
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((new TextEncoder().encode(json).length) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let o = 8 + hb.length;
  for (const b of blobs) {
    out.set(b, o);
    o += b.byteLength;
  }
  return out;
}

/** Parse safetensors bytes; `file` names the source in errors. Tensors come back in data-offset order. */
export function parseSafetensors(bytes: Uint8Array, file: string): Safetensors {
  if (bytes.byteLength < 8) throw new UserError(`not a safetensors file (shorter than 8 bytes)`, file);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8) || n > 100_000_000n) {
    throw new UserError(`not a safetensors file (header length ${n} exceeds the file)`, file);
  }
  const hlen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw new UserError(`safetensors header is not valid JSON (${(e as Error).message})`, file);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new UserError(`safetensors header is not a JSON object`, file);
  }
  const data = bytes.subarray(8 + hlen);
  const metadata: Record<string, string> = {};
  const entries: [string, TensorDtype, number[], number, number][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (raw && typeof raw === "object") {
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) metadata[k] = String(v);
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = FROM_ST[String(e?.dtype)];
    if (!dtype) throw new UserError(`tensor ${name}: unsupported dtype ${String(e?.dtype)}`, file);
    const shape = e.shape, offs = e.data_offsets;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new UserError(`tensor ${name}: bad shape ${JSON.stringify(shape)}`, file);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new UserError(`tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`, file);
    }
    const [b, en] = offs as number[];
    if (b > en || en > data.byteLength) {
      throw new UserError(
        `tensor ${name}: data_offsets [${b}, ${en}] outside the ${data.byteLength}-byte buffer`,
        file,
      );
    }
    if (en - b !== numel(shape) * DTYPE_BYTES[dtype]) {
      throw new UserError(`tensor ${name}: ${en - b} bytes do not hold shape [${shape}] of ${dtype}`, file);
    }
    entries.push([name, dtype, shape as number[], b, en]);
  }
  entries.sort((x, y) => x[3] - y[3]);
  const stateDict: StateDict = new Map();
  for (const [name, dtype, shape, b, en] of entries) {
    stateDict.set(name, { shape, dtype, data: bytesToTensorData(data.slice(b, en), dtype) });
  }
  return { stateDict, metadata };
}

/** Read a `.safetensors` file. */
export async function readSafetensors(file: string): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new UserError(`cannot read (${(e as Error).message})`, file);
  }
  return parseSafetensors(bytes, file);
}

/** Write a `.safetensors` file atomically. */
export async function writeSafetensors(
  file: string,
  stateDict: StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(stateDict, metadata));
}
