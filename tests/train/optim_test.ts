/** Optimiser, schedule and EMA against values computed by hand from torch's / ultralytics' definitions. */
import assert from "node:assert/strict";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import {
  accumulationAndDecay,
  applyWarmup,
  clipGradNorm,
  lrLambda,
  Optimizer,
  resolveOptimizer,
  splitParamGroups,
  warmupIterations,
} from "../../lib/train/optim.ts";
import { ModelEMA } from "../../lib/train/ema.ts";

await initBackend();
const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

function oneParam(name: string, v: number) {
  return new Map([[name, tf.variable(tf.scalar(v), true, name + Math.random())]]);
}

Deno.test("groups: biases / decayed weights / BN weights as ultralytics build_optimizer", () => {
  const g = splitParamGroups(["model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias", "model.22.cv2.0.2.bias"]);
  assert.deepEqual(g.bias, ["model.0.bn.bias", "model.22.cv2.0.2.bias"]);
  assert.deepEqual(g.weight, ["model.0.conv.weight"]);
  assert.deepEqual(g.norm, ["model.0.bn.weight"]);
});

Deno.test("optimizer=auto, accumulate and decay scaling, warmup iterations", () => {
  // lr_fit = round(0.002*5/(4+1), 6) = 0.002 ; nc=80: 0.01/84 = 0.000119
  assert.deepEqual(resolveOptimizer("auto", 0.01, 0.937, 1, 5000), {
    name: "AdamW",
    lr: 0.002,
    momentum: 0.9,
    auto: true,
  });
  assert.equal(resolveOptimizer("auto", 0.01, 0.937, 80, 100).lr, 0.000119);
  assert.equal(resolveOptimizer("auto", 0.01, 0.937, 80, 10001).name, "SGD");
  assert.deepEqual(accumulationAndDecay(16, 5e-4), { accumulate: 4, weightDecay: 5e-4 });
  const a = accumulationAndDecay(24, 5e-4); // round(64/24)=3 → 5e-4*72/64
  assert.equal(a.accumulate, 3);
  close(a.weightDecay, 5.625e-4, 1e-12);
  assert.equal(warmupIterations(3, 10), 100);
  assert.equal(warmupIterations(3, 50), 150);
  assert.equal(warmupIterations(0, 50), -1);
});

Deno.test("lr lambdas: linear and cosine", () => {
  const lin = lrLambda(false, 0.01, 100);
  close(lin(0), 1);
  close(lin(50), 0.5 * 0.99 + 0.01);
  close(lin(100), 0.01);
  const cos = lrLambda(true, 0.01, 100);
  close(cos(0), 1);
  close(cos(50), 0.505);
  close(cos(100), 0.01);
});

Deno.test("warmup: bias lr from warmup_bias_lr, others from 0, momentum 0.8 → momentum", () => {
  const opt = new Optimizer("SGD", ["a.bias", "a.weight", "a.bn.weight"], { lr: 0.01, momentum: 0.937, decay: 5e-4 });
  const w = { nw: 100, warmupBiasLr: 0.1, warmupMomentum: 0.8, momentum: 0.937, nbs: 64, batch: 16 };
  const acc = applyWarmup(opt.groups, 50, 1.0, w);
  assert.equal(acc, 2); // interp(50,[0,100],[1,4]) = 2.5 → numpy round half-even = 2
  close(opt.groups[0].lr, 0.055);
  close(opt.groups[1].lr, 0.005);
  close(opt.groups[2].momentum, 0.8685);
  assert.equal(applyWarmup(opt.groups, 100, 0.5, w), 4);
  close(opt.groups[0].lr, 0.005);
});

