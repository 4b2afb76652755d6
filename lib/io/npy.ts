/**
 * `.npy` (NumPy format 1.0/2.0/3.0) reading and writing: little-endian float16/float32/float64, uint8, int8,
 * int32, int64 and bool arrays in C order. Data is returned as typed arrays; float16 is widened to float32.
 */

export type NpyDtype = "<f2" | "<f4" | "<f8" | "|u1" | "|i1" | "|b1" | "<i4" | "<i8" | "<u2" | "<i2";
export type NpyData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Int32Array
  | BigInt64Array
  | Uint16Array
  | Int16Array;

export interface NpyArray {
  /** dtype as written in the header (float16 arrays are returned as Float32Array with dtype "<f2") */
  dtype: NpyDtype;
  /** shape, C order; [] for 0-d */
  shape: number[];
  data: NpyData;
}

/** Error raised for a malformed or unsupported `.npy` file; the message names the file. */
export class NpyError extends Error {}

/** Convert one IEEE half-precision value (as uint16 bits) to a JS number, exactly. */
export function halfToFloat(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Decode little-endian float16 bytes to a Float32Array (exact). */
export function f16ToF32(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >> 1;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  return out;
}

function parseHeader(text: string, name: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined) {
    throw new NpyError(`${name}: malformed .npy header`);
  }
  const shape = shapeStr.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const v = Number(s.replace(/L$/, ""));
    if (!Number.isInteger(v) || v < 0) throw new NpyError(`${name}: bad shape entry '${s}'`);
    return v;
  });
  return { descr, fortran: fortran === "True", shape };
}

/** Parse `.npy` bytes. `name` is used in error messages. */
export function parseNpy(bytes: Uint8Array, name = "<npy>"): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new NpyError(`${name}: not a .npy file`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number, off: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    off = 10;
  } else if (major === 2 || major === 3) {
    hlen = dv.getUint32(8, true);
    off = 12;
  } else throw new NpyError(`${name}: unsupported .npy version ${major}`);
  if (off + hlen > bytes.length) throw new NpyError(`${name}: truncated header`);
  const header = new TextDecoder().decode(bytes.subarray(off, off + hlen));
  const { descr, fortran, shape } = parseHeader(header, name);
  if (fortran && shape.length > 1) throw new NpyError(`${name}: fortran_order arrays are not supported`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  const itemSize: Record<string, number> = {
    "<f2": 2,
    "<f4": 4,
    "<f8": 8,
    "|u1": 1,
    "|i1": 1,
    "|b1": 1,
    "<i4": 4,
    "<i8": 8,
    "<u2": 2,
    "<i2": 2,
  };
  const d = descr === "<u1" ? "|u1" : descr === "<b1" ? "|b1" : descr;
  const size = itemSize[d];
  if (size === undefined) throw new NpyError(`${name}: unsupported dtype '${descr}'`);
  if (start + count * size > bytes.length) {
    throw new NpyError(`${name}: truncated data (need ${count * size} bytes, have ${bytes.length - start})`);
  }
  const raw = bytes.slice(start, start + count * size); // copy -> aligned
  let data: NpyData;
  switch (d) {
    case "<f2":
      data = f16ToF32(raw);
      break;
    case "<f4":
      data = new Float32Array(raw.buffer, 0, count);
      break;
    case "<f8":
      data = new Float64Array(raw.buffer, 0, count);
      break;
    case "|u1":
    case "|b1":
      data = raw;
      break;
    case "|i1":
      data = new Int8Array(raw.buffer, 0, count);
      break;
    case "<i4":
      data = new Int32Array(raw.buffer, 0, count);
      break;
    case "<i8":
      data = new BigInt64Array(raw.buffer, 0, count);
      break;
    case "<u2":
      data = new Uint16Array(raw.buffer, 0, count);
      break;
    case "<i2":
      data = new Int16Array(raw.buffer, 0, count);
      break;
    default:
      throw new NpyError(`${name}: unsupported dtype '${descr}'`);
  }
  return { dtype: d as NpyDtype, shape, data };
}

/** Read a `.npy` file. */
export async function readNpy(file: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new NpyError(`${file}: cannot read (${(e as Error).message})`);
  }
  return parseNpy(bytes, file);
}

/** Read a `.npy` file synchronously. */
export function readNpySync(file: string): NpyArray {
  return parseNpy(Deno.readFileSync(file), file);
}

/** Number view of any npy data (int64 converted with Number()). */
export function toNumbers(a: NpyArray): Float64Array | Float32Array | Uint8Array | Int32Array {
  if (a.data instanceof BigInt64Array) return Float64Array.from(a.data, (v) => Number(v));
  if (
    a.data instanceof Float32Array || a.data instanceof Float64Array || a.data instanceof Uint8Array ||
    a.data instanceof Int32Array
  ) return a.data;
  return Float64Array.from(a.data as ArrayLike<number>);
}

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return "<f4";
  if (data instanceof Float64Array) return "<f8";
  if (data instanceof Uint8Array) return "|u1";
  if (data instanceof Int8Array) return "|i1";
  if (data instanceof Int32Array) return "<i4";
  if (data instanceof BigInt64Array) return "<i8";
  if (data instanceof Uint16Array) return "<u2";
  return "<i2";
}

/** Serialise a typed array with a shape to `.npy` (version 1.0) bytes. */
export function encodeNpy(data: NpyData, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new NpyError(`encodeNpy: shape [${shape}] needs ${count} values, got ${data.length}`);
  }
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + hb.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, hb.length, true);
  out.set(hb, 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + hb.length);
  return out;
}

/** Write a `.npy` file atomically (temporary name, then rename). */
export async function writeNpy(file: string, data: NpyData, shape: number[]): Promise<void> {
  const tmp = `${file}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeFile(tmp, encodeNpy(data, shape));
  await Deno.rename(tmp, file);
}
