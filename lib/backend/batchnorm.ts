/**
 * Train-mode BatchNorm over NHWC (statistics over batch, height and width) with a hand-written gradient.
 *
 * tfjs' `tf.moments` + `tf.batchNorm` tape tiles mean/variance to the full input shape in the FusedBatchNorm gradient
 * (`Tile` is a slow element-wise kernel on wasm: ~1.3 s of a 8.5 s YOLOv8n-seg step at 320 px). Here the forward is
 * `(y - mean) * (gamma * rsqrt(var + eps)) + beta` with broadcasting ops, and the backward is the closed form
 *
 *   dbeta = sum(dy), dgamma = sum(dy * xhat), dy' = gamma * rsqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M)
 *
 * (M = N*H*W), all per-channel sums taken as one [1, M] x [M, C] matMul (fast on wasm, no transposes).
 */
import * as tf from "@tensorflow/tfjs";

/** Per-channel sums of a [M, C] matrix as [C] (a ones-row matMul). */
function channelSum(x2: tf.Tensor2D): tf.Tensor1D {
  const ones = tf.ones([1, x2.shape[0]]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(ones, x2), [x2.shape[1]]);
}

/** Output of `batchNormTrain`: the normalised tensor and the (biased) batch statistics, not differentiated. */
export interface BatchNormTrainResult {
  out: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Batch-statistics BatchNorm of `y` [N,H,W,C] with `gamma`/`beta` [C]; gradients flow to y, gamma and beta.
 * `mean` / `variance` (biased) are returned for running-statistic updates; they live in the caller's scope.
 */
export function batchNormTrain(
  y: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): BatchNormTrainResult {
  const [n, h, w, c] = y.shape;
  const m = n * h * w;
  let mean: tf.Tensor1D | null = null, variance: tf.Tensor1D | null = null;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [yi, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const y2 = tf.reshape(yi, [m, c]) as tf.Tensor2D;
    const mu = tf.div(channelSum(y2), m) as tf.Tensor1D;
    const d = tf.sub(y2, mu) as tf.Tensor2D;
    const v = tf.div(channelSum(tf.square(d) as tf.Tensor2D), m) as tf.Tensor1D;
    const inv = tf.rsqrt(tf.add(v, eps));
    const xhat = tf.mul(d, inv) as tf.Tensor2D;
    const out = tf.reshape(tf.add(tf.mul(xhat, g), b), [n, h, w, c]);
    mean = tf.keep(mu); // the forward runs in a tidy of its own
    variance = tf.keep(v);
    save([xhat, tf.mul(g, inv)]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, scale] = saved as [tf.Tensor2D, tf.Tensor1D];
        const dy2 = tf.reshape(dy, [m, c]) as tf.Tensor2D;
        const db = channelSum(dy2);
        const dg = channelSum(tf.mul(dy2, xh) as tf.Tensor2D);
        const centred = tf.sub(tf.sub(dy2, tf.div(db, m)), tf.mul(xh, tf.div(dg, m)));
        const dx = tf.reshape(tf.mul(centred, scale), [n, h, w, c]);
        return [dx, dg, db];
      },
    };
  });
  const out = f(y, gamma, beta) as tf.Tensor4D;
  const kept = [mean!, variance!] as tf.Tensor1D[];
  const res = { out, mean: tf.clone(kept[0]), variance: tf.clone(kept[1]) };
  tf.dispose(kept);
  return res;
}
