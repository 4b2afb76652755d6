/**
 * Mask geometry on row-major 0/1 `Uint8Array [h*w]` masks: polygon rasterisation exactly as OpenCV `cv2.fillPoly`
 * (what ultralytics' `polygon2mask` calls), outer contours as `cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE)`,
 * joining several parts into one polygon as ultralytics' `merge_multi_segment`, boxes, areas and IoU.
 */

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;

/** Set the pixels of an 8-connected OpenCV line (LineIterator, left to right, clipped to the image). */
function drawLine(mask: Uint8Array, h: number, w: number, x0: number, y0: number, x1: number, y1: number, v: number) {
  if (x0 < 0 || x0 >= w || x1 < 0 || x1 >= w || y0 < 0 || y0 >= h || y1 < 0 || y1 >= h) {
    const c = clipLine(w, h, x0, y0, x1, y1);
    if (!c) return;
    [x0, y0, x1, y1] = c;
  }
  if (x1 < x0) [x0, y0, x1, y1] = [x1, y1, x0, y0];
  let dx = x1 - x0;
  let dy = y1 - y0;
  const sy = dy < 0 ? -1 : 1;
  dy = Math.abs(dy);
  // major step along x unless |dy| > dx
  let majX = 1, majY = 0, minX = 0, minY = sy;
  if (dy > dx) {
    [dx, dy] = [dy, dx];
    majX = 0;
    majY = sy;
    minX = 1;
    minY = 0;
  }
  let err = dx - 2 * dy;
  const plus = 2 * dx, minus = -2 * dy;
  let x = x0, y = y0;
  for (let i = 0; i <= dx; i++) {
    mask[y * w + x] = v;
    const m = err < 0;
    err += minus + (m ? plus : 0);
    x += majX + (m ? minX : 0);
    y += majY + (m ? minY : 0);
  }
}

/** OpenCV `clipLine` on integer end points (C integer division truncates toward zero). */
function clipLine(w: number, h: number, x1: number, y1: number, x2: number, y2: number): number[] | null {
  const right = w - 1, bottom = h - 1;
  if (w <= 0 || h <= 0) return null;
  const code = (x: number, y: number) => (x < 0 ? 1 : 0) + (x > right ? 2 : 0) + (y < 0 ? 4 : 0) + (y > bottom ? 8 : 0);
  let c1 = code(x1, y1), c2 = code(x2, y2);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    if (c1 & 12) {
      const a = c1 < 8 ? 0 : bottom;
      x1 += Math.trunc((a - y1) * (x2 - x1) / (y2 - y1));
      y1 = a;
      c1 = (x1 < 0 ? 1 : 0) + (x1 > right ? 2 : 0);
    }
    if (c2 & 12) {
      const a = c2 < 8 ? 0 : bottom;
      x2 += Math.trunc((a - y2) * (x2 - x1) / (y2 - y1));
      y2 = a;
      c2 = (x2 < 0 ? 1 : 0) + (x2 > right ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        const a = c1 === 1 ? 0 : right;
        y1 += Math.trunc((a - x1) * (y2 - y1) / (x2 - x1));
        x1 = a;
        c1 = 0;
      }
      if (c2) {
        const a = c2 === 1 ? 0 : right;
        y2 += Math.trunc((a - x2) * (y2 - y1) / (x2 - x1));
        x2 = a;
        c2 = 0;
      }
    }
  }
  return (c1 | c2) === 0 ? [x1, y1, x2, y2] : null;
}

interface Edge {
  y0: number;
  y1: number;
  x: number; // fixed point, XY_SHIFT fraction bits, at y0
  dx: number; // fixed-point step per row (truncated toward zero)
}

/**
 * Fill polygons (xy pixel coordinates, flat `[x0,y0,x1,y1,...]`) into a new `Uint8Array [h*w]` exactly as
 * `cv2.fillPoly(mask, polys.astype(int32), value)`: vertices truncated to int32 as numpy does, outlines drawn as
 * 8-connected lines, interior filled with OpenCV's even-odd scan-line rule over all polygons together.
 */
export function rasterizePolygons(polys: Float32Array[] | number[][], h: number, w: number, value = 1): Uint8Array {
  const mask = new Uint8Array(h * w);
  fillPolygonsInto(mask, polys, h, w, value);
  return mask;
}

