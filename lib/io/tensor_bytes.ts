/**
 * Byte views and digests of `TensorRecord`s, for bit-exact checks against references: the stored little-endian
 * bytes (float16/bfloat16 narrowed back exactly from their float32 widening), the values as float32 LE bytes,
 * SHA-256 (node:crypto), and bitwise equality.
 */
import { createHash } from "node:crypto";
import type { TensorData, TensorRecord } from "./torch.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value → IEEE half bits, round-to-nearest-even (exact for values that came from float16). */
export function floatToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 255) return sign | 0x7c00 | (mant ? (mant >>> 13) || 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

function viewBytes(d: TensorData): Uint8Array {
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The tensor's values in its stored dtype as little-endian C-order bytes (what torch wrote). */
export function storedBytes(t: TensorRecord): Uint8Array {
  if (t.dtype === "float16" || t.dtype === "bfloat16") {
    const src = t.data as Float32Array;
    const out = new Uint8Array(src.length * 2);
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < src.length; i++) {
      const h = t.dtype === "float16" ? floatToHalfBits(src[i]) : bits[i] >>> 16;
      out[2 * i] = h & 255;
      out[2 * i + 1] = h >>> 8;
    }
    return out;
  }
  return viewBytes(t.data);
}

/** The tensor's values as little-endian float32 bytes (floats only; undefined for integer/bool tensors). */
export function float32Bytes(t: TensorRecord): Uint8Array | undefined {
  if (t.data instanceof Float32Array) return viewBytes(t.data);
  if (t.data instanceof Float64Array) return viewBytes(Float32Array.from(t.data));
  return undefined;
}

/** Lower-case hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True when both arrays hold the same bytes (bitwise; NaN payloads and -0 included). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when two typed arrays are bit-identical (same element type and bytes). */
export function dataBitEqual(a: TensorData | ArrayBufferView, b: TensorData | ArrayBufferView): boolean {
  if (a.constructor !== b.constructor) return false;
  return bytesEqual(
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
  );
}
