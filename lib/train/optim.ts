/**
 * Optimisers and schedules as ultralytics 8.2 `BaseTrainer` uses them: parameter groups (biases / decayed weights /
 * norm weights, in that order), torch's SGD (Nesterov), Adam and AdamW update rules, `optimizer=auto`, weight decay
 * scaled by batch*accumulate/nbs, warmup interpolation, linear / cosine lr lambdas, gradient-norm clipping.
 */
import { tf } from "../backend/mod.ts";

export type OptimizerName = "SGD" | "Adam" | "AdamW";

/** One parameter group (torch `param_groups[i]`). */
export interface ParamGroup {
  /** "bias" (group 0, no decay), "weight" (group 1, decayed), "norm" (group 2, no decay) */
  kind: "bias" | "weight" | "norm";
  params: string[];
  lr: number;
  initialLr: number;
  /** SGD momentum (absent meaning for Adam: beta1 is fixed at construction) */
  momentum: number;
  weightDecay: number;
}

/** Split parameter names into ultralytics' groups: names containing "bias"; norm-layer weights; other weights. */
export function splitParamGroups(names: string[], isNorm: (name: string) => boolean = defaultIsNorm): {
  bias: string[];
  weight: string[];
  norm: string[];
} {
  const bias: string[] = [], weight: string[] = [], norm: string[] = [];
  for (const n of names) {
    if (n.includes("bias")) bias.push(n);
    else if (isNorm(n)) norm.push(n);
    else weight.push(n);
  }
  return { bias, weight, norm };
}

/** BatchNorm weights in ultralytics naming: `<...>.bn.weight`. */
export function defaultIsNorm(name: string): boolean {
  return /(^|\.)bn\.weight$/.test(name);
}

/** Resolve `optimizer=auto` as ultralytics `build_optimizer`: SGD(0.01, 0.9) beyond 10k iterations, else AdamW. */
export function resolveOptimizer(
  name: string,
  lr0: number,
  momentum: number,
  nc: number,
  iterations: number,
): { name: OptimizerName; lr: number; momentum: number; auto: boolean } {
  if (name.toLowerCase() === "auto") {
    const lrFit = Math.round((0.002 * 5 / (4 + nc)) * 1e6) / 1e6;
    return iterations > 10000
      ? { name: "SGD", lr: 0.01, momentum: 0.9, auto: true }
      : { name: "AdamW", lr: lrFit, momentum: 0.9, auto: true };
  }
  const canon: Record<string, OptimizerName> = { sgd: "SGD", adam: "Adam", adamw: "AdamW" };
  const n = canon[name.toLowerCase()];
  if (!n) throw new Error(`optimizer '${name}' is not supported (SGD, Adam, AdamW, auto)`);
  return { name: n, lr: lr0, momentum, auto: false };
}

/** Trainer arithmetic: accumulate = max(round(nbs/batch), 1); decay scaled by batch*accumulate/nbs. */
export function accumulationAndDecay(
  batch: number,
  weightDecay: number,
  nbs = 64,
): { accumulate: number; weightDecay: number } {
  const accumulate = Math.max(Math.round(nbs / batch), 1);
  return { accumulate, weightDecay: (weightDecay * batch * accumulate) / nbs };
}

/** Python's round-half-even for .5 cases as numpy `round` (used for the warmup accumulate). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy `interp` for two points. */
export function interp(x: number, x0: number, x1: number, y0: number, y1: number): number {
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + ((x - x0) * (y1 - y0)) / (x1 - x0);
}

/** lr lambda of ultralytics: linear `(1 - x/epochs)(1 - lrf) + lrf` or cosine `one_cycle(1, lrf, epochs)`. */
export function lrLambda(cos: boolean, lrf: number, epochs: number): (epoch: number) => number {
  if (cos) return (x) => Math.max((1 - Math.cos((x * Math.PI) / epochs)) / 2, 0) * (lrf - 1) + 1;
  return (x) => Math.max(1 - x / epochs, 0) * (1.0 - lrf) + lrf;
}

/** Warmup settings (ultralytics defaults: warmup_epochs 3, warmup_momentum 0.8, warmup_bias_lr 0.1, nbs 64). */
export interface WarmupSettings {
  nw: number;
  warmupBiasLr: number;
  warmupMomentum: number;
  momentum: number;
  nbs: number;
  batch: number;
}

/** Warmup iterations nw = max(round(warmup_epochs*nb), 100), or -1 when warmup_epochs is 0. */
export function warmupIterations(warmupEpochs: number, nb: number): number {
  return warmupEpochs > 0 ? Math.max(Math.round(warmupEpochs * nb), 100) : -1;
}

/** Apply the warmup at iteration ni (ni <= nw): sets each group's lr / momentum; returns the accumulate to use. */
export function applyWarmup(groups: ParamGroup[], ni: number, lf: number, w: WarmupSettings): number {
  const acc = Math.max(1, roundHalfEven(interp(ni, 0, w.nw, 1, w.nbs / w.batch)));
  groups.forEach((g, j) => {
    g.lr = interp(ni, 0, w.nw, j === 0 ? w.warmupBiasLr : 0.0, g.initialLr * lf);
    g.momentum = interp(ni, 0, w.nw, w.warmupMomentum, w.momentum);
  });
  return acc;
}

