/**
 * Conv speed per backend: tfjs cpu (few reps), wasm 1 thread, wasm 2 threads, beside PyTorch's figures.
 *
 *   deno run -A bench/conv.ts [--reps 5] [--stack-size 320] [--no-cpu] [--cpu-stack]
 *
 * Each backend runs in its own child process (the wasm thread count is fixed per process). Ops: conv 3×3
 * 64→64 on 1×160×160×64 (stride 1) and 64→128 stride 2: forward, dX and dW with the project's kernels, dX with
 * tfjs' built-in wasm kernel, and fwd+dX+dW through `tf.grads`; then a YOLOv8n-sized conv stack (the backbone's
 * conv layers at `--stack-size`, batch 1): forward, and forward + gradients of every input and filter.
 * Prints milliseconds (median) and ratios to torch. Torch figures: ENVIRONMENT.md (conv op, Debian torch 1.13,
 * same 2-core machine type) and the fixtures' timings.json (whole model); compare ratios only, timings are noisy.
 */
import type { Tensor, Tensor4D } from "@tensorflow/tfjs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** Torch ms per call for conv 3×3 64→64 on 1×64×160×160 (ENVIRONMENT.md, "CPU speed routes", quiet machine). */
const TORCH_CONV = {
  "fwd 1t": [17, 24],
  "fwd 2t": [13, 17],
  // from the first (loaded-machine) table: dX, dW and fwd+dX+dW, 1 thread
  "dX 1t (loaded)": [30, 45],
  "dW 1t (loaded)": [26, 43],
  "fwd+dX+dW 1t (loaded)": [122, 122],
  "fwd+dX+dW 2t (loaded)": [107, 107],
};

interface Timing {
  op: string;
  ms: number;
  reps: number;
}

interface ChildResult {
  backend: string;
  detail: string;
  timings: Timing[];
}

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

/** YOLOv8n backbone conv layers at input size s: [cin, cout, k, stride, input h/w]. */
function yolov8nConvs(s: number): [number, number, number, number, number][] {
  const L: [number, number, number, number, number][] = [[3, 16, 3, 2, s], [16, 32, 3, 2, s / 2]];
  const c2f = (c: number, n: number, hw: number) => {
    L.push([c, c, 1, 1, hw]);
    for (let i = 0; i < 2 * n; i++) L.push([c / 2, c / 2, 3, 1, hw]);
    L.push([(2 + n) * c / 2, c, 1, 1, hw]);
  };
  c2f(32, 1, s / 4);
  L.push([32, 64, 3, 2, s / 4]);
  c2f(64, 2, s / 8);
  L.push([64, 128, 3, 2, s / 8]);
  c2f(128, 2, s / 16);
  L.push([128, 256, 3, 2, s / 16]);
  c2f(256, 1, s / 32);
  L.push([256, 128, 1, 1, s / 32], [512, 256, 1, 1, s / 32]); // SPPF cv1 / cv2
  return L;
}

async function child(backend: "cpu" | "wasm", threads: number, reps: number, stackSize: number, cpuStack: boolean) {
  const { initBackend, tf } = await import("../lib/backend/mod.ts");
  const { registerProjectKernels, registerWasmWrappers, restoreBuiltinKernels } = await import(
    "../lib/backend/kernels.ts"
  );
  const info = await initBackend({ backend, threads });
  const timings: Timing[] = [];
  const time = async (op: string, n: number, f: () => Tensor | Tensor[]) => {
    const ms: number[] = [];
    for (let i = 0; i <= n; i++) { // first run is warm-up
      const t0 = performance.now();
      const out = tf.tidy(f);
      const outs = Array.isArray(out) ? out : [out];
      for (const o of outs) await o.data();
      const dt = performance.now() - t0;
      tf.dispose(outs);
      if (i > 0 || n === 0) ms.push(dt);
    }
    ms.sort((a, b) => a - b);
    timings.push({ op, ms: ms[Math.floor(ms.length / 2)], reps: ms.length });
  };
  const slow = backend === "cpu";
  const r = slow ? 0 : reps;
  for (const [label, cout, stride] of [["s1 64->64", 64, 1], ["s2 64->128", 128, 2]] as const) {
    const x = tf.randomUniform([1, 160, 160, 64], -1, 1, "float32", 1) as Tensor4D;
    const w = tf.randomUniform([3, 3, 64, cout], -0.1, 0.1, "float32", 2) as Tensor4D;
    const ho = 160 / stride;
    const dy = tf.randomUniform([1, ho, ho, cout], -1, 1, "float32", 3) as Tensor4D;
    const attrs = { strides: [stride, stride], pad: "same", dataFormat: "NHWC" };
    await time(`conv ${label} fwd`, r, () => tf.conv2d(x, w, stride, "same"));
    await time(`conv ${label} dX`, r, () =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
        ...attrs,
        inputShape: x.shape,
      }) as Tensor);
    await time(`conv ${label} dW`, r, () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        ...attrs,
        filterShape: w.shape,
      }) as Tensor);
    if (backend === "wasm" && stride === 1) {
      restoreBuiltinKernels("wasm"); // tfjs' own Conv2DBackpropInput, for comparison (slow: 1 rep)
      await time(
        `conv ${label} dX (tfjs built-in)`,
        0,
        () =>
          tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
            ...attrs,
            inputShape: x.shape,
          }) as Tensor,
      );
      registerProjectKernels("wasm");
      registerWasmWrappers();
    }
    const g = tf.grads((a: Tensor, b: Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as Tensor4D, b as Tensor4D, stride, "same"), dy))
    );
    await time(`conv ${label} fwd+dX+dW`, r, () => g([x, w]));
    tf.dispose([x, w, dy]);
  }
  if (!slow || cpuStack) {
    const layers = yolov8nConvs(stackSize).map(([ci, co, k, s, hw], i) => ({
      s,
      x: tf.randomUniform([1, hw, hw, ci], 0, 1, "float32", 10 + i) as Tensor4D,
      w: tf.randomNormal([k, k, ci, co], 0, 0.1, "float32", 100 + i) as Tensor4D,
    }));
    const fwd = () => layers.map((l) => tf.conv2d(l.x, l.w, l.s, "same"));
    const grads = () =>
      layers.flatMap((l) =>
        tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.square(tf.conv2d(a as Tensor4D, b as Tensor4D, l.s, "same"))))([
          l.x,
          l.w,
        ])
      );
    await time(`YOLOv8n backbone convs @${stackSize} fwd (${layers.length} layers)`, r, fwd);
    await time(`YOLOv8n backbone convs @${stackSize} fwd+bwd`, r, grads);
    tf.dispose(layers.flatMap((l) => [l.x, l.w]));
  }
  const out: ChildResult = { backend, detail: info.detail, timings };
  console.log("RESULT " + JSON.stringify(out));
  Deno.exit(0);
}

