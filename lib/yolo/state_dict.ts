/**
 * State-dict helpers for the YOLO model: the `StateDict`/`TensorRecord` types of `lib/io/torch.ts` (name → {shape,
 * dtype, data}, torch layouts: conv weights OIHW) and float32 conversion of a record.
 */
import type { TensorRecord } from "../io/torch.ts";
export type { StateDict, TensorRecord } from "../io/torch.ts";

/** The record's values as float32 (int64 converted with Number()). */
export function recordToFloat32(r: TensorRecord): Float32Array {
  const d = r.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d as ArrayLike<number>);
}

/** Number of elements of a shape. */
export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
