/**
 * The YOLOv8-seg network for any scale and class count (`YoloSegModel`): built from the layer table in `config.ts`,
 * weights as tf.Variables named like ultralytics' state dict, eval / train forward, state-dict load and export.
 */
import { tf } from "../backend/mod.ts";
import { UserError } from "../util/errors.ts";
import { buildConfig, type ModelConfig, type Scale } from "./config.ts";
import { C2f, Conv, ParamStore, type RunCtx, Segment, SPPF, upsample2 } from "./layers.ts";
import { recordToFloat32, type StateDict, type TensorRecord } from "./state_dict.ts";

/** Options of `YoloSegModel.forward`. */
export interface ForwardOptions {
  /** train mode: BatchNorm with batch statistics, raw outputs only */
  train: boolean;
  /** train mode: update BatchNorm running statistics (default true; false for parity runs) */
  updateStats?: boolean;
  /** eval mode: fold BatchNorm into conv weights (default true) */
  fold?: boolean;
  /** also return every top-level layer output 0..21 (NHWC) */
  returnLayers?: boolean;
}

/** Eval-mode outputs (NHWC). */
export interface EvalOutput {
  /** [B, A, 4+nc+nm]: xywh in input pixels, sigmoid class scores, raw mask coefficients */
  pred: tf.Tensor3D;
  /** [B, H/4, W/4, nm] mask prototypes */
  proto: tf.Tensor4D;
  /** per stride 8/16/32: [B, h, w, 64+nc] raw box DFL logits + class logits */
  levels: tf.Tensor4D[];
  /** outputs of layers 0..21 when requested */
  layers?: tf.Tensor4D[];
}

/** Train-mode outputs (what the loss consumes), NHWC. */
export interface TrainOutput {
  /** per stride: [B, h, w, 64+nc] raw */
  levels: tf.Tensor4D[];
  /** [B, A, nm] raw mask coefficients */
  mc: tf.Tensor3D;
  /** [B, H/4, W/4, nm] */
  proto: tf.Tensor4D;
  layers?: tf.Tensor4D[];
}

/** Result of `loadStateDict`: ultralytics `intersect_dicts`-style transfer. */
export interface LoadReport {
  transferred: number;
  total: number;
  /** model entries not loaded (absent or shape mismatch) */
  skipped: string[];
}

type Layer = Conv | C2f | SPPF | "Upsample" | "Concat" | Segment;

/** YOLOv8-seg (`SegmentationModel`) in TensorFlow.js. */
export class YoloSegModel {
  readonly config: ModelConfig;
  names: Record<number, string>;
  private readonly store: ParamStore;
  private readonly layers: Layer[] = [];

  private constructor(config: ModelConfig, names?: Record<number, string>, seed?: number) {
    this.config = config;
    this.store = new ParamStore(seed);
    this.names = names ?? Object.fromEntries(Array.from({ length: config.nc }, (_, i) => [i, String(i)]));
    for (const spec of config.layers) {
      const p = `model.${spec.index}`;
      switch (spec.type) {
        case "Conv":
          this.layers.push(new Conv(this.store, p, spec.cin[0], spec.cout, spec.k, spec.s));
          break;
        case "C2f":
          this.layers.push(new C2f(this.store, p, spec.cin[0], spec.cout, spec.n, spec.shortcut ?? false));
          break;
        case "SPPF":
          this.layers.push(new SPPF(this.store, p, spec.cin[0], spec.cout, spec.poolK));
          break;
        case "Upsample":
        case "Concat":
          this.layers.push(spec.type);
          break;
        case "Segment":
          this.layers.push(
            new Segment(this.store, p, config.nc, spec.nm!, spec.npr!, spec.cin, config.regMax, config.strides),
          );
          break;
      }
    }
  }

  /** A freshly initialised model (PyTorch default conv init, ultralytics Detect bias init); `seed` for repeatability. */
  static create(opts: { scale: Scale; nc: number; names?: Record<number, string>; seed?: number }): YoloSegModel {
    return new YoloSegModel(buildConfig(opts.scale, opts.nc), opts.names, opts.seed);
  }

  /** Number of classes. */
  get nc(): number {
    return this.config.nc;
  }

  /** Model scale letter. */
  get scale(): Scale {
    return this.config.scale;
  }