/** Like `rasterizePolygons` but draws into an existing mask `[h*w]`. */
export function fillPolygonsInto(
  mask: Uint8Array,
  polys: ArrayLike<number>[],
  h: number,
  w: number,
  value = 1,
): void {
  const edges: Edge[] = [];
  for (const p of polys) {
    const n = Math.floor(p.length / 2);
    if (n === 0) continue;
    const xs = new Array<number>(n), ys = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      xs[i] = Math.trunc(p[2 * i]) | 0;
      ys[i] = Math.trunc(p[2 * i + 1]) | 0;
    }
    let px = xs[n - 1], py = ys[n - 1];
    for (let i = 0; i < n; i++) {
      const qx = xs[i], qy = ys[i];
      drawLine(mask, h, w, px, py, qx, qy, value);
      if (py !== qy) {
        const fx0 = px * XY_ONE, fx1 = qx * XY_ONE;
        const e: Edge = py < qy ? { y0: py, y1: qy, x: fx0, dx: 0 } : { y0: qy, y1: py, x: fx1, dx: 0 };
        e.dx = Math.trunc((fx1 - fx0) / (qy - py));
        edges.push(e);
      }
      px = qx;
      py = qy;
    }
  }
  fillEdges(mask, h, w, edges, value);
}

function fillEdges(mask: Uint8Array, h: number, w: number, edges: Edge[], value: number) {
  if (edges.length < 2) return;
  let yMin = Infinity, yMax = -Infinity, xMin = Infinity, xMax = -Infinity;
  for (const e of edges) {
    const x1 = e.x + (e.y1 - e.y0) * e.dx;
    yMin = Math.min(yMin, e.y0);
    yMax = Math.max(yMax, e.y1);
    xMin = Math.min(xMin, e.x, x1);
    xMax = Math.max(xMax, e.x, x1);
  }
  if (yMax < 0 || yMin >= h || xMax < 0 || xMin >= w * XY_ONE) return;
  edges.sort((a, b) => a.y0 - b.y0 || a.x - b.x || a.dx - b.dx);
  yMax = Math.min(yMax, h);
  // Active edges [y0, y1); the x of an edge on row y is x + (y - y0) * dx (OpenCV steps it once per row).
  let next = 0;
  let active: Edge[] = [];
  const xs: number[] = [];
  for (let y = edges[0].y0; y < yMax; y++) {
    active = active.filter((e) => e.y1 !== y);
    while (next < edges.length && edges[next].y0 === y) active.push(edges[next++]);
    if (active.length === 0 && next >= edges.length) break;
    xs.length = 0;
    for (const e of active) xs.push(e.x + (y - e.y0) * e.dx);
    xs.sort((a, b) => a - b);
    if (y >= 0) {
      const row = y * w;
      for (let k = 0; k + 1 < xs.length; k += 2) {
        let x1 = Math.floor((xs[k] + XY_ONE - 1) / XY_ONE);
        let x2 = Math.floor(xs[k + 1] / XY_ONE);
        if (x1 < w && x2 >= 0) {
          if (x1 < 0) x1 = 0;
          if (x2 >= w) x2 = w - 1;
          for (let x = x1; x <= x2; x++) mask[row + x] = value;
        }
      }
    }
  }
}

// Chain-code directions as OpenCV numbers them: 0 right, 1 up-right, 2 up, ... 7 down-right (y grows downward).
const DX = [1, 1, 0, -1, -1, -1, 0, 1];
const DY = [0, -1, -1, -1, 0, 1, 1, 1];

/**
 * Outer contours of every 8-connected part of a 0/1 mask `[h*w]`, as `cv2.findContours(mask, RETR_EXTERNAL,
 * CHAIN_APPROX_SIMPLE)`: Suzuki border following from each part's first pixel in raster order, only the corners kept,
 * parts lying inside a hole of another part left out. Returns flat xy pixel polygons (integer vertices), in cv2's
 * list order (reverse raster order of each part's first pixel).
 */
export function maskToPolygons(mask: Uint8Array, h: number, w: number): Float32Array[] {
  const W = w + 2, H = h + 2;
  // padded copy: 1 = foreground; the frame is background
  const img = new Uint8Array(W * H);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) if (mask[y * w + x]) img[(y + 1) * W + x + 1] = 1;
  }
  // background connected to the frame (4-connectivity)
  const outside = new Uint8Array(W * H);
  const stack: number[] = [0];
  outside[0] = 1;
  while (stack.length) {
    const p = stack.pop()!;
    const x = p % W, y = (p - x) / W;
    const nb = [x > 0 ? p - 1 : -1, x < W - 1 ? p + 1 : -1, y > 0 ? p - W : -1, y < H - 1 ? p + W : -1];
    for (const q of nb) {
      if (q >= 0 && !outside[q] && !img[q]) {
        outside[q] = 1;
        stack.push(q);
      }
    }
  }
  const seen = new Uint8Array(W * H);
  const out: Float32Array[] = [];
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const p = y * W + x;
      if (!img[p] || seen[p]) continue;
      // mark the 8-connected part
      let external = false;
      const st = [p];
      seen[p] = 1;
      while (st.length) {
        const q = st.pop()!;
        if (outside[q - 1] || outside[q + 1] || outside[q - W] || outside[q + W]) external = true;
        for (let d = 0; d < 8; d++) {
          const r = q + DX[d] + DY[d] * W;
          if (img[r] && !seen[r]) {
            seen[r] = 1;
            st.push(r);
          }
        }
      }
      if (external) out.push(traceOuter(img, W, x, y));
    }
  }
  return out.reverse();
}

