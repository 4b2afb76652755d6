/**
 * The project's conv-gradient kernels (wasm, and the cpu Conv2DBackpropFilter replacement) against tfjs cpu's
 * built-in kernels, computed first, before `initBackend` registers anything. Also gather's gradient
 * (UnsortedSegmentSum), transposed matMuls, and a small conv-BN-SiLU net's `tf.grads` on wasm vs cpu.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../../lib/backend/mod.ts";

type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  stride: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [];
for (const k of [1, 3, 5]) {
  for (const stride of [1, 2] as const) {
    for (const pad of ["same", "valid"] as const) CASES.push({ n: 2, h: 9, w: 7, ci: 3, co: 4, k, stride, pad });
  }
}
CASES.push({ n: 1, h: 11, w: 6, ci: 5, co: 3, k: 3, stride: 2, pad: 1 });
CASES.push({ n: 1, h: 10, w: 13, ci: 4, co: 6, k: 3, stride: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] });
CASES.push({ n: 2, h: 8, w: 8, ci: 4, co: 4, k: 3, stride: 2, pad: "same" });
CASES.push({ n: 1, h: 12, w: 9, ci: 3, co: 5, k: 3, stride: [2, 1], pad: "same" });
CASES.push({ n: 1, h: 13, w: 13, ci: 2, co: 3, k: 5, stride: 3, pad: "valid" });
CASES.push({ n: 1, h: 7, w: 7, ci: 3, co: 2, k: 1, stride: 1, pad: 1 });
CASES.push({ n: 1, h: 16, w: 16, ci: 8, co: 8, k: 3, stride: 1, pad: "same" });
CASES.push({ n: 1, h: 8, w: 10, ci: 4, co: 6, k: 2, stride: 2, pad: "valid" }); // proto upsample (conv2dTranspose)
CASES.push({ n: 1, h: 9, w: 9, ci: 3, co: 4, k: 2, stride: 1, pad: "same" }); // even kernel, asymmetric pad

interface Grads {
  dx: Float32Array;
  dw: Float32Array;
}

function inputs(c: Case, seed: number): { x: tf.Tensor4D; w: tf.Tensor4D; g: tf.Tensor4D } {
  const x = tf.randomUniform([c.n, c.h, c.w, c.ci], -1, 1, "float32", seed) as tf.Tensor4D;
  const w = tf.randomUniform([c.k, c.k, c.ci, c.co], -1, 1, "float32", seed + 1) as tf.Tensor4D;
  const y = tf.conv2d(x, w, c.stride, c.pad);
  const g = tf.randomUniform(y.shape, -1, 1, "float32", seed + 2) as tf.Tensor4D;
  y.dispose();
  return { x, w, g };
}

async function convGrads(c: Case, seed: number): Promise<Grads> {
  const { x, w, g } = inputs(c, seed);
  const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), g))
  )([x, w]);
  const out = { dx: (await dx.data()) as Float32Array, dw: (await dw.data()) as Float32Array };
  tf.dispose([x, w, g, dx, dw]);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Train-mode conv-BN-SiLU -> stride-2 conv -> SiLU -> 1x1 conv -> mean of squares; params in a fixed order. */
function smallNet(x: tf.Tensor4D, p: tf.Tensor[]): tf.Scalar {
  const [w1, gamma, beta, w2, w3] = p;
  const silu = (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t));
  const a = tf.conv2d(x, w1 as tf.Tensor4D, 1, "same");
  const m = tf.moments(a, [0, 1, 2]);
  const bn = tf.batchNorm(a, m.mean, m.variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3);
  const b = tf.conv2d(silu(bn) as tf.Tensor4D, w2 as tf.Tensor4D, 2, "same");
  const c = tf.conv2d(silu(b) as tf.Tensor4D, w3 as tf.Tensor4D, 1, "valid");
  return tf.mean(tf.square(c));
}

async function netGrads(): Promise<Float32Array[]> {
  const x = tf.randomUniform([2, 13, 11, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const p = [
    tf.randomNormal([3, 3, 3, 8], 0, 0.5, "float32", 8),
    tf.randomUniform([8], 0.75, 1.25, "float32", 9),
    tf.randomNormal([8], 0, 0.1, "float32", 10),
    tf.randomNormal([3, 3, 8, 8], 0, 0.3, "float32", 11),
    tf.randomNormal([1, 1, 8, 4], 0, 0.5, "float32", 12),
  ];
  const gs = tf.grads((xx: tf.Tensor, ...pp: tf.Tensor[]) => smallNet(xx as tf.Tensor4D, pp))([x, ...p]);
  const out = await Promise.all(gs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, ...p, ...gs]);
  return out;
}

async function gatherGrad(): Promise<Float32Array> {
  const table = tf.randomUniform([6, 4], -1, 1, "float32", 20);
  const idx = tf.tensor1d([0, 3, 3, 5, 0, 3, 1], "int32");
  const wts = tf.randomUniform([7, 4], -1, 1, "float32", 21);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx), wts)))(table);
  const out = (await g.data()) as Float32Array;
  tf.dispose([table, idx, wts, g]);
  return out;
}

