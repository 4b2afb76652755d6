/**
 * Seeded pseudo-random numbers for data generation: a small counter-based generator (sfc32 seeded by a hash of
 * `(seed, stream)`), so any image index can be generated on its own, in any worker, with the same bytes.
 */

/** A seeded generator: `next()` uniform in [0, 1). */
export interface Rng {
  next(): number;
  /** uniform in [a, b) */
  uniform(a: number, b: number): number;
  /** integer in [a, b] inclusive */
  int(a: number, b: number): number;
  /** standard normal (Box-Muller) times sd plus mean */
  normal(mean?: number, sd?: number): number;
  /** true with probability p */
  chance(p: number): boolean;
  /** one element of a non-empty list */
  pick<T>(xs: readonly T[]): T;
}

function hash32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A generator for `(seed, stream)`; different streams are independent. */
export function makeRng(seed: number, stream = 0): Rng {
  let a = hash32(seed >>> 0, stream >>> 0), b = hash32(a, 1), c = hash32(b, 2), d = 1;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  let spare: number | null = null;
  const rng: Rng = {
    next,
    uniform: (x, y) => x + (y - x) * next(),
    int: (x, y) => x + Math.floor(next() * (y - x + 1)),
    normal: (mean = 0, sd = 1) => {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return mean + sd * s;
      }
      let u = 0;
      while (u <= 1e-12) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return mean + sd * r * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)],
  };
  return rng;
}

let normalTable: Float32Array | null = null;

/**
 * Add Gaussian noise N(0, sigma) to `values` in place, fast: standard normals come from a fixed table of 65536
 * Box-Muller samples (seeded once, the same in every worker) indexed by a xorshift stream seeded from `rng`.
 */
export function addGaussianNoise(values: Float32Array, sigma: number, rng: Rng): void {
  if (!normalTable) {
    const r = makeRng(0x5eed, 0x6e6f);
    normalTable = new Float32Array(65536);
    for (let i = 0; i < normalTable.length; i++) normalTable[i] = r.normal();
  }
  const t = normalTable;
  let x = (Math.floor(rng.next() * 4294967296) | 1) >>> 0;
  for (let i = 0; i < values.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    values[i] += sigma * t[(x >>> 8) & 0xffff];
  }
}