async function parent() {
  const reps = Number(arg("reps", "5"));
  const stackSize = Number(arg("stack-size", "320"));
  const here = fileURLToPath(import.meta.url);
  const configs: [string, number][] = [["wasm", 1], ["wasm", 2]];
  if (!Deno.args.includes("--no-cpu")) configs.unshift(["cpu", 1]);
  const results: ChildResult[] = [];
  for (const [backend, threads] of configs) {
    console.error(`running ${backend} ${threads}t ...`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        path.join(path.dirname(here), "..", "deno.json"),
        here,
        "--child",
        backend,
        String(threads),
        "--reps",
        String(reps),
        "--stack-size",
        String(stackSize),
        ...(Deno.args.includes("--cpu-stack") ? ["--cpu-stack"] : []),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) {
      console.error(`${backend} ${threads}t failed (exit ${out.code})`);
      continue;
    }
    results.push(JSON.parse(line.slice(7)));
  }
  const ops = [...new Set(results.flatMap((r) => r.timings.map((t) => t.op)))];
  const cols = results.map((r) => r.detail);
  console.log(`\nms per call (median; reps in brackets)  |  ${cols.join("  |  ")}`);
  for (const op of ops) {
    const cells = results.map((r) => {
      const t = r.timings.find((x) => x.op === op);
      return t ? `${t.ms.toFixed(1)} [${t.reps}]` : "-";
    });
    console.log(`${op.padEnd(48)} ${cells.map((c) => c.padStart(14)).join(" ")}`);
  }
  console.log("\nratios to torch (conv s1 64->64, torch ms from ENVIRONMENT.md):");
  const pairs: [string, string, string][] = [
    ["conv s1 64->64 fwd", "fwd 1t", "fwd 2t"],
    ["conv s1 64->64 dX", "dX 1t (loaded)", "dX 1t (loaded)"],
    ["conv s1 64->64 dW", "dW 1t (loaded)", "dW 1t (loaded)"],
    ["conv s1 64->64 fwd+dX+dW", "fwd+dX+dW 1t (loaded)", "fwd+dX+dW 2t (loaded)"],
  ];
  for (const [op, t1, t2] of pairs) {
    const line = results.map((r) => {
      const t = r.timings.find((x) => x.op === op);
      const ref = TORCH_CONV[(r.detail.includes("2 threads") ? t2 : t1) as keyof typeof TORCH_CONV];
      return t ? `${(t.ms / ref[1]).toFixed(1)}-${(t.ms / ref[0]).toFixed(1)}x` : "-";
    });
    console.log(`${op.padEnd(48)} ${line.map((c) => c.padStart(14)).join(" ")}`);
  }
  const tj = path.join(path.dirname(here), "..", "..", "shared", "fixtures", "reference", "timings.json");
  try {
    const j = JSON.parse(await Deno.readTextFile(tj));
    const inf = j.inference.find((e: { model: string; batch: number }) => e.model === "yolov8n-seg" && e.batch === 1);
    const tr = j.training.find((e: { model: string; imgsz: number }) => e.model === "yolov8n-seg" && e.imgsz === 320);
    console.log(
      `\ntorch whole model (timings.json, ${j.torch_num_threads} threads): yolov8n-seg 640 inference ` +
        `${inf.ms_per_batch.toFixed(0)} ms/image; training 320 batch ${tr.batch}: ${
          (tr.s_per_step * 1000).toFixed(0)
        } ms/step`,
    );
  } catch {
    console.log("\n(timings.json not found: whole-model torch figures skipped)");
  }
}

if (Deno.args[0] === "--child") {
  await child(
    Deno.args[1] as "cpu" | "wasm",
    Number(Deno.args[2]),
    Number(arg("reps", "5")),
    Number(arg("stack-size", "320")),
    Deno.args.includes("--cpu-stack"),
  );
} else {
  await parent();
}
