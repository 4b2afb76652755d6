/**
 * Training speed: one full step (train-mode forward + v8SegmentationLoss + backward + SGD Nesterov step) of
 * YoloSegModel (random init, nc=80) on synthetic images with 3 box-shaped instances, for the (scale, imgsz, batch)
 * cases of the reference `timings.json`, printed as images/s beside PyTorch's figures and as ratios.
 *
 *   deno run -A bench/train.ts [backends=wasm] [cases=n320,n640,s320,s640] [iters=2] [threads=1] [timings=PATH]
 *
 * Learning check (issue: from scratch on the built-in data, fixed wall-clock budget, mask mAP50 on the built-in test
 * set): `deno run -A bench/train.ts learn=1 [minutes=10] [ntrain=200] [threads=2] [seed=0] [out=runs/bench_train]
 * [datadir=OUT/data] [name=scratch] [<trainer option>=value ...]`; the recipe is `LEARN_RECIPE`, and any trainer
 * option (snake_case or camelCase: imgsz, batch, lr0, optimizer, nbs, warmup_epochs, mosaic, close_mosaic, ...)
 * overrides it.
 *
 * Each backend runs in its own process. Compare ratios only on the same machine (the reference note says so).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

interface Row {
  backend: string;
  scale: string;
  imgsz: number;
  batch: number;
  sPerStep: number;
  imagesPerS: number;
}

interface TorchRow {
  model: string;
  imgsz: number;
  batch: number;
  s_per_step: number;
  images_per_s: number;
}

function parseArgs(args: string[]): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const a of args) {
    const m = /^-{0,2}([\w-]+)=(.*)$/.exec(a);
    if (m) kv[m[1]] = m[2];
  }
  return kv;
}

const here = path.dirname(fileURLToPath(import.meta.url));

async function torchRows(file: string): Promise<TorchRow[]> {
  try {
    return JSON.parse(await Deno.readTextFile(file)).training as TorchRow[];
  } catch {
    return [];
  }
}

async function worker(kv: Record<string, string>): Promise<Row[]> {
  const { initBackend, tf } = await import("../lib/backend/mod.ts");
  const { YoloSegModel } = await import("../lib/yolo/model.ts");
  const { segLoss } = await import("../lib/train/loss.ts");
  const { Optimizer } = await import("../lib/train/optim.ts");
  const info = await initBackend({ backend: kv.backend as "wasm", threads: Number(kv.threads ?? 1) });
  const iters = Number(kv.iters ?? 2);
  const torch = await torchRows(kv.timings);
  const rows: Row[] = [];
  for (const c of (kv.cases ?? "n320,n640,s320,s640").split(",")) {
    const scale = c[0] as "n" | "s", imgsz = Number(c.slice(1));
    const batch = torch.find((t) => t.model === `yolov8${scale}-seg` && t.imgsz === imgsz)?.batch ?? 2;
    const model = YoloSegModel.create({ scale, nc: 80 });
    const params = model.namedParameters();
    const names = [...params.keys()], vars = names.map((n) => params.get(n)!);
    const opt = new Optimizer("SGD", names, { lr: 0.01, momentum: 0.937, decay: 5e-4 });
    // synthetic batch: grey images with 3 box-shaped instances each
    const mh = imgsz / 4;
    const cls: number[] = [], bboxes: number[] = [], batchIdx: number[] = [];
    const masks = new Float32Array(batch * mh * mh);
    const x = new Float32Array(batch * imgsz * imgsz * 3).fill(0.45);
    for (let b = 0; b < batch; b++) {
      for (let k = 0; k < 3; k++) {
        const cx = 0.25 + 0.25 * k, cy = 0.3 + 0.2 * ((b + k) % 3), w = 0.2, h = 0.25;
        cls.push((b * 3 + k) % 80);
        bboxes.push(cx, cy, w, h);
        batchIdx.push(b);
        for (let y = Math.floor((cy - h / 2) * mh); y < Math.ceil((cy + h / 2) * mh); y++) {
          for (let xx = Math.floor((cx - w / 2) * mh); xx < Math.ceil((cx + w / 2) * mh); xx++) {
            masks[b * mh * mh + y * mh + xx] = k + 1;
          }
        }
        for (let y = Math.floor((cy - h / 2) * imgsz); y < Math.ceil((cy + h / 2) * imgsz); y++) {
          for (let xx = Math.floor((cx - w / 2) * imgsz); xx < Math.ceil((cx + w / 2) * imgsz); xx++) {
            x.fill(0.2 + 0.3 * k, ((b * imgsz + y) * imgsz + xx) * 3, ((b * imgsz + y) * imgsz + xx) * 3 + 3);
          }
        }
      }
    }
    const img = tf.tensor4d(x, [batch, imgsz, imgsz, 3]);
    const lb = { cls, bboxes, batchIdx, masks, masksShape: [batch, mh, mh] };
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const p = model.forward(img, { train: true });
        return segLoss(p, lb).total;
      }, vars);
      const g = new Map<string, ReturnType<typeof tf.zeros>>();
      for (const n of names) if (grads[params.get(n)!.name]) g.set(n, grads[params.get(n)!.name]);
      opt.step(params, g);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
    step(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) step();
    const s = (performance.now() - t0) / 1000 / iters;
    rows.push({ backend: `${info.name}`, scale, imgsz, batch, sPerStep: s, imagesPerS: batch / s });
    img.dispose();
    opt.dispose();
    model.dispose();
  }
  return rows;
}

/** The learning-check recipe (trainer options); each can be overridden on the command line (snake_case or camelCase). */
export const LEARN_RECIPE: Record<string, number | string | boolean> = {
  // small images, 16 per step: the most images per second on 2 cores (wasm fixed per-op costs dominate below 96 px)
  imgsz: 96,
  batch: 16,
  // one optimiser step per batch (nbs = batch) and no 100-iteration warmup: a 10-minute run has ~500 steps
  nbs: 16,
  warmupEpochs: 0,
  optimizer: "AdamW",
  lr0: 0.003,
  // no mosaic: at 96 px it shrinks the characters and slowed learning in a short budget
  mosaic: 0,
  epochs: 300, // re-estimated from the time budget after each epoch
};

