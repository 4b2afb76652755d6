/**
 * Label records of one image as ultralytics' `verify_image_label` + `YOLODataset.update_labels_info` build them:
 * boxes from the original polygon extents (float32 xywh, normalised), exact duplicate rows dropped (then rows in
 * `np.unique` order), polygons resampled to 1000 points (`resample_segments`).
 */
import type { YoloItem } from "../data/yolo.ts";
import { interp, linspace } from "../metrics/ap.ts";

const f32 = Math.fround;

/** Labels of one image, normalised to [0, 1] of the original image. n = number of instances. */
export interface ImageLabels {
  imageFile: string;
  labelFile: string;
  /** [n] class ids */
  cls: Int32Array;
  /** [n*4] xywh (centre, size) normalised, float32, from the original polygon's min/max */
  bboxes: Float32Array;
  /** n original polygons, flat normalised xy */
  polygons: Float32Array[];
  /** n polygons resampled to `resample` points, flat normalised xy [2*resample] */
  segments: Float32Array[];
  /** duplicate rows dropped as ultralytics does */
  duplicates: number;
}

/** ultralytics `resample_segments` for one closed polygon (flat xy): n points evenly spaced in vertex index. */
export function resampleSegment(poly: ArrayLike<number>, n = 1000): Float32Array {
  const m = Math.floor(poly.length / 2) + 1;
  const xs = new Float64Array(m), ys = new Float64Array(m);
  for (let i = 0; i < m - 1; i++) {
    xs[i] = poly[2 * i];
    ys[i] = poly[2 * i + 1];
  }
  xs[m - 1] = poly[0];
  ys[m - 1] = poly[1];
  const x = linspace(0, m - 1, n);
  const xp = Float64Array.from({ length: m }, (_, i) => i);
  const rx = interp(x, xp, xs), ry = interp(x, xp, ys);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = rx[i];
    out[2 * i + 1] = ry[i];
  }
  return out;
}

/** ultralytics `segments2boxes` for one polygon → float32 xywh. */
export function polygonBox(poly: ArrayLike<number>): [number, number, number, number] {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i + 1 < poly.length; i += 2) {
    const x = f32(poly[i]), y = f32(poly[i + 1]);
    if (x < x1) x1 = x;
    if (x > x2) x2 = x;
    if (y < y1) y1 = y;
    if (y > y2) y2 = y;
  }
  return [f32(f32(x1 + x2) / 2), f32(f32(y1 + y2) / 2), f32(x2 - x1), f32(y2 - y1)];
}

function cmpRows(a: number[], b: number[]): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  return 0;
}

/** Label record of one dataset item (duplicates dropped, segments resampled to `resample` points). */
export function labelsFromItem(item: YoloItem, resample = 1000): ImageLabels {
  const rows = item.instances.map((ins) => [ins.cls, ...polygonBox(ins.polygon)]);
  let keep = rows.map((_, i) => i);
  // np.unique(lb, axis=0, return_index=True): first occurrence of each distinct row, rows in sorted order
  const sorted = keep.slice().sort((a, b) => cmpRows(rows[a], rows[b]) || a - b);
  const uniq: number[] = [];
  for (const i of sorted) if (!uniq.length || cmpRows(rows[uniq[uniq.length - 1]], rows[i]) !== 0) uniq.push(i);
  const duplicates = rows.length - uniq.length;
  if (duplicates > 0) keep = uniq;
  const n = keep.length;
  const cls = new Int32Array(n), bboxes = new Float32Array(n * 4);
  const polygons: Float32Array[] = [], segments: Float32Array[] = [];
  keep.forEach((i, k) => {
    cls[k] = rows[i][0];
    bboxes.set(rows[i].slice(1), k * 4);
    polygons.push(item.instances[i].polygon);
    segments.push(resampleSegment(item.instances[i].polygon, resample));
  });
  return { imageFile: item.imageFile, labelFile: item.labelFile, cls, bboxes, polygons, segments, duplicates };
}
