/**
 * ModelEMA as ultralytics (`utils/torch_utils.py`): an exponential moving average of every floating-point parameter
 * and BatchNorm buffer, decay d = 0.9999·(1 − exp(−updates/2000)); `v = v·d + (1−d)·model`.
 */
import { tf } from "../backend/mod.ts";

/** EMA of named tensors (parameters and running statistics). */
export class ModelEMA {
  readonly vars = new Map<string, tf.Variable>();
  updates: number;
  constructor(source: Map<string, tf.Tensor>, readonly decay = 0.9999, readonly tau = 2000, updates = 0) {
    this.updates = updates;
    for (const [k, v] of source) this.vars.set(k, tf.variable(v, false));
  }

  /** Decay used at update number `x`. */
  decayAt(x: number): number {
    return this.decay * (1 - Math.exp(-x / this.tau));
  }

  /** One update from the model's current tensors (same names). */
  update(model: Map<string, tf.Tensor>): void {
    this.updates += 1;
    const d = this.decayAt(this.updates);
    tf.tidy(() => {
      for (const [k, e] of this.vars) {
        const m = model.get(k);
        if (!m) continue;
        e.assign(e.mul(d).add(m.mul(1 - d)));
      }
    });
  }

  /** Values as flat float32 arrays (for checkpoints). */
  snapshot(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of this.vars) out[k] = v.dataSync() as Float32Array;
    return out;
  }

  /** Restore values written by `snapshot`. */
  restore(values: Record<string, Float32Array>, updates: number): void {
    this.updates = updates;
    for (const [k, v] of this.vars) {
      const a = values[k];
      if (a && a.length === v.size) tf.tidy(() => v.assign(tf.tensor(a, v.shape, "float32")));
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