/**
 * Suzuki border following from (x0, y0) (padded coordinates) with CHAIN_APPROX_SIMPLE; an outer border starts from
 * the left neighbour (direction 4), a hole border from the right neighbour (direction 0), as OpenCV's `icvFetchContour`.
 */
function traceOuter(img: Uint8Array, W: number, x0: number, y0: number, hole = false): Float32Array {
  const at = (x: number, y: number) => img[y * W + x];
  // first non-zero neighbour clockwise from the start neighbour
  let s = hole ? 0 : 4;
  let found = false;
  for (let k = 0; k < 8; k++) {
    s = (s + 7) & 7;
    if (at(x0 + DX[s], y0 + DY[s])) {
      found = true;
      break;
    }
  }
  if (!found) return new Float32Array([x0 - 1, y0 - 1]);
  const x1 = x0 + DX[s], y1 = y0 + DY[s];
  const pts: number[] = [];
  let x3 = x0, y3 = y0;
  let prev = s ^ 4;
  for (let guard = 0; guard < 8 * img.length; guard++) {
    // counter-clockwise from the direction after the one pointing back
    let x4 = 0, y4 = 0;
    for (let k = 0; k < 8; k++) {
      s = (s + 1) & 7;
      x4 = x3 + DX[s];
      y4 = y3 + DY[s];
      if (at(x4, y4)) break;
    }
    if (s !== prev) {
      pts.push(x3 - 1, y3 - 1);
      prev = s;
    }
    if (x4 === x0 && y4 === y0 && x3 === x1 && y3 === y1) break;
    x3 = x4;
    y3 = y4;
    s = (s + 4) & 7;
  }
  return new Float32Array(pts);
}

/**
 * Every 8-connected part's outer contour followed by the contours of its holes (Suzuki hole borders on the part's
 * pixels), parts in raster order, parts inside holes included. Joined into one polygon and filled with the even-odd
 * rule (`rasterizePolygons`), this reproduces masks with holes, which outer contours alone cannot.
 */
export function maskToPolygonsWithHoles(mask: Uint8Array, h: number, w: number): Float32Array[] {
  return maskToPolygonGroups(mask, h, w).flatMap((g) => [g.outer, ...g.holes]);
}

/** One 8-connected part of a mask: its outer contour, its hole contours and its pixel count. */
export interface PolygonGroup {
  outer: Float32Array;
  holes: Float32Array[];
  area: number;
}

/** The parts of a mask (raster order of their first pixel) with outer and hole contours (see maskToPolygonsWithHoles). */
export function maskToPolygonGroups(mask: Uint8Array, h: number, w: number): PolygonGroup[] {
  // work inside the mask's bounding box (plus a one-pixel frame): the cost follows the instance, not the image
  const box = maskBox(mask, h, w);
  if (!box) return [];
  const [bx, by, bx2, by2] = box;
  const bw = bx2 - bx, bh = by2 - by;
  const W = bw + 2, H = bh + 2, N = W * H;
  const img = new Uint8Array(N);
  for (let y = 0; y < bh; y++) {
    const row = (y + by) * w + bx;
    for (let x = 0; x < bw; x++) if (mask[row + x]) img[(y + 1) * W + x + 1] = 1;
  }
  const stack = new Int32Array(N);
  // part labels (8-connected foreground)
  const part = new Int32Array(N).fill(-1);
  const starts: number[] = [];
  const areas: number[] = [];
  const nb8 = DX.map((dx, d) => dx + DY[d] * W);
  for (let p = 0; p < N; p++) {
    if (!img[p] || part[p] >= 0) continue;
    const id = starts.length;
    starts.push(p);
    part[p] = id;
    let top = 0, area = 0;
    stack[top++] = p;
    while (top) {
      const q = stack[--top];
      area++;
      for (let d = 0; d < 8; d++) {
        const r = q + nb8[d];
        if (img[r] && part[r] < 0) {
          part[r] = id;
          stack[top++] = r;
        }
      }
    }
    areas.push(area);
  }
  // background components (4-connected); the first one (holding the frame) is the outside
  const bgc = new Int32Array(N).fill(-1);
  const holes: number[][] = starts.map(() => []);
  let nb = 0;
  for (let p = 0; p < N; p++) {
    if (img[p] || bgc[p] >= 0) continue;
    const id = nb++;
    bgc[p] = id;
    let top = 0;
    stack[top++] = p;
    while (top) {
      const q = stack[--top];
      const x = q % W;
      if (x > 0 && !img[q - 1] && bgc[q - 1] < 0) (bgc[q - 1] = id, stack[top++] = q - 1);
      if (x < W - 1 && !img[q + 1] && bgc[q + 1] < 0) (bgc[q + 1] = id, stack[top++] = q + 1);
      if (q >= W && !img[q - W] && bgc[q - W] < 0) (bgc[q - W] = id, stack[top++] = q - W);
      if (q + W < N && !img[q + W] && bgc[q + W] < 0) (bgc[q + W] = id, stack[top++] = q + W);
    }
    // p is the hole's first pixel in raster order: its left neighbour is the border's start pixel
    if (id > 0) holes[part[p - 1]].push(p - 1);
  }
  const shift = (c: Float32Array) => {
    for (let i = 0; i < c.length; i += 2) {
      c[i] += bx;
      c[i + 1] += by;
    }
    return c;
  };
  return starts.map((p, id) => ({
    outer: shift(traceOuter(img, W, p % W, Math.floor(p / W))),
    holes: holes[id].map((q) => shift(traceOuter(img, W, q % W, Math.floor(q / W), true))),
    area: areas[id],
  }));
}