  /** Trainable parameters by state-dict name (conv weights, BN weight/bias, conv biases). Stored NHWC/HWIO. */
  namedParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const name of this.store.order) if (this.store.trainable.has(name)) out.set(name, this.store.vars.get(name)!);
    return out;
  }

  /** BatchNorm running statistics by state-dict name. */
  namedBuffers(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const name of this.store.order) if (this.store.buffers.has(name)) out.set(name, this.store.vars.get(name)!);
    return out;
  }

  /** Total parameter count as torch's `sum(p.numel() for p in model.parameters())` (includes the fixed DFL conv). */
  parameterCount(): number {
    let n = 0;
    for (const [name, v] of this.store.vars) if (!this.store.buffers.has(name)) n += v.size;
    return n;
  }

  /** Torch shape of a state-dict entry (e.g. OIHW for conv weights), or undefined. */
  torchShape(name: string): number[] | undefined {
    if (this.store.batches.has(name)) return [];
    return this.store.torchShape.get(name);
  }

  /** Convert a tensor shaped like the stored variable `name` (a value or a gradient) to torch layout. */
  toTorchLayout(name: string, t: tf.Tensor): tf.Tensor {
    const layout = this.store.layout.get(name);
    const shape = this.store.torchShape.get(name);
    if (!layout || !shape) throw new Error(`unknown state-dict entry '${name}'`);
    return tf.tidy(() => {
      if (layout === "hwio") return tf.transpose(t, [3, 2, 0, 1]);
      if (layout === "convT") {
        const [ci, co] = shape;
        return tf.transpose(tf.reshape(t, [ci, 2, 2, co]), [0, 3, 1, 2]);
      }
      return tf.reshape(t, shape);
    });
  }

  /** Convert a torch-layout tensor of entry `name` to the stored layout. */
  fromTorchLayout(name: string, t: tf.Tensor): tf.Tensor {
    const layout = this.store.layout.get(name)!;
    const v = this.store.vars.get(name)!;
    return tf.tidy(() => {
      if (layout === "hwio") return tf.transpose(t, [2, 3, 1, 0]);
      if (layout === "convT") {
        const [ci, co] = t.shape;
        return tf.reshape(tf.transpose(t, [0, 2, 3, 1]), [1, 1, ci, 4 * co]);
      }
      return tf.reshape(t, v.shape);
    });
  }

  /**
   * Load tensors whose name and shape match (ultralytics `intersect_dicts`); prints "Transferred X/Y items".
   * `strict`: throw a UserError unless every model entry is loaded and no unknown key is present.
   */
  loadStateDict(sd: StateDict, opts: { strict?: boolean; quiet?: boolean; file?: string } = {}): LoadReport {
    const skipped: string[] = [];
    let transferred = 0;
    for (const name of this.store.order) {
      const rec = sd.get(name);
      const want = this.torchShape(name)!;
      if (!rec || rec.shape.length !== want.length || rec.shape.some((d, i) => d !== want[i])) {
        skipped.push(name);
        continue;
      }
      if (this.store.batches.has(name)) {
        const d = rec.data;
        this.store.batches.set(name, Number(d[0] as number | bigint));
      } else {
        const src = tf.tensor(recordToFloat32(rec), rec.shape, "float32");
        const val = this.fromTorchLayout(name, src);
        src.dispose();
        this.store.vars.get(name)!.assign(val);
        val.dispose();
      }
      transferred++;
    }
    const total = this.store.order.length;
    if (opts.strict) {
      const extra = [...sd.keys()].filter((k) => !this.store.order.includes(k));
      if (skipped.length || extra.length) {
        const what = skipped.length ? `missing or mis-shaped: ${skipped.slice(0, 3).join(", ")}` : "";
        const more = extra.length ? `unexpected: ${extra.slice(0, 3).join(", ")}` : "";
        throw new UserError(
          `state dict does not fit ${this.describe()} (${[what, more].filter(Boolean).join("; ")})`,
          opts.file,
        );
      }
    }
    if (!opts.quiet) console.log(`Transferred ${transferred}/${total} items from pretrained weights`);
    return { transferred, total, skipped };
  }

  /** Export as a torch-layout state dict (float32; `num_batches_tracked` int64), in ultralytics' order. */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const name of this.store.order) {
      if (this.store.batches.has(name)) {
        sd.set(name, { shape: [], dtype: "int64", data: BigInt64Array.of(BigInt(this.store.batches.get(name)!)) });
        continue;
      }
      const t = this.toTorchLayout(name, this.store.vars.get(name)!);
      const rec: TensorRecord = { shape: this.torchShape(name)!, dtype: "float32", data: t.dataSync() as Float32Array };
      t.dispose();
      sd.set(name, rec);
    }
    return sd;
  }

  /** Short description, e.g. "yolov8n-seg nc=1". */
  describe(): string {
    return `yolov8${this.scale}-seg nc=${this.nc}`;
  }

  /** Eval-mode forward on [B,H,W,3] float 0..1 (H, W multiples of 32). */
  forward(x: tf.Tensor4D, opts: ForwardOptions & { train: false }): EvalOutput;
  /** Train-mode forward (batch-statistics BatchNorm). */
  forward(x: tf.Tensor4D, opts: ForwardOptions & { train: true }): TrainOutput;
  forward(x: tf.Tensor4D, opts: ForwardOptions): EvalOutput | TrainOutput;
  forward(x: tf.Tensor4D, opts: ForwardOptions): EvalOutput | TrainOutput {
    if (x.rank !== 4 || x.shape[3] !== 3) throw new UserError(`model input must be [B,H,W,3], got [${x.shape}]`);
    if (x.shape[1] % 32 !== 0 || x.shape[2] % 32 !== 0) {
      throw new UserError(`model input height and width must be multiples of 32, got ${x.shape[1]}x${x.shape[2]}`);
    }
    const ctx: RunCtx = { train: opts.train, updateStats: opts.updateStats ?? true, fold: opts.fold ?? true };
    // Layer by layer, each in its own tidy; an output is freed after its last consumer unless layers are returned
    // (keeps peak memory near one layer's working set: batch 8 at 640 otherwise exhausts the 4 GiB wasm heap).
    const specs = this.config.layers;
    const lastUse = specs.map(() => -1);
    for (const spec of specs) for (const f of spec.from) if (f >= 0) lastUse[f] = Math.max(lastUse[f], spec.index);
    const ys: tf.Tensor4D[] = [];
    const keepAll = opts.returnLayers === true;
    try {
      for (const spec of specs) {
        const layer = this.layers[spec.index];
        const inputs = spec.from.map((f) => (f < 0 ? x : ys[f]));
        if (layer instanceof Segment) {
          const out = tf.tidy(() => {
            const raw = layer.applyRaw(inputs, ctx);
            if (opts.train) return { levels: raw.levels, mc: raw.mc, proto: raw.proto };
            const pred = tf.concat([layer.decode(raw.levels), raw.mc], 2) as tf.Tensor3D;
            return { pred, proto: raw.proto, levels: raw.levels };
          });
          if (!keepAll) {
            for (let i = 0; i < ys.length; i++) ys[i]?.dispose();
            return out as unknown as EvalOutput | TrainOutput;
          }
          return { ...(out as unknown as EvalOutput | TrainOutput), layers: ys };
        }
        const y = tf.tidy(() => {
          if (layer === "Upsample") return upsample2(inputs[0], opts.train);
          if (layer === "Concat") return tf.concat(inputs, 3) as tf.Tensor4D;
          return layer.apply(inputs[0], ctx);
        });
        ys.push(y);
        if (!keepAll) { for (const f of spec.from) if (f >= 0 && lastUse[f] === spec.index) ys[f].dispose(); }
      }
    } catch (e) {
      for (const y of ys) y?.dispose();
      throw e;
    }
    throw new Error("layer table has no Segment head");
  }

  /** Drop cached folded weights (they also refresh automatically when a variable is reassigned). */
  invalidateFolded() {
    for (const l of this.convs()) l.dropFolded();
  }

  private *convs(): Generator<Conv> {
    const walk = function* (o: unknown, depth: number): Generator<Conv> {
      if (o instanceof Conv) {
        yield o;
        return;
      }
      if (depth > 4 || o === null || typeof o !== "object") return;
      for (const v of Object.values(o as Record<string, unknown>)) yield* walk(v, depth + 1);
    };
    for (const l of this.layers) yield* walk(l, 0);
  }

  /** Free every variable and cache. */
  dispose() {
    this.invalidateFolded();
    this.store.dispose();
  }
}
