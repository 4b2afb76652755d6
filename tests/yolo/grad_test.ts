/**
 * Train-mode backward of YoloSegModel: autograd gradients (through batch-statistics BatchNorm, C2f splits, SPPF,
 * upsampling, the proto depth-to-space) against central finite differences of the same scalar. At 64 px the stride-32
 * maps are 2×2, where tfjs-wasm's MaxPoolGrad was wrong (autograd 74.5 vs finite differences 89.7 before the fix).
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { YoloSegModel } from "../../lib/yolo/model.ts";

await initBackend();

Deno.test("train-mode gradients match finite differences (early BN and conv parameters)", () => {
  const model = YoloSegModel.create({ scale: "n", nc: 2, seed: 1 });
  const x = tf.randomUniform([2, 64, 64, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  const out0 = model.forward(x, { train: true, updateStats: false });
  const rs = out0.levels.map((l, i) => tf.randomNormal(l.shape, 0, 1, "float32", 10 + i));
  const rm = tf.randomNormal(out0.mc.shape, 0, 1, "float32", 20);
  const rp = tf.randomNormal(out0.proto.shape, 0, 1, "float32", 21);
  tf.dispose(out0 as unknown as tf.TensorContainer);
  const f = () =>
    tf.tidy(() => {
      const o = model.forward(x, { train: true, updateStats: false });
      const terms = o.levels.map((l, i) => tf.sum(tf.mul(l, rs[i])));
      terms.push(tf.sum(tf.mul(o.mc, rm)), tf.sum(tf.mul(o.proto, rp)));
      return tf.addN(terms) as tf.Scalar;
    });
  const params = model.namedParameters();
  const names = ["model.0.bn.weight", "model.2.m.0.cv1.bn.bias", "model.22.proto.upsample.bias"];
  const { grads, value } = tf.variableGrads(f, names.map((n) => params.get(n)!));
  value.dispose();
  for (const name of names) {
    const v = params.get(name)!;
    const g = grads[v.name].dataSync()[0];
    const orig = v.dataSync().slice();
    const eps = 1e-3;
    const at = (d: number) => {
      const p = orig.slice();
      p[0] += d;
      v.assign(tf.tensor(p, v.shape));
      const s = f();
      const r = s.dataSync()[0];
      s.dispose();
      return r;
    };
    const fd = (at(eps) - at(-eps)) / (2 * eps);
    v.assign(tf.tensor(orig, v.shape));
    assert.ok(Math.abs(g - fd) <= 0.02 * Math.max(1, Math.abs(fd)), `${name}: autograd ${g} vs finite diff ${fd}`);
  }
  tf.dispose([x, rm, rp, ...rs, ...Object.values(grads)]);
  model.dispose();
});