/** Serializable optimiser state (for resume). */
export interface OptimizerState {
  name: OptimizerName;
  groups: ParamGroup[];
  step: Record<string, number>;
  /** per param: momentum buffer (SGD) or exp_avg + exp_avg_sq (Adam), flat float32 */
  slots: Record<string, Float32Array[]>;
}

/** A non-trainable variable that takes over `t` (disposes the temporary). */
function ownedVariable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
}

/** torch.optim SGD(nesterov) / Adam / AdamW over named tf.Variables, with ultralytics' three parameter groups. */
export class Optimizer {
  readonly name: OptimizerName;
  groups: ParamGroup[];
  private readonly beta1: number;
  private readonly beta2 = 0.999;
  private readonly eps = 1e-8;
  private steps = new Map<string, number>();
  private slots = new Map<string, tf.Variable[]>();

  /** `names` in model order; `decay` is the (already scaled) weight decay of the weight group. */
  constructor(
    name: OptimizerName,
    names: string[],
    opts: { lr: number; momentum: number; decay: number; isNorm?: (n: string) => boolean },
  ) {
    this.name = name;
    this.beta1 = opts.momentum;
    const s = splitParamGroups(names, opts.isNorm);
    const mk = (kind: ParamGroup["kind"], params: string[], wd: number): ParamGroup => ({
      kind,
      params,
      lr: opts.lr,
      initialLr: opts.lr,
      momentum: opts.momentum,
      weightDecay: wd,
    });
    this.groups = [mk("bias", s.bias, 0), mk("weight", s.weight, opts.decay), mk("norm", s.norm, 0)];
  }

  /** Apply one update with gradients `grads` (by param name) to `vars`. Params without a gradient are skipped. */
  step(vars: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): void {
    for (const g of this.groups) {
      for (const name of g.params) {
        const grad = grads.get(name);
        const p = vars.get(name);
        if (!grad || !p) continue;
        const t = (this.steps.get(name) ?? 0) + 1;
        this.steps.set(name, t);
        tf.tidy(() => {
          if (this.name === "SGD") this.sgd(name, p, grad, g, t);
          else this.adam(name, p, grad, g, t);
        });
      }
    }
  }

  private slot(name: string, p: tf.Variable, n: number): tf.Variable[] {
    let s = this.slots.get(name);
    if (!s) {
      s = Array.from({ length: n }, () => ownedVariable(tf.zerosLike(p)));
      this.slots.set(name, s);
    }
    return s;
  }

  private sgd(name: string, p: tf.Variable, grad: tf.Tensor, g: ParamGroup, t: number) {
    let d = grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const [buf] = this.slot(name, p, 1);
    if (g.momentum !== 0) {
      const nb = t === 1 ? d : buf.mul(g.momentum).add(d);
      buf.assign(nb);
      d = d.add(nb.mul(g.momentum)); // nesterov
    }
    p.assign(p.sub(d.mul(g.lr)));
  }

  private adam(name: string, p: tf.Variable, grad: tf.Tensor, g: ParamGroup, t: number) {
    let d = grad;
    if (this.name === "AdamW") {
      if (g.weightDecay !== 0) p.assign(p.mul(1 - g.lr * g.weightDecay));
    } else if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const [m, v] = this.slot(name, p, 2);
    m.assign(m.mul(this.beta1).add(d.mul(1 - this.beta1)));
    v.assign(v.mul(this.beta2).add(d.square().mul(1 - this.beta2)));
    const bc1 = 1 - Math.pow(this.beta1, t);
    const bc2 = 1 - Math.pow(this.beta2, t);
    const denom = v.sqrt().div(Math.sqrt(bc2)).add(this.eps);
    p.assign(p.sub(m.div(denom).mul(g.lr / bc1)));
  }

  /** Snapshot for resume (reads slot values). */
  getState(): OptimizerState {
    const slots: Record<string, Float32Array[]> = {};
    for (const [k, s] of this.slots) slots[k] = s.map((v) => v.dataSync() as Float32Array);
    return {
      name: this.name,
      groups: this.groups.map((g) => ({ ...g, params: [...g.params] })),
      step: Object.fromEntries(this.steps),
      slots,
    };
  }

  /** Restore a snapshot taken by `getState` (shapes from `vars`). */
  setState(st: OptimizerState, vars: Map<string, tf.Variable>): void {
    this.dispose();
    this.groups = st.groups.map((g) => ({ ...g, params: [...g.params] }));
    this.steps = new Map(Object.entries(st.step));
    for (const [k, arrs] of Object.entries(st.slots)) {
      const p = vars.get(k);
      if (!p) continue;
      this.slots.set(k, arrs.map((a) => ownedVariable(tf.tensor(a, p.shape, "float32"))));
    }
  }

  /** Free the slot variables. */
  dispose(): void {
    for (const s of this.slots.values()) s.forEach((v) => v.dispose());
    this.slots.clear();
  }
}

/** torch `clip_grad_norm_(max_norm)`: scales all grads by min(1, max/(norm+1e-6)); returns new tensors + norm. */
export function clipGradNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm = 10.0,
): { grads: Map<string, tf.Tensor>; norm: number } {
  const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => g.square().sum())));
  const norm = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  const coef = Math.min(maxNorm / (norm + 1e-6), 1.0);
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) out.set(k, tf.tidy(() => g.mul(coef)));
  return { grads: out, norm };
}
