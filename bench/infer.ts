/**
 * Inference speed of YoloSegModel (eval mode, folded BatchNorm, random weights, nc=80) at 640×640, batch 1 and 8,
 * for the n and s scales, on wasm with 1 and 2 threads, printed as ms/image and as ratios to PyTorch's figures in
 * the reference `timings.json` (same machine class; compare ratios, not absolute times).
 *
 *   deno run -A bench/infer.ts [threads=1,2] [scales=n,s] [batches=1,8] [imgsz=640] [iters=3] [timings=PATH]
 *
 * Each thread count runs in its own process (the wasm thread count is fixed at backend start).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

interface Row {
  scale: string;
  batch: number;
  imgsz: number;
  threads: number;
  msPerBatch: number;
  msPerImage: number;
  backend: string;
}

function parseArgs(args: string[]): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const a of args) {
    const m = /^-{0,2}([\w-]+)=(.*)$/.exec(a);
    if (m) kv[m[1]] = m[2];
  }
  return kv;
}

async function worker(kv: Record<string, string>): Promise<Row[]> {
  const { initBackend, tf } = await import("../lib/backend/mod.ts");
  const { YoloSegModel } = await import("../lib/yolo/model.ts");
  const threads = Number(kv.threads ?? 1);
  const info = await initBackend({ backend: "wasm", threads });
  const imgsz = Number(kv.imgsz ?? 640);
  const iters = Number(kv.iters ?? 3);
  const rows: Row[] = [];
  for (const scale of (kv.scales ?? "n,s").split(",")) {
    const model = YoloSegModel.create({ scale: scale as "n" | "s", nc: 80 });
    for (const batch of (kv.batches ?? "1,8").split(",").map(Number)) {
      const x = tf.randomUniform([batch, imgsz, imgsz, 3]) as import("@tensorflow/tfjs").Tensor4D;
      const once = async () => {
        const out = model.forward(x, { train: false });
        await out.pred.data();
        await out.proto.data();
        tf.dispose(out as unknown as import("@tensorflow/tfjs").TensorContainer);
      };
      await once(); // warm-up (kernel setup, folded weights)
      const n = batch > 1 ? Math.max(1, Math.ceil(iters / 2)) : iters;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await once();
      const ms = (performance.now() - t0) / n;
      x.dispose();
      rows.push({
        scale,
        batch,
        imgsz,
        threads: info.threads ?? 1,
        msPerBatch: ms,
        msPerImage: ms / batch,
        backend: info.detail,
      });
      console.error(`  yolov8${scale}-seg b${batch} ${imgsz}: ${(ms / batch).toFixed(0)} ms/image (${info.detail})`);
    }
    model.dispose();
  }
  return rows;
}

function defaultTimings(): string {
  const fx = Deno.env.get("ANIMESEG_FIXTURES");
  if (fx) return path.join(fx, "reference", "timings.json");
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, "../../shared/fixtures/reference/timings.json");
}

async function main() {
  const kv = parseArgs(Deno.args);
  if (kv.worker) {
    const rows = await worker(kv);
    console.log("ROWS " + JSON.stringify(rows));
    Deno.exit(0); // pthread workers keep the process alive otherwise
  }
  const rows: Row[] = [];
  for (const t of (kv.threads ?? "1,2").split(",")) {
    console.error(`wasm, ${t} thread(s):`);
    const args = Object.entries({ ...kv, threads: t, worker: "1" }).map(([k, v]) => `${k}=${v}`);
    const p = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(import.meta.url), ...args],
      stdout: "piped",
      stderr: "inherit",
    });
    const out = await p.output();
    const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("ROWS "));
    if (!line) {
      console.error(`  run with ${t} thread(s) failed (exit ${out.code})`);
      continue;
    }
    rows.push(...(JSON.parse(line.slice(5)) as Row[]));
  }
  let torch: { inference?: { model: string; batch: number; imgsz: number; ms_per_image: number }[] } = {};
  const tfile = kv.timings ?? defaultTimings();
  try {
    torch = JSON.parse(await Deno.readTextFile(tfile));
  } catch {
    console.error(`(no PyTorch timings at ${tfile}; ratios omitted)`);
  }
  console.log("\nmodel        imgsz batch threads  ms/image  torch ms/image  ratio (tfjs/torch)   backend");
  for (const r of rows) {
    const ref = torch.inference?.find((t) =>
      t.model === `yolov8${r.scale}-seg` && t.batch === r.batch && t.imgsz === r.imgsz
    );
    const ratio = ref ? (r.msPerImage / ref.ms_per_image).toFixed(2) : "-";
    console.log(
      `yolov8${r.scale}-seg  ${String(r.imgsz).padStart(5)} ${String(r.batch).padStart(5)} ${
        String(r.threads).padStart(7)
      } ${r.msPerImage.toFixed(0).padStart(9)} ${(ref ? ref.ms_per_image.toFixed(0) : "-").padStart(15)} ${
        ratio.padStart(19)
      }   ${r.backend}`,
    );
  }
  console.log("(torch figures come from another run on another day: compare ratios loosely)");
}

if (import.meta.main) await main();