function camel(k: string): string {
  return k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

async function learn(kv: Record<string, string>) {
  const { initBackend } = await import("../lib/backend/mod.ts");
  const { buildDemoDatasets } = await import("../lib/data/builtin.ts");
  const { train, TRAIN_DEFAULTS } = await import("../lib/train/trainer.ts");
  const { loadYoloModel } = await import("../lib/yolo/load.ts");
  const { validate } = await import("../lib/metrics/validate.ts");
  // 2 wasm threads by default: the 10-minute pass (mask mAP50 0.503, 41 epochs) was measured with 2 threads
  const info = await initBackend({ threads: Number(kv.threads ?? 2) });
  const minutes = Number(kv.minutes ?? 10);
  const recipe: Record<string, unknown> = { ...LEARN_RECIPE };
  const defaults = TRAIN_DEFAULTS as unknown as Record<string, unknown>;
  for (const [k0, v] of Object.entries(kv)) {
    const k = camel(k0);
    if (!(k in defaults) || ["data", "valData", "project", "name", "maxMinutes", "val"].includes(k)) continue;
    const d = defaults[k];
    recipe[k] = typeof d === "number" ? Number(v) : typeof d === "boolean" ? v === "1" || v === "true" : v;
  }
  const imgsz = recipe.imgsz as number, batch = recipe.batch as number;
  const out = path.resolve(kv.out ?? "runs/bench_train");
  const sets = await buildDemoDatasets(path.resolve(kv.datadir ?? path.join(out, "data")), {
    nTrain: Number(kv.ntrain ?? 200),
    nTest: 40,
    imgsz: 256,
  });
  const t0 = performance.now();
  const res = await train(
    {
      ...recipe,
      data: sets.reinforced,
      valData: sets.test,
      model: kv.model ?? "n",
      maxMinutes: minutes,
      val: false,
      project: path.join(out, "runs"),
      name: kv.name ?? "scratch",
      seed: Number(kv.seed ?? 0),
    } as Parameters<typeof train>[0],
  );
  const secs = (performance.now() - t0) / 1000;
  const model = await loadYoloModel(res.last, { verbose: false });
  const v = await validate(model, sets.test, { imgsz, batch: 8, verbose: false });
  model.dispose();
  console.log(`recipe: ${JSON.stringify(recipe)}; ${info.detail}`);
  console.log(
    `learning check (${info.name}): ${res.results.length} epochs in ${
      secs.toFixed(0)
    } s at ${imgsz} px, batch ${batch}: ` +
      `mask mAP50 ${v.mask.mAP50.toFixed(4)} mAP50-95 ${v.mask["mAP50-95"].toFixed(4)} ` +
      `(box mAP50 ${v.box.mAP50.toFixed(4)}); target mask mAP50 >= 0.5 → ${v.mask.mAP50 >= 0.5 ? "PASS" : "FAIL"}`,
  );
}

async function main() {
  const kv = parseArgs(Deno.args);
  if (kv.learn) {
    await learn(kv);
    Deno.exit(0); // wasm pthread workers (threads=2) keep the process alive
  }
  kv.timings ??= path.resolve(here, "../../shared/fixtures/reference/timings.json");
  if (kv.worker) {
    console.log("ROWS " + JSON.stringify(await worker(kv)));
    Deno.exit(0);
  }
  const torch = await torchRows(kv.timings);
  const all: Row[] = [];
  for (const backend of (kv.backends ?? "wasm").split(",")) {
    // one process per case: wasm memory (4 GiB) is not returned between cases
    for (const c of (kv.cases ?? "n320,n640,s320,s640").split(",")) {
      const args = ["run", "-A", fileURLToPath(import.meta.url), "worker=1", `backend=${backend}`, `cases=${c}`];
      for (const k of ["iters", "threads", "timings"]) if (kv[k]) args.push(`${k}=${kv[k]}`);
      const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
      const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("ROWS "));
      if (!line) {
        const err = new TextDecoder().decode(out.stderr).split("\n").find((l) => /error/i.test(l)) ?? "";
        // deno-lint-ignore no-control-regex
        console.log(`${backend} ${c}: failed (exit ${out.code}) ${err.replace(/\x1b\[[0-9;]*m/g, "").trim()}`);
        continue;
      }
      const rows = JSON.parse(line.slice(5)) as Row[];
      for (const r of rows) {
        console.log(`${backend} ${c}: ${r.sPerStep.toFixed(2)} s/step, ${r.imagesPerS.toFixed(3)} img/s`);
      }
      all.push(...rows);
    }
  }
  console.log("\nbackend  model        imgsz batch   s/step   img/s   torch img/s   torch/ours");
  for (const r of all) {
    const t = torch.find((x) => x.model === `yolov8${r.scale}-seg` && x.imgsz === r.imgsz);
    console.log(
      `${r.backend.padEnd(8)} yolov8${r.scale}-seg ${String(r.imgsz).padStart(6)} ${String(r.batch).padStart(5)} ${
        r.sPerStep.toFixed(2).padStart(8)
      } ${r.imagesPerS.toFixed(2).padStart(7)} ${(t ? t.images_per_s.toFixed(2) : "-").padStart(13)} ${
        (t ? (t.images_per_s / r.imagesPerS).toFixed(1) + "x" : "-").padStart(12)
      }`,
    );
  }
}

if (import.meta.main) await main();
