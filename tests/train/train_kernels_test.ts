/**
 * The training-speed pieces: `batchNormTrain` (explicit broadcasting BN with a closed-form gradient) against
 * `tf.moments` + `tf.batchNorm` and their autodiff gradients on cpu, and the wasm Slice / SplitV / Identity kernels
 * against tfjs cpu's results.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { batchNormTrain } from "../../lib/backend/batchnorm.ts";

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("batchNormTrain: output, batch statistics and gradients equal tf.batchNorm's (cpu)", async () => {
  await initBackend({ backend: "cpu", quiet: true });
  const y = tf.randomNormal([2, 5, 6, 3], 0.5, 2, "float32", 1) as tf.Tensor4D;
  const gamma = tf.tensor1d([1.5, -0.5, 0.8]), beta = tf.tensor1d([0.1, 0.2, -0.3]);
  const up = tf.randomNormal([2, 5, 6, 3], 0, 1, "float32", 2); // weights of the scalar loss
  const ref = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(a, [0, 1, 2]);
    return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), up));
  };
  const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3).out, up));
  const gr = tf.grads(ref)([y, gamma, beta]), go = tf.grads(ours)([y, gamma, beta]);
  for (let i = 0; i < 3; i++) assert.ok(maxDiff(go[i].dataSync(), gr[i].dataSync()) < 1e-4, `grad ${i}`);
  const r = batchNormTrain(y, gamma, beta, 1e-3);
  const m = tf.moments(y, [0, 1, 2]);
  assert.ok(maxDiff(r.mean.dataSync(), m.mean.dataSync()) < 1e-5);
  assert.ok(maxDiff(r.variance.dataSync(), m.variance.dataSync()) < 1e-4);
  const o = tf.batchNorm(y, m.mean, m.variance, beta, gamma, 1e-3);
  assert.ok(maxDiff(r.out.dataSync(), o.dataSync()) < 1e-5);
});

Deno.test("wasm Slice, SplitV and Identity give tfjs cpu's values", async () => {
  const x = tf.tidy(() => tf.randomNormal([2, 5, 7, 9], 0, 1, "float32", 3));
  const xs = x.dataSync().slice();
  const xi = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3], "int32");
  const ops: [string, (t: tf.Tensor, ti: tf.Tensor) => tf.Tensor[]][] = [
    ["channels", (t) => [tf.slice(t, [0, 0, 0, 2], [2, 5, 7, 4])]],
    ["inner block", (t) => [tf.slice(t, [1, 1, 2, 0], [1, 3, 4, 9])]],
    ["rows", (t) => [tf.slice(t, [0, 2, 0, 0], [2, 2, 7, 9])]],
    ["corner", (t) => [tf.slice(t, [1, 4, 6, 8], [1, 1, 1, 1])]],
    ["2-D int", (_, ti) => [tf.slice(ti, [0, 1], [2, 2])]],
    ["split c", (t) => tf.split(t, [2, 3, 4], 3)],
    ["split h", (t) => tf.split(t, [1, 4], 1)],
    ["identity", (t) => [tf.clone(t)]],
  ];
  await initBackend({ backend: "cpu", quiet: true });
  const want = ops.map(([, f]) => f(x, xi).map((t) => Array.from(t.dataSync())));
  await initBackend({ backend: "wasm", quiet: true });
  const xw = tf.tensor(xs, x.shape), xiw = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3], "int32");
  ops.forEach(([name, f], k) => {
    const got = f(xw, xiw);
    assert.equal(got.length, want[k].length, name);
    got.forEach((t, j) => assert.deepEqual(Array.from(t.dataSync()), want[k][j], name));
    if (name === "identity") {
      got[0].dispose(); // the shared buffer stays valid for the source
      assert.deepEqual(Array.from(xw.dataSync()), Array.from(xs));
    }
  });
});
