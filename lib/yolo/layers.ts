/**
 * YOLOv8 building blocks in TensorFlow.js, NHWC: Conv (conv + BatchNorm + SiLU), Bottleneck, C2f, SPPF, Proto and
 * the Segment head (Detect box/class branches + mask coefficients). Weights live in a `ParamStore` as `tf.Variable`s
 * keyed by ultralytics' state-dict names; eval mode folds BatchNorm into the conv (cached, refreshed when any
 * variable is reassigned), train mode normalises with batch statistics and updates the running statistics.
 */
import { tf } from "../backend/mod.ts";
import { batchNormTrain } from "../backend/batchnorm.ts";

/** BatchNorm epsilon and momentum set by ultralytics' `initialize_weights`. */
export const BN_EPS = 1e-3;
export const BN_MOMENTUM = 0.03;

/** How a stored variable maps to torch layout. */
export type Layout = "hwio" | "convT" | "plain";

/** Per-call settings shared by all layers. */
export interface RunCtx {
  /** train mode: batch-statistics BatchNorm */
  train: boolean;
  /** train mode only: update BatchNorm running statistics (default true) */
  updateStats: boolean;
  /** eval mode only: use BatchNorm folded into conv weights (default true) */
  fold: boolean;
}

let storeCounter = 0;

/** Owns the variables of one model: name → variable, the torch layout of each, and BN batch counters. */
export class ParamStore {
  /** state-dict order of every entry (parameters, buffers, num_batches_tracked) */
  readonly order: string[] = [];
  readonly vars = new Map<string, tf.Variable>();
  readonly layout = new Map<string, Layout>();
  /** torch shape of each variable entry */
  readonly torchShape = new Map<string, number[]>();
  readonly trainable = new Set<string>();
  readonly buffers = new Set<string>();
  /** `...bn.num_batches_tracked` counters */
  readonly batches = new Map<string, number>();
  private readonly uid = `yolo${++storeCounter}`;
  private seed: number | undefined;

  /** `seed`: make the random initialisation reproducible. */
  constructor(seed?: number) {
    this.seed = seed;
  }

  /** Next seed for an initialiser (undefined = unseeded). */
  nextSeed(): number | undefined {
    return this.seed === undefined ? undefined : this.seed++;
  }

  /** Register a variable under a state-dict name. */
  add(
    name: string,
    value: tf.Tensor,
    opts: { layout: Layout; torchShape: number[]; kind: "param" | "buffer" | "fixed" },
  ) {
    const v = tf.variable(value, opts.kind === "param", `${this.uid}/${name}`);
    value.dispose();
    this.order.push(name);
    this.vars.set(name, v);
    this.layout.set(name, opts.layout);
    this.torchShape.set(name, opts.torchShape);
    if (opts.kind === "param") this.trainable.add(name);
    if (opts.kind === "buffer") this.buffers.add(name);
    return v;
  }

  /** Register a BatchNorm `num_batches_tracked` counter. */
  addCounter(name: string) {
    this.order.push(name);
    this.batches.set(name, 0);
  }

