/**
 * State-dict types shared by the YOLO model and its loaders (mirrors `lib/io/torch.ts`: name → {shape, dtype, data},
 * torch layouts: conv weights OIHW, NCHW), plus float32 conversion of a record.
 */
import { halfToFloat } from "../io/npy.ts";

/** One tensor of a state dict, torch layout, C order. */
export interface TensorRecord {
  shape: number[];
  /** torch dtype name: "float32", "float16", "int64", ... */
  dtype: string;
  data: Float32Array | Float64Array | BigInt64Array | Uint16Array | Int32Array | Uint8Array | Int8Array | Int16Array;
}

/** name → tensor, in state-dict order. */
export type StateDict = Map<string, TensorRecord>;

/** The record's values as float32 (float16 bit patterns in a Uint16Array are decoded exactly). */
export function recordToFloat32(r: TensorRecord): Float32Array {
  const d = r.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof Uint16Array && (r.dtype === "float16" || r.dtype === "<f2")) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i]);
    return out;
  }
  if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d as ArrayLike<number>);
}

/** Number of elements of a shape. */
export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