/** Squared distance argmin between the vertices of two flat polygons: [i in a, j in b] (first minimum, row-major). */
function minIndex(a: ArrayLike<number>, b: ArrayLike<number>): [number, number] {
  let best = Infinity, bi = 0, bj = 0;
  for (let i = 0; i < a.length / 2; i++) {
    for (let j = 0; j < b.length / 2; j++) {
      const dx = a[2 * i] - b[2 * j], dy = a[2 * i + 1] - b[2 * j + 1];
      const d = dx * dx + dy * dy;
      if (d < best) {
        best = d;
        bi = i;
        bj = j;
      }
    }
  }
  return [bi, bj];
}

type Pts = number[][];

/**
 * Join several polygon parts (flat xy) into one polygon through zero-width bridges between their closest vertices,
 * exactly as ultralytics' `merge_multi_segment` (its COCO converter): the result visits each part and walks back.
 */
export function joinPolygons(parts: ArrayLike<number>[]): Float32Array {
  const segs = parts.filter((p) => p.length >= 2);
  if (segs.length === 0) return new Float32Array(0);
  if (segs.length === 1) return Float32Array.from(segs[0]);
  let segments: Pts[] = segs.map((p) => {
    const r: Pts = [];
    for (let i = 0; i + 1 < p.length; i += 2) r.push([p[i], p[i + 1]]);
    return r;
  });
  const flat = (s: Pts) => s.flat();
  const idxList: number[][] = segments.map(() => []);
  for (let i = 1; i < segments.length; i++) {
    const [a, b] = minIndex(flat(segments[i - 1]), flat(segments[i]));
    idxList[i - 1].push(a);
    idxList[i].push(b);
  }
  const roll = (s: Pts, k: number) => {
    const n = s.length;
    const sh = ((k % n) + n) % n;
    return s.slice(sh).concat(s.slice(0, sh));
  };
  const out: Pts[] = [];
  segments = segments.slice();
  const last = idxList.length - 1;
  for (let i = 0; i < idxList.length; i++) {
    let idx = idxList[i];
    if (idx.length === 2 && idx[0] > idx[1]) {
      idx = [idx[1], idx[0]];
      segments[i] = segments[i].slice().reverse();
    }
    segments[i] = roll(segments[i], idx[0]);
    segments[i] = segments[i].concat([segments[i][0]]);
    if (i === 0 || i === last) out.push(segments[i]);
    else out.push(segments[i].slice(0, idx[1] - idx[0] + 1));
  }
  for (let i = last; i >= 0; i--) {
    if (i !== 0 && i !== last) {
      const idx = idxList[i];
      out.push(segments[i].slice(Math.abs(idx[1] - idx[0])));
    }
  }
  return new Float32Array(out.flat(2));
}

/** Tight box `[x1, y1, x2, y2]` (pixel edges, x2/y2 exclusive) of a mask `[h*w]`, or null when empty. */
export function maskBox(mask: Uint8Array, h: number, w: number): [number, number, number, number] | null {
  let x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (mask[row + x]) {
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        y2 = y;
      }
    }
  }
  return x2 < 0 ? null : [x1, y1, x2 + 1, y2 + 1];
}

/** Number of non-zero pixels. */
export function maskArea(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}

/** Intersection over union of two same-size masks (0 when both are empty). */
export function maskIou(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`maskIou: sizes differ (${a.length} vs ${b.length})`);
  let inter = 0, uni = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] !== 0, q = b[i] !== 0;
    if (p && q) inter++;
    if (p || q) uni++;
  }
  return uni === 0 ? 0 : inter / uni;
}
