/**
 * Pure helpers of SAM's automatic mask generator (segment_anything/utils/amg.py semantics): point grids, crop boxes,
 * stability score, mask → box, COCO uncompressed RLE (column-major), box NMS, small-region removal (8-connected).
 */

/** COCO uncompressed RLE: counts of alternating 0/1 runs over the Fortran-order flattening, starting with 0s. */
export interface Rle {
  size: [number, number];
  counts: number[];
}

/** build_point_grid: n x n points in [0,1], (n*n, 2) xy, x fastest (float64). */
export function buildPointGrid(n: number): Float64Array {
  const offset = 1 / (2 * n);
  const side = new Float64Array(n);
  const step = n > 1 ? (1 - offset - offset) / (n - 1) : 0;
  for (let i = 0; i < n; i++) side[i] = offset + i * step;
  if (n > 1) side[n - 1] = 1 - offset;
  const out = new Float64Array(n * n * 2);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      out[(y * n + x) * 2] = side[x];
      out[(y * n + x) * 2 + 1] = side[y];
    }
  }
  return out;
}

/** build_all_layer_point_grids: one grid per crop layer, int(n / scale^i) points per side. */
export function buildAllLayerPointGrids(nPerSide: number, nLayers: number, scalePerLayer: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i <= nLayers; i++) out.push(buildPointGrid(Math.trunc(nPerSide / Math.pow(scalePerLayer, i))));
  return out;
}

/** generate_crop_boxes: xyxy crop boxes (layer 0 = whole image) and their layer indices. */
export function generateCropBoxes(
  imHW: [number, number],
  nLayers: number,
  overlapRatio: number,
): { boxes: number[][]; layerIdxs: number[] } {
  const [imH, imW] = imHW;
  const shortSide = Math.min(imH, imW);
  const boxes: number[][] = [[0, 0, imW, imH]];
  const layerIdxs = [0];
  const cropLen = (orig: number, n: number, overlap: number) => Math.ceil((overlap * (n - 1) + orig) / n);
  for (let l = 0; l < nLayers; l++) {
    const n = 2 ** (l + 1);
    const overlap = Math.trunc(overlapRatio * shortSide * (2 / n));
    const cw = cropLen(imW, n, overlap), ch = cropLen(imH, n, overlap);
    const xs = Array.from({ length: n }, (_, i) => Math.trunc((cw - overlap) * i));
    const ys = Array.from({ length: n }, (_, i) => Math.trunc((ch - overlap) * i));
    for (const x0 of xs) {
      for (const y0 of ys) {
        boxes.push([x0, y0, Math.min(x0 + cw, imW), Math.min(y0 + ch, imH)]);
        layerIdxs.push(l + 1);
      }
    }
  }
  return { boxes, layerIdxs };
}

/** calculate_stability_score on one logit map: #(v > t+off) / #(v > t-off). */
export function stabilityScore(logits: ArrayLike<number>, threshold: number, offset: number): number {
  let inter = 0, union = 0;
  const hi = threshold + offset, lo = threshold - offset;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > hi) inter++;
    if (v > lo) union++;
  }
  return inter / union;
}

/** batched_mask_to_box for one (h, w) mask: xyxy with inclusive max; [0,0,0,0] when empty. */
export function maskToBox(mask: ArrayLike<number>, h: number, w: number): [number, number, number, number] {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 0; x < w; x++) {
      if (mask[r + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1, y1];
}

/** mask_to_rle_pytorch for one (h, w) row-major mask. */
export function maskToRle(mask: ArrayLike<number>, h: number, w: number): Rle {
  const counts: number[] = [];
  let cur = 0, run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== cur) {
        counts.push(run);
        run = 0;
        cur = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [h, w], counts };
}

/** rle_to_mask: (h, w) row-major 0/1 mask. */
export function rleToMask(rle: Rle): Uint8Array {
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  let idx = 0, val = 0;
  for (const c of rle.counts) {
    if (val) {
      for (let k = idx; k < idx + c; k++) out[(k % h) * w + Math.floor(k / h)] = 1;
    }
    idx += c;
    val ^= 1;
  }
  return out;
}

