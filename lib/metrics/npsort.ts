/**
 * numpy's default `argsort` (kind="quicksort": introsort with median-of-three partitions, insertion sort below 16
 * elements, heapsort past the depth limit), reproduced so that ties come out in the same order as in ultralytics.
 */

function less(a: number, b: number): boolean {
  return a < b || (b !== b && a === a);
}

function heapsort(v: ArrayLike<number>, idx: Int32Array, start: number, n: number): void {
  // 1-based heap over idx[start .. start+n-1]
  const a = (k: number) => idx[start + k - 1];
  const set = (k: number, val: number) => {
    idx[start + k - 1] = val;
  };
  let i: number, j: number, tmp: number;
  for (let l = n >> 1; l > 0; --l) {
    tmp = a(l);
    for (i = l, j = l << 1; j <= n;) {
      if (j < n && less(v[a(j)], v[a(j + 1)])) j += 1;
      if (less(v[tmp], v[a(j)])) {
        set(i, a(j));
        i = j;
        j += j;
      } else break;
    }
    set(i, tmp);
  }
  for (; n > 1;) {
    tmp = a(n);
    set(n, a(1));
    n -= 1;
    for (i = 1, j = 2; j <= n;) {
      if (j < n && less(v[a(j)], v[a(j + 1)])) j++;
      if (less(v[tmp], v[a(j)])) {
        set(i, a(j));
        i = j;
        j += j;
      } else break;
    }
    set(i, tmp);
  }
}

/** Indices that sort `v` ascending exactly as `numpy.argsort(v)` (default kind) orders them, ties included. */
export function argsortQuick(v: ArrayLike<number>): Int32Array {
  const num = v.length;
  const t = new Int32Array(num);
  for (let i = 0; i < num; i++) t[i] = i;
  if (num < 2) return t;
  const swap = (x: number, y: number) => {
    const tmp = t[x];
    t[x] = t[y];
    t[y] = tmp;
  };
  let pl = 0, pr = num - 1;
  const stack: number[] = [], depths: number[] = [];
  let cdepth = (31 - Math.clz32(num)) * 2;
  for (;;) {
    let doInsertion = true;
    if (cdepth < 0) {
      heapsort(v, t, pl, pr - pl + 1);
      doInsertion = false;
    } else {
      while (pr - pl > 15) {
        const pm = pl + ((pr - pl) >> 1);
        if (less(v[t[pm]], v[t[pl]])) swap(pm, pl);
        if (less(v[t[pr]], v[t[pm]])) swap(pr, pm);
        if (less(v[t[pm]], v[t[pl]])) swap(pm, pl);
        const vp = v[t[pm]];
        let pi = pl, pj = pr - 1;
        swap(pm, pj);
        for (;;) {
          do ++pi; while (less(v[t[pi]], vp));
          do --pj; while (less(vp, v[t[pj]]));
          if (pi >= pj) break;
          swap(pi, pj);
        }
        swap(pi, pr - 1);
        if (pi - pl < pr - pi) {
          stack.push(pi + 1, pr);
          pr = pi - 1;
        } else {
          stack.push(pl, pi - 1);
          pl = pi + 1;
        }
        depths.push(--cdepth);
      }
    }
    if (doInsertion) {
      for (let pi = pl + 1; pi <= pr; ++pi) {
        const vi = t[pi], vp = v[vi];
        let pj = pi;
        while (pj > pl && less(vp, v[t[pj - 1]])) {
          t[pj] = t[pj - 1];
          pj--;
        }
        t[pj] = vi;
      }
    }
    if (stack.length === 0) break;
    pr = stack.pop()!;
    pl = stack.pop()!;
    cdepth = depths.pop()!;
  }
  return t;
}
