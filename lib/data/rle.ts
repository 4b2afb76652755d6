/**
 * COCO run-length encoding exactly as pycocotools' `maskApi.c`: column-major counts starting with a run of zeros,
 * the compressed string form (`rleToString` / `rleFrString`), polygon to RLE (`rleFrPoly`: 5x upsampled boundary walk),
 * union / intersection merge, area and IoU. Masks at the boundary are row-major `Uint8Array [h*w]` (0/1).
 */

/** A COCO RLE: `size` is `[h, w]`, `counts` alternate runs of 0s and 1s in column-major order. */
export interface Rle {
  size: [number, number];
  counts: number[];
}

/** Encode a row-major 0/1 mask `[h*w]` as RLE (pycocotools `encode` on the Fortran-order mask). */
export function encodeRle(mask: Uint8Array, h: number, w: number): Rle {
  const counts: number[] = [];
  let p = 0, c = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== p) {
        counts.push(c);
        c = 0;
        p = v;
      }
      c++;
    }
  }
  counts.push(c);
  return { size: [h, w], counts };
}

/** Decode an RLE to a row-major 0/1 mask `[h*w]`. Throws when the counts do not sum to h*w. */
export function decodeRle(rle: Rle): Uint8Array {
  const [h, w] = rle.size;
  const mask = new Uint8Array(h * w);
  let i = 0, v = 0;
  for (const c of rle.counts) {
    if (i + c > h * w) throw new Error(`RLE counts sum past h*w=${h * w}`);
    if (v) {
      for (let k = i; k < i + c; k++) {
        const x = Math.floor(k / h), y = k - x * h;
        mask[y * w + x] = 1;
      }
    }
    i += c;
    v ^= 1;
  }
  if (i !== h * w) throw new Error(`RLE counts sum to ${i}, expected h*w=${h * w}`);
  return mask;
}

/** Compressed string form of the counts (maskApi `rleToString`: 5-bit groups + 48, delta to counts[i-2] for i>2). */
export function rleToString(rle: Rle): string {
  const out: number[] = [];
  const cnts = rle.counts;
  for (let i = 0; i < cnts.length; i++) {
    let x = cnts[i];
    if (i > 2) x -= cnts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f; // x fits int32 for any real image
      x >>= 5;
      more = (c & 0x10) ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out.push(c + 48);
    }
  }
  return String.fromCharCode(...out);
}

/** Parse the compressed string form (maskApi `rleFrString`) into an RLE of size `[h, w]`. */
export function rleFromString(s: string, h: number, w: number): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = true, c = 0;
    while (more) {
      if (p >= s.length) throw new Error("RLE string ends inside a number");
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`bad RLE string character '${s[p]}' at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return { size: [h, w], counts };
}

/** Foreground pixel count (sum of the odd-index counts). */
export function rleArea(rle: Rle): number {
  let a = 0;
  for (let i = 1; i < rle.counts.length; i += 2) a += rle.counts[i];
  return a;
}

/**
 * RLE of one polygon (flat xy pixel coordinates), exactly maskApi `rleFrPoly`: vertices scaled x5 and rounded,
 * a boundary walk on the fine grid, the x-crossings downsampled to pixel columns, then runs from the sorted crossings.
 */
export function rleFromPolygon(xy: ArrayLike<number>, h: number, w: number): Rle {
  const scale = 5;
  const k = Math.floor(xy.length / 2);
  const x = new Int32Array(k + 1), y = new Int32Array(k + 1);
  for (let j = 0; j < k; j++) x[j] = Math.trunc(scale * xy[2 * j] + 0.5);
  for (let j = 0; j < k; j++) y[j] = Math.trunc(scale * xy[2 * j + 1] + 0.5);
  x[k] = x[0];
  y[k] = y[0];
  const u: number[] = [], v: number[] = [];
  for (let j = 0; j < k; j++) {
    let xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(Math.trunc(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(Math.trunc(xs + s * t + 0.5));
      }
    }
  }
  // points along the y-boundary, downsampled
  const a: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    a.push(xd * h + yd);
  }
  a.push(h * w);
  a.sort((p, q) => p - q);
  let prev = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j];
    a[j] -= prev;
    prev = t;
  }
  const b: number[] = [];
  let j = 0;
  b.push(a[j++]);
  while (j < a.length) {
    if (a[j] > 0) b.push(a[j++]);
    else {
      j++;
      if (j < a.length) b[b.length - 1] += a[j++];
    }
  }
  return { size: [h, w], counts: b };
}

/** Union (or intersection) of same-size RLEs, maskApi `rleMerge`. */
export function rleMerge(rles: Rle[], intersect = false): Rle {
  if (rles.length === 0) return { size: [0, 0], counts: [0] };
  const [h, w] = rles[0].size;
  let cnts = rles[0].counts.slice();
  for (let i = 1; i < rles.length; i++) {
    const B = rles[i].counts;
    if (rles[i].size[0] !== h || rles[i].size[1] !== w) throw new Error("rleMerge: sizes differ");
    const A = cnts;
    const out: number[] = [];
    let ca = A[0], cb = B[0], v = false, va = false, vb = false, a = 1, b = 1, cc = 0, ct = 1;
    while (ct > 0) {
      const c = Math.min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.length) {
        ca = A[a++];
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.length) {
        cb = B[b++];
        vb = !vb;
      }
      ct += cb;
      const vp: boolean = v;
      v = intersect ? va && vb : va || vb;
      if (v !== vp || ct === 0) {
        out.push(cc);
        cc = 0;
      }
    }
    cnts = out;
  }
  return { size: [h, w], counts: cnts };
}

/** RLE of several polygons (one instance) = union of `rleFromPolygon` of each, as pycocotools `annToRLE`. */
export function rleFromPolygons(polys: ArrayLike<number>[], h: number, w: number): Rle {
  const parts = polys.map((p) => rleFromPolygon(p, h, w));
  if (parts.length === 0) return { size: [h, w], counts: [h * w] };
  return parts.length === 1 ? parts[0] : rleMerge(parts, false);
}

/** IoU of two RLEs; with `crowd` true the union is the area of `a` alone (pycocotools' iscrowd rule for gt `b`). */
export function rleIou(a: Rle, b: Rle, crowd = false): number {
  const inter = rleArea(rleMerge([a, b], true));
  const uni = crowd ? rleArea(a) : rleArea(a) + rleArea(b) - inter;
  return uni > 0 ? inter / uni : 0;
}
