/**
 * Inference speed per engine beside PyTorch: YOLOv8n-seg / YOLOv8s-seg (random init, nc 80) at 640 px, batch 1 and 8,
 * forward only (as `timings.json` measures torch), for `tfjs` (the current tfjs backend) and `ort` (the project's ONNX
 * export in onnxruntime-node, 2 threads). When Debian's python3-torch is importable, torch is timed in the same run
 * (the honest ratio); otherwise the reference figures in `../shared/fixtures/reference/timings.json` are used and
 * the output says so.
 *
 * usage: deno run -A bench/engines.ts [models=n,s] [batches=1,8] [iters=3] [threads=1|2]
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend, tf } from "../lib/backend/mod.ts";
import { YoloSegModel } from "../lib/yolo/model.ts";
import { exportYoloSegOnnx } from "../lib/export/onnx.ts";
import { ortAvailable, OrtSegEngine } from "../lib/engine/ort.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(Deno.args.map((a) => a.split("=")));
const models = String(args.models ?? "n,s").split(",") as ("n" | "s")[];
const batches = String(args.batches ?? "1,8").split(",").map(Number);
const iters = Number(args.iters ?? 3);
const threads = Number(args.threads ?? 1);

interface TorchRow {
  model: string;
  imgsz: number;
  batch: number;
  ms_per_image: number;
}

async function torchLive(scale: string, batch: number): Promise<number | null> {
  const py = `
import time, sys
try:
    import torch
    from ultralytics.nn.tasks import SegmentationModel
except Exception:
    sys.exit(3)
torch.set_num_threads(2)
m = SegmentationModel("yolov8${scale}-seg.yaml", nc=80, verbose=False).eval().fuse()
x = torch.rand(${batch}, 3, 640, 640)
with torch.inference_mode():
    m(x)
    t = time.perf_counter()
    for _ in range(${iters}):
        m(x)
print((time.perf_counter() - t) / ${iters} / ${batch} * 1000)
`;
  try {
    const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", py], stdout: "piped", stderr: "null" })
      .output();
    if (!out.success) return null;
    return Number(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}

async function torchReference(): Promise<TorchRow[]> {
  try {
    const t = JSON.parse(
      await Deno.readTextFile(path.join(ROOT, "..", "shared", "fixtures", "reference", "timings.json")),
    );
    return t.inference as TorchRow[];
  } catch {
    return [];
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const backend = await initBackend({ threads } as Parameters<typeof initBackend>[0]);
const ref = await torchReference();
const haveOrt = await ortAvailable();
console.log(
  `backend: ${backend.name} (${backend.detail}); ort: ${haveOrt ? "onnxruntime-node, 2 threads" : "not available"}`,
);
const rows: string[] = [];
for (const scale of models) {
  const model = YoloSegModel.create({ scale, nc: 80 });
  const onnx = haveOrt ? exportYoloSegOnnx(model.stateDict(), { imgsz: [640, 640], dynamic: true }).bytes : null;
  const ort = onnx ? await OrtSegEngine.open(onnx, { nc: 80, threads: 2 }) : null;
  for (const b of batches) {
    const input = new Float32Array(b * 640 * 640 * 3).map(() => Math.random());
    // tfjs: forward + read back, as a prediction needs
    const tfTimes: number[] = [];
    for (let i = 0; i < iters + 1; i++) {
      const t0 = performance.now();
      const out = tf.tidy(() => {
        const o = model.forward(tf.tensor4d(input, [b, 640, 640, 3]), { train: false });
        return [o.pred, o.proto];
      });
      await out[0].data();
      await out[1].data();
      tf.dispose(out);
      if (i > 0) tfTimes.push((performance.now() - t0) / b);
    }
    const ortTimes: number[] = [];
    if (ort) {
      for (let i = 0; i < iters + 1; i++) {
        const t0 = performance.now();
        await ort.runArrays(input, b, 640, 640);
        if (i > 0) ortTimes.push((performance.now() - t0) / b);
      }
    }
    const live = await torchLive(scale, b);
    const refRow = ref.find((r) => r.model === `yolov8${scale}-seg` && r.batch === b && r.imgsz === 640);
    const torchMs = live ?? refRow?.ms_per_image ?? NaN;
    const src = live !== null ? "torch (same run)" : refRow ? "torch (timings.json)" : "torch (n/a)";
    const tfMs = median(tfTimes), ortMs = ortTimes.length ? median(ortTimes) : NaN;
    const line =
      `yolov8${scale}-seg 640 b${b}: tfjs ${tfMs.toFixed(0)} ms/img (${(tfMs / torchMs).toFixed(2)}x torch time)` +
      `, ort ${Number.isFinite(ortMs) ? ortMs.toFixed(0) : "n/a"} ms/img (${
        (ortMs / torchMs).toFixed(2)
      }x torch time, ` +
      `${(torchMs / ortMs).toFixed(2)}x torch speed), ${src} ${torchMs.toFixed(0)} ms/img`;
    console.log(line);
    rows.push(line);
  }
  await ort?.dispose();
  model.dispose();
}
Deno.exit(0);