/** matMul with every transpose combination (rank 2 and batched rank 3) and the gradient of a transposed one. */
async function matMuls(): Promise<Float32Array[]> {
  const a = tf.randomUniform([2, 5, 7], -1, 1, "float32", 30) as tf.Tensor3D;
  const b = tf.randomUniform([2, 7, 4], -1, 1, "float32", 31) as tf.Tensor3D;
  const at = tf.transpose(a, [0, 2, 1]), bt = tf.transpose(b, [0, 2, 1]);
  const p = tf.randomUniform([7, 5], -1, 1, "float32", 32) as tf.Tensor2D;
  const q = tf.randomUniform([7, 8], -1, 1, "float32", 33) as tf.Tensor2D;
  const outs = [
    tf.matMul(at, b, true, false),
    tf.matMul(a, bt, false, true),
    tf.matMul(at, bt, true, true),
    tf.matMul(p, q, true, false),
    ...tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.square(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, true, true)))
    )([at, bt]),
  ];
  const r = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([a, b, at, bt, p, q, ...outs]);
  return r;
}

// References on tfjs cpu with its built-in kernels, before initBackend registers the project's kernels.
await tf.setBackend("cpu");
const reference: Grads[] = [];
for (let i = 0; i < CASES.length; i++) reference.push(await convGrads(CASES[i], 100 + 10 * i));
const netReference = await netGrads();
const gatherReference = await gatherGrad();
const matMulReference = await matMuls();

function caseName(c: Case): string {
  return `${c.n}x${c.h}x${c.w}x${c.ci}->${c.co} k${c.k} s${JSON.stringify(c.stride)} pad ${JSON.stringify(c.pad)}`;
}

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(`conv2d gradients on ${backend} (project kernels) match tfjs cpu built-ins, ${CASES.length} cases`, async () => {
    await initBackend({ backend, threads: 1 });
    const before = tf.memory().numTensors;
    let worst = 0;
    for (let i = 0; i < CASES.length; i++) {
      const got = await convGrads(CASES[i], 100 + 10 * i);
      const ex = maxAbsDiff(got.dx, reference[i].dx), ew = maxAbsDiff(got.dw, reference[i].dw);
      assert.ok(ex <= 1e-4 && ew <= 1e-4, `${caseName(CASES[i])}: dX err ${ex}, dW err ${ew}`);
      worst = Math.max(worst, ex, ew);
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    console.log(`${backend}: worst max |diff| ${worst.toExponential(2)}`);
  });
}

Deno.test("conv-BN-SiLU net tf.grads on wasm equal tfjs cpu built-ins", async () => {
  await initBackend({ backend: "wasm", threads: 1 });
  const got = await netGrads();
  const names = ["x", "w1", "gamma", "beta", "w2", "w3"];
  for (let i = 0; i < got.length; i++) {
    const scale = Math.max(1, ...Array.from(netReference[i], Math.abs));
    const e = maxAbsDiff(got[i], netReference[i]);
    assert.ok(e <= 1e-4 * scale, `grad of ${names[i]}: max |diff| ${e}`);
  }
});

Deno.test("gather gradient (UnsortedSegmentSum with repeated ids) on wasm equals cpu", async () => {
  await initBackend({ backend: "wasm", threads: 1 });
  const got = await gatherGrad();
  assert.ok(maxAbsDiff(got, gatherReference) <= 1e-6);
  // hand check: row 2 and row 4 are never gathered -> zero gradient
  for (const r of [2, 4]) for (let j = 0; j < 4; j++) assert.equal(got[r * 4 + j], 0);
});

Deno.test("transposed matMuls (project BatchMatMul wrapper on wasm) and their gradients equal cpu", async () => {
  await initBackend({ backend: "wasm", threads: 1 });
  const before = tf.memory().numTensors;
  const got = await matMuls();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  got.forEach((g, i) => assert.ok(maxAbsDiff(g, matMulReference[i]) <= 1e-5, `output ${i}`));
});