Deno.test("SGD Nesterov with weight decay: two steps as torch.optim.SGD", () => {
  const vars = oneParam("w.weight", 1.0);
  const opt = new Optimizer("SGD", ["w.weight"], { lr: 0.1, momentum: 0.9, decay: 0.01 });
  const g = new Map([["w.weight", tf.scalar(0.5)]]);
  opt.step(vars, g);
  // d = 0.5 + 0.01*1 = 0.51; buf = 0.51; update = 0.51 + 0.9*0.51 = 0.969; p = 1 - 0.0969
  close(vars.get("w.weight")!.dataSync()[0], 0.9031);
  opt.step(vars, g);
  // d = 0.5+0.009031 = 0.509031; buf = 0.459+0.509031 = 0.968031; upd = 0.509031+0.8712279 = 1.3802589
  close(vars.get("w.weight")!.dataSync()[0], 0.9031 - 0.13802589);
  // resume: state round-trip continues identically
  const st = opt.getState();
  const opt2 = new Optimizer("SGD", ["w.weight"], { lr: 0.1, momentum: 0.9, decay: 0.01 });
  opt2.setState(st, vars);
  const v2 = oneParam("w.weight", vars.get("w.weight")!.dataSync()[0]);
  opt.step(vars, g);
  opt2.step(v2, g);
  close(vars.get("w.weight")!.dataSync()[0], v2.get("w.weight")!.dataSync()[0], 0);
  opt.dispose();
  opt2.dispose();
  tf.dispose([...vars.values(), ...v2.values(), ...g.values()]);
});

Deno.test("AdamW decoupled decay and Adam L2 decay: first step", () => {
  const vars = oneParam("w.weight", 1.0);
  const opt = new Optimizer("AdamW", ["w.weight"], { lr: 0.1, momentum: 0.9, decay: 0.01 });
  const g = new Map([["w.weight", tf.scalar(0.5)]]);
  opt.step(vars, g);
  // p *= 1 - 0.1*0.01 → 0.999; m=0.05, v=2.5e-4; step = 0.1/0.1 * 0.05 / (0.5 + 1e-8)
  close(vars.get("w.weight")!.dataSync()[0], 0.999 - 0.05 / (0.5 + 1e-8));
  const vars2 = oneParam("w.weight", 1.0);
  const adam = new Optimizer("Adam", ["w.weight"], { lr: 0.1, momentum: 0.9, decay: 0.01 });
  adam.step(vars2, g);
  // grad 0.51; m=0.051; v=2.601e-4; update = 1 * 0.051/0.51 = 0.1
  close(vars2.get("w.weight")!.dataSync()[0], 0.9);
  // bias group has no decay
  const vars3 = oneParam("w.bias", 1.0);
  const opt3 = new Optimizer("AdamW", ["w.bias"], { lr: 0.1, momentum: 0.9, decay: 0.01 });
  opt3.step(vars3, new Map([["w.bias", g.get("w.weight")!]]));
  close(vars3.get("w.bias")!.dataSync()[0], 1 - 0.05 / (0.5 + 1e-8));
  [opt, adam, opt3].forEach((o) => o.dispose());
  tf.dispose([...vars.values(), ...vars2.values(), ...vars3.values(), ...g.values()]);
});

Deno.test("clip_grad_norm to 10", () => {
  const g = new Map([["a", tf.tensor1d([30, 40])], ["b", tf.tensor1d([0])]]);
  const r = clipGradNorm(g, 10);
  close(r.norm, 50);
  const a = r.grads.get("a")!.dataSync();
  close(a[0], 30 * 10 / (50 + 1e-6), 1e-5);
  close(a[1], 40 * 10 / (50 + 1e-6), 1e-5);
  const small = clipGradNorm(new Map([["a", tf.tensor1d([3, 4])]]), 10);
  assert.deepEqual(Array.from(small.grads.get("a")!.dataSync()), [3, 4]);
});

Deno.test("ModelEMA: decay 0.9999(1-exp(-u/2000)), buffers included", () => {
  const before = tf.memory().numTensors;
  const src = new Map<string, tf.Tensor>([["w", tf.scalar(1)], ["bn.running_mean", tf.scalar(2)]]);
  const ema = new ModelEMA(src);
  const model = new Map<string, tf.Tensor>([["w", tf.scalar(3)], ["bn.running_mean", tf.scalar(4)]]);
  ema.update(model);
  const d1 = 0.9999 * (1 - Math.exp(-1 / 2000));
  close(ema.vars.get("w")!.dataSync()[0], 1 * d1 + 3 * (1 - d1), 1e-6);
  close(ema.vars.get("bn.running_mean")!.dataSync()[0], 2 * d1 + 4 * (1 - d1), 1e-6);
  ema.update(model);
  const d2 = 0.9999 * (1 - Math.exp(-2 / 2000));
  const w1 = 1 * d1 + 3 * (1 - d1);
  close(ema.vars.get("w")!.dataSync()[0], w1 * d2 + 3 * (1 - d2), 1e-6);
  ema.dispose();
  tf.dispose([...src.values(), ...model.values()]);
  assert.equal(tf.memory().numTensors, before);
});