/** area_from_rle: number of 1 pixels. */
export function areaFromRle(rle: Rle): number {
  let a = 0;
  for (let i = 1; i < rle.counts.length; i += 2) a += rle.counts[i];
  return a;
}

/**
 * torchvision nms (boxes xyxy, no +1 in areas): indices kept, in descending score order (stable for ties).
 */
export function nms(boxes: ArrayLike<number>, scores: ArrayLike<number>, iouThresh: number): number[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const area = new Float64Array(n);
  for (let i = 0; i < n; i++) area[i] = (boxes[i * 4 + 2] - boxes[i * 4]) * (boxes[i * 4 + 3] - boxes[i * 4 + 1]);
  const removed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a];
    if (removed[i]) continue;
    keep.push(i);
    for (let b = a + 1; b < n; b++) {
      const j = order[b];
      if (removed[j]) continue;
      const xx1 = Math.max(boxes[i * 4], boxes[j * 4]), yy1 = Math.max(boxes[i * 4 + 1], boxes[j * 4 + 1]);
      const xx2 = Math.min(boxes[i * 4 + 2], boxes[j * 4 + 2]), yy2 = Math.min(boxes[i * 4 + 3], boxes[j * 4 + 3]);
      const inter = Math.max(0, xx2 - xx1) * Math.max(0, yy2 - yy1);
      if (inter / (area[i] + area[j] - inter) > iouThresh) removed[j] = 1;
    }
  }
  return keep;
}

/** 8-connected component labelling in raster order: labels (0 = background) and sizes per label. */
export function connectedComponents(
  mask: ArrayLike<number>,
  h: number,
  w: number,
): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(h * w);
  const sizes = [0];
  const stack: number[] = [];
  for (let s = 0; s < h * w; s++) {
    if (!mask[s] || labels[s]) continue;
    const lab = sizes.length;
    let size = 0;
    labels[s] = lab;
    stack.push(s);
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const py = Math.floor(p / w), px = p % w;
      for (let dy = -1; dy <= 1; dy++) {
        const y = py + dy;
        if (y < 0 || y >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          if (x < 0 || x >= w) continue;
          const q = y * w + x;
          if (mask[q] && !labels[q]) {
            labels[q] = lab;
            stack.push(q);
          }
        }
      }
    }
    sizes.push(size);
  }
  let bg = 0;
  for (let i = 0; i < h * w; i++) if (!mask[i]) bg++;
  sizes[0] = bg;
  return { labels, sizes };
}

/** remove_small_regions: fill small holes ("holes") or drop small islands ("islands"); returns [mask, changed]. */
export function removeSmallRegions(
  mask: Uint8Array,
  h: number,
  w: number,
  areaThresh: number,
  mode: "holes" | "islands",
): [Uint8Array, boolean] {
  const holes = mode === "holes";
  const work = new Uint8Array(h * w);
  for (let i = 0; i < h * w; i++) work[i] = (holes ? 1 : 0) ^ mask[i];
  const { labels, sizes } = connectedComponents(work, h, w);
  const small: number[] = [];
  for (let l = 1; l < sizes.length; l++) if (sizes[l] < areaThresh) small.push(l);
  if (small.length === 0) return [mask, false];
  let fill = new Set<number>([0, ...small]);
  if (!holes) {
    const keep: number[] = [];
    for (let l = 0; l < sizes.length; l++) if (!fill.has(l)) keep.push(l);
    if (keep.length === 0) {
      let best = 1;
      for (let l = 2; l < sizes.length; l++) if (sizes[l] > sizes[best]) best = l;
      keep.push(best);
    }
    fill = new Set(keep);
  }
  const out = new Uint8Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = fill.has(labels[i]) ? 1 : 0;
  return [out, true];
}