  /** Dispose every variable. */
  dispose() {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** Uniform(−b, b) tensor. */
function uniform(store: ParamStore, shape: number[], bound: number): tf.Tensor {
  return tf.randomUniform(shape, -bound, bound, "float32", store.nextSeed());
}

/** SiLU: x·sigmoid(x). */
export function silu(x: tf.Tensor4D): tf.Tensor4D {
  return tf.mul(x, tf.sigmoid(x));
}

/** Register a conv weight with PyTorch's default init; stored HWIO [k,k,c1,c2], torch OIHW [c2,c1,k,k]. */
function convWeight(store: ParamStore, name: string, c1: number, c2: number, k: number): tf.Variable {
  return store.add(name, uniform(store, [k, k, c1, c2], 1 / Math.sqrt(c1 * k * k)), {
    layout: "hwio",
    torchShape: [c2, c1, k, k],
    kind: "param",
  });
}

/** Conv2d + BatchNorm2d(eps 1e-3) + SiLU (ultralytics `Conv`), padding k//2. */
export class Conv {
  readonly w: tf.Variable;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly var: tf.Variable;
  private folded: { w: tf.Tensor4D; b: tf.Tensor1D; sig: unknown[] } | null = null;

  constructor(
    private readonly store: ParamStore,
    readonly prefix: string,
    readonly c1: number,
    readonly c2: number,
    readonly k = 1,
    readonly s = 1,
  ) {
    this.w = convWeight(store, `${prefix}.conv.weight`, c1, c2, k);
    const p = `${prefix}.bn`;
    this.gamma = store.add(`${p}.weight`, tf.ones([c2]), { layout: "plain", torchShape: [c2], kind: "param" });
    this.beta = store.add(`${p}.bias`, tf.zeros([c2]), { layout: "plain", torchShape: [c2], kind: "param" });
    this.mean = store.add(`${p}.running_mean`, tf.zeros([c2]), { layout: "plain", torchShape: [c2], kind: "buffer" });
    this.var = store.add(`${p}.running_var`, tf.ones([c2]), { layout: "plain", torchShape: [c2], kind: "buffer" });
    store.addCounter(`${p}.num_batches_tracked`);
  }

  private get pad(): number {
    return Math.floor(this.k / 2);
  }

  private signature(): unknown[] {
    return [this.w.dataId, this.gamma.dataId, this.beta.dataId, this.mean.dataId, this.var.dataId];
  }

  /** Folded (W·γ/√(var+eps), β − mean·γ/√(var+eps)), cached until a variable is reassigned. */
  private foldedWeights(): { w: tf.Tensor4D; b: tf.Tensor1D } {
    const sig = this.signature();
    if (this.folded && this.folded.sig.every((d, i) => d === sig[i])) return this.folded;
    this.dropFolded();
    const [w, b] = tf.tidy(() => {
      const scale = tf.div(this.gamma, tf.sqrt(tf.add(this.var, BN_EPS)));
      return [tf.mul(this.w, scale) as tf.Tensor4D, tf.sub(this.beta, tf.mul(this.mean, scale)) as tf.Tensor1D];
    });
    tf.keep(w);
    tf.keep(b);
    this.folded = { w, b, sig };
    return this.folded;
  }

  /** Release the folded-weight cache. */
  dropFolded() {
    if (this.folded) {
      this.folded.w.dispose();
      this.folded.b.dispose();
      this.folded = null;
    }
  }

  /** [B,H,W,c1] → [B,H/s,W/s,c2]; intermediates are freed at once (only the output survives). */
  apply(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    return tf.tidy(() => this.run(x, ctx));
  }

  private run(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    const pad = this.pad === 0 ? "valid" : this.pad;
    const strides: [number, number] = [this.s, this.s];
    if (!ctx.train && ctx.fold) {
      const { w, b } = this.foldedWeights();
      return silu(tf.fused.conv2d({ x, filter: w, strides, pad, bias: b }));
    }
    const y = tf.conv2d(x, this.w as tf.Tensor4D, strides, pad);
    if (!ctx.train) {
      return silu(tf.batchNorm(y, this.mean, this.var, this.beta, this.gamma, BN_EPS) as tf.Tensor4D);
    }
    // explicit broadcasting BN with a closed-form gradient (tf.batchNorm's gradient tiles, slow on wasm)
    const { out, mean, variance } = batchNormTrain(y, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, BN_EPS);
    if (ctx.updateStats) this.updateRunning(mean, variance, y.size / y.shape[3]);
    return silu(out);
  }

  /** running = (1−m)·running + m·batch (variance unbiased, as torch). */
  private updateRunning(mean: tf.Tensor, variance: tf.Tensor, count: number) {
    tf.tidy(() => {
      const m = BN_MOMENTUM;
      const unbiased = tf.mul(variance, count > 1 ? count / (count - 1) : 1);
      const newMean = tf.add(tf.mul(this.mean, 1 - m), tf.mul(mean, m));
      const newVar = tf.add(tf.mul(this.var, 1 - m), tf.mul(unbiased, m));
      this.mean.assign(newMean);
      this.var.assign(newVar);
    });
    const key = `${this.prefix}.bn.num_batches_tracked`;
    this.store.batches.set(key, (this.store.batches.get(key) ?? 0) + 1);
  }
}

/** Plain nn.Conv2d with bias (the last 1×1 conv of each head branch). */
export class Conv2d {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(store: ParamStore, prefix: string, c1: number, c2: number, k = 1) {
    this.w = convWeight(store, `${prefix}.weight`, c1, c2, k);
    this.b = store.add(`${prefix}.bias`, uniform(store, [c2], 1 / Math.sqrt(c1 * k * k)), {
      layout: "plain",
      torchShape: [c2],
      kind: "param",
    });
  }

  /** [B,H,W,c1] → [B,H,W,c2] (1×1, stride 1). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.fused.conv2d({ x, filter: this.w as tf.Tensor4D, strides: 1, pad: "valid", bias: this.b });
  }
}

/** Bottleneck: cv2(cv1(x)) (+x when shortcut and c1 == c2); both 3×3, expansion 1.0 inside C2f. */
export class Bottleneck {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly add: boolean;
  constructor(store: ParamStore, prefix: string, c1: number, c2: number, shortcut: boolean, e = 1.0) {
    const c = Math.floor(c2 * e);
    this.cv1 = new Conv(store, `${prefix}.cv1`, c1, c, 3, 1);
    this.cv2 = new Conv(store, `${prefix}.cv2`, c, c2, 3, 1);
    this.add = shortcut && c1 === c2;
  }

  apply(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    const y = this.cv2.apply(this.cv1.apply(x, ctx), ctx);
    return this.add ? tf.add(x, y) : y;
  }
}

/** C2f: cv1 → split in 2 → n bottlenecks chained on the last piece → concat all → cv2. */
export class C2f {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: Bottleneck[] = [];
  private readonly c: number;
  constructor(store: ParamStore, prefix: string, c1: number, c2: number, n: number, shortcut: boolean) {
    this.c = Math.floor(c2 * 0.5);
    this.cv1 = new Conv(store, `${prefix}.cv1`, c1, 2 * this.c, 1, 1);
    this.cv2 = new Conv(store, `${prefix}.cv2`, (2 + n) * this.c, c2, 1, 1);
    for (let i = 0; i < n; i++) this.m.push(new Bottleneck(store, `${prefix}.m.${i}`, this.c, this.c, shortcut));
  }

  apply(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    return tf.tidy(() => {
      // Copy: tf.split's returned array is the tape's output list; pushing to it would corrupt the gradient.
      const ys = [...tf.split(this.cv1.apply(x, ctx), 2, 3)] as tf.Tensor4D[];
      for (const b of this.m) ys.push(b.apply(ys[ys.length - 1], ctx));
      return this.cv2.apply(tf.concat(ys, 3), ctx);
    });
  }
}

/** SPPF: cv1 → three chained max-pools (k, stride 1, pad k//2) → concat → cv2. */
export class SPPF {
  readonly cv1: Conv;
  readonly cv2: Conv;
  constructor(store: ParamStore, prefix: string, c1: number, c2: number, readonly k = 5) {
    const c = Math.floor(c1 / 2);
    this.cv1 = new Conv(store, `${prefix}.cv1`, c1, c, 1, 1);
    this.cv2 = new Conv(store, `${prefix}.cv2`, c * 4, c2, 1, 1);
  }

  apply(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    return tf.tidy(() => {
      const ys = [this.cv1.apply(x, ctx)];
      for (let i = 0; i < 3; i++) {
        ys.push(ctx.train ? maxPoolSame(ys[i], this.k) : tf.maxPool(ys[i], this.k, 1, "same"));
      }
      return this.cv2.apply(tf.concat(ys, 3), ctx);
    });
  }
}

/**
 * Nearest-neighbour ×2 upsampling, [B,H,W,C] → [B,2H,2W,C]. Train mode duplicates with concat/reshape (exact same
 * values) because tfjs-cpu's ResizeNearestNeighborGrad is wrong for batch > 1 (measured).
 */
export function upsample2(x: tf.Tensor4D, train = false): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (!train) return tf.image.resizeNearestNeighbor(x, [h * 2, w * 2]);
  const x5 = tf.reshape(x, [b, h, w, 1, c]);
  const cols = tf.reshape(tf.concat([x5, x5], 3), [b, h, 1, 2 * w, c]);
  return tf.reshape(tf.concat([cols, cols], 2), [b, 2 * h, 2 * w, c]);
}

/** Lowest float32, used as max-pool padding. */
const NEG = -3.4028234663852886e38;

/**
 * Max pool k×k, stride 1, padding k//2 (ignored in the max), as separable maxima of shifted slices: same values as
 * tf.maxPool, with exact gradients (tfjs-wasm's MaxPoolGrad is wrong for some shapes, e.g. [1,2,2,64], [1,8,8,64]).
 */
export function maxPoolSame(x: tf.Tensor4D, k: number): tf.Tensor4D {
  const p = Math.floor(k / 2);
  const [b, h, w, c] = x.shape;
  const rows = tf.pad(x, [[0, 0], [p, p], [0, 0], [0, 0]], NEG);
  let m = tf.slice(rows, [0, 0, 0, 0], [b, h, w, c]);
  for (let d = 1; d < k; d++) m = tf.maximum(m, tf.slice(rows, [0, d, 0, 0], [b, h, w, c]));
  const cols = tf.pad(m, [[0, 0], [0, 0], [p, p], [0, 0]], NEG);
  let out = tf.slice(cols, [0, 0, 0, 0], [b, h, w, c]);
  for (let d = 1; d < k; d++) out = tf.maximum(out, tf.slice(cols, [0, 0, d, 0], [b, h, w, c]));
  return out;
}

/**
 * Proto: Conv 3×3 → ConvTranspose2d(k2, s2, bias) → Conv 3×3 → Conv 1×1 to nm. The transposed conv is stored and
 * run as a 1×1 conv to 4·c channels (order di, dj, c) followed by depth-to-space via reshape/transpose.
 */
export class Proto {
  readonly cv1: Conv;
  readonly upW: tf.Variable; // [1,1,c_,4*c_]
  readonly upB: tf.Variable; // [c_]
  readonly cv2: Conv;
  readonly cv3: Conv;
  constructor(store: ParamStore, prefix: string, c1: number, c_: number, c2: number) {
    this.cv1 = new Conv(store, `${prefix}.cv1`, c1, c_, 3, 1);
    const bound = 1 / Math.sqrt(c_ * 4); // torch: fan_in of a ConvTranspose weight [in,out,k,k] is out·k·k
    this.upW = store.add(`${prefix}.upsample.weight`, uniform(store, [1, 1, c_, 4 * c_], bound), {
      layout: "convT",
      torchShape: [c_, c_, 2, 2],
      kind: "param",
    });
    this.upB = store.add(`${prefix}.upsample.bias`, uniform(store, [c_], bound), {
      layout: "plain",
      torchShape: [c_],
      kind: "param",
    });
    this.cv2 = new Conv(store, `${prefix}.cv2`, c_, c_, 3, 1);
    this.cv3 = new Conv(store, `${prefix}.cv3`, c_, c2, 1, 1);
  }

  apply(x: tf.Tensor4D, ctx: RunCtx): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.cv1.apply(x, ctx);
      const [b, h, w] = y.shape;
      const co = this.upB.shape[0];
      const bias = tf.tile(this.upB, [4]) as tf.Tensor1D;
      const z = tf.fused.conv2d({ x: y, filter: this.upW as tf.Tensor4D, strides: 1, pad: "valid", bias });
      const up = tf.reshape(tf.transpose(tf.reshape(z, [b, h, w, 2, 2, co]), [0, 1, 3, 2, 4, 5]), [
        b,
        2 * h,
        2 * w,
        co,
      ]);
      return this.cv3.apply(this.cv2.apply(up as tf.Tensor4D, ctx), ctx);
    });
  }
}

/** Outputs of the Segment head before decoding (NHWC). */
export interface HeadRaw {
  /** per level [B,h,w,4·regMax+nc]: box DFL logits (side-major) then class logits */
  levels: tf.Tensor4D[];
  /** [B,A,nm] raw mask coefficients, anchors level by level, row-major */
  mc: tf.Tensor3D;
  /** [B,H/4,W/4,nm] */
  proto: tf.Tensor4D;
}

/** Segment head = Detect (cv2 box, cv3 class, DFL) + Proto + cv4 (mask coefficients). */
export class Segment {
  readonly cv2: [Conv, Conv, Conv2d][] = [];
  readonly cv3: [Conv, Conv, Conv2d][] = [];
  readonly dfl: tf.Variable; // [16] bins 0..15, not trainable
  readonly proto: Proto;
  readonly cv4: [Conv, Conv, Conv2d][] = [];

  constructor(
    store: ParamStore,
    prefix: string,
    readonly nc: number,
    readonly nm: number,
    npr: number,
    ch: number[],
    readonly regMax = 16,
    readonly strides = [8, 16, 32],
  ) {
    const c2 = Math.max(16, Math.floor(ch[0] / 4), regMax * 4);
    const c3 = Math.max(ch[0], Math.min(nc, 100));
    ch.forEach((x, i) => {
      const p = `${prefix}.cv2.${i}`;
      this.cv2.push([
        new Conv(store, `${p}.0`, x, c2, 3),
        new Conv(store, `${p}.1`, c2, c2, 3),
        new Conv2d(store, `${p}.2`, c2, 4 * regMax),
      ]);
    });
    ch.forEach((x, i) => {
      const p = `${prefix}.cv3.${i}`;
      this.cv3.push([
        new Conv(store, `${p}.0`, x, c3, 3),
        new Conv(store, `${p}.1`, c3, c3, 3),
        new Conv2d(store, `${p}.2`, c3, nc),
      ]);
    });
    this.dfl = store.add(`${prefix}.dfl.conv.weight`, tf.range(0, regMax, 1, "float32"), {
      layout: "plain",
      torchShape: [1, regMax, 1, 1],
      kind: "fixed",
    });
    this.proto = new Proto(store, `${prefix}.proto`, ch[0], npr, nm);
    const c4 = Math.max(Math.floor(ch[0] / 4), nm);
    ch.forEach((x, i) => {
      const p = `${prefix}.cv4.${i}`;
      this.cv4.push([
        new Conv(store, `${p}.0`, x, c4, 3),
        new Conv(store, `${p}.1`, c4, c4, 3),
        new Conv2d(store, `${p}.2`, c4, nm),
      ]);
    });
    // ultralytics Detect.bias_init: box bias 1.0, class bias log(5 / nc / (640 / s)^2).
    this.cv2.forEach(([, , last]) => last.b.assign(tf.onesLike(last.b)));
    this.cv3.forEach(([, , last], i) => {
      const v = Math.log(5 / nc / (640 / this.strides[i]) ** 2);
      last.b.assign(tf.fill([nc], v));
    });
  }

  /** Raw head outputs for the three feature maps. */
  applyRaw(xs: tf.Tensor4D[], ctx: RunCtx): HeadRaw {
    const branch = (m: [Conv, Conv, Conv2d], x: tf.Tensor4D) => m[2].apply(m[1].apply(m[0].apply(x, ctx), ctx));
    const proto = this.proto.apply(xs[0], ctx);
    const mcs = xs.map((x, i) => {
      const y = branch(this.cv4[i], x);
      return tf.reshape(y, [y.shape[0], y.shape[1] * y.shape[2], this.nm]);
    });
    const levels = xs.map((x, i) => tf.concat([branch(this.cv2[i], x), branch(this.cv3[i], x)], 3) as tf.Tensor4D);
    return { levels, mc: tf.concat(mcs, 1) as tf.Tensor3D, proto };
  }

  /** Decode levels to [B,A,4+nc]: xywh in input pixels, sigmoid class scores. */
  decode(levels: tf.Tensor4D[]): tf.Tensor3D {
    const b = levels[0].shape[0];
    const no = 4 * this.regMax + this.nc;
    const flat = tf.concat(levels.map((l) => tf.reshape(l, [b, l.shape[1] * l.shape[2], no])), 1) as tf.Tensor3D;
    const a = flat.shape[1];
    const box = tf.slice(flat, [0, 0, 0], [b, a, 4 * this.regMax]);
    const cls = tf.slice(flat, [0, 0, 4 * this.regMax], [b, a, this.nc]);
    const prob = tf.softmax(tf.reshape(box, [b * a * 4, this.regMax]));
    const dist = tf.reshape(tf.matMul(prob, tf.reshape(this.dfl, [this.regMax, 1])), [b, a, 4]);
    const { points, strides } = anchorsFor(levels.map((l) => [l.shape[1], l.shape[2]]), this.strides);
    const anc = tf.tensor2d(points, [a, 2]);
    const str = tf.tensor2d(strides, [a, 1]);
    const lt = tf.slice(dist, [0, 0, 0], [b, a, 2]);
    const rb = tf.slice(dist, [0, 0, 2], [b, a, 2]);
    const x1y1 = tf.sub(anc, lt);
    const x2y2 = tf.add(anc, rb);
    const cxy = tf.div(tf.add(x1y1, x2y2), 2);
    const wh = tf.sub(x2y2, x1y1);
    const dbox = tf.mul(tf.concat([cxy, wh], 2), str);
    return tf.concat([dbox, tf.sigmoid(cls)], 2) as tf.Tensor3D;
  }
}

const anchorCache = new Map<string, { points: Float32Array; strides: Float32Array }>();

/** Anchor centres (x+0.5, y+0.5) in grid units [A·2] and each anchor's stride [A], level by level, row-major. */
export function anchorsFor(
  sizes: [number, number][],
  strides: number[],
): { points: Float32Array; strides: Float32Array } {
  const key = JSON.stringify([sizes, strides]);
  const hit = anchorCache.get(key);
  if (hit) return hit;
  const a = sizes.reduce((s, [h, w]) => s + h * w, 0);
  const points = new Float32Array(2 * a);
  const st = new Float32Array(a);
  let k = 0;
  sizes.forEach(([h, w], i) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        points[2 * k] = x + 0.5;
        points[2 * k + 1] = y + 0.5;
        st[k++] = strides[i];
      }
    }
  });
  const out = { points, strides: st };
  anchorCache.set(key, out);
  return out;
}
