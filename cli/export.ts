/** `animeseg export format=onnx model=... imgsz=640 dynamic=false`: write a YOLOv8-seg ONNX graph (ultralytics layout). */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "../lib/cli/command.ts";
import { initBackend } from "../lib/backend/mod.ts";
import { loadYoloModel } from "../lib/yolo/load.ts";
import { exportYoloSegOnnx } from "../lib/export/onnx.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { UserError } from "../lib/util/errors.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function parseImgsz(v: string): [number, number] {
  const parts = v.split(/[,x ]+/).filter(Boolean).map(Number);
  if (!parts.length || parts.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new UserError(`imgsz '${v}' is not a size`);
  }
  const [h, w] = parts.length === 1 ? [parts[0], parts[0]] : parts;
  return [Math.ceil(h / 32) * 32, Math.ceil(w / 32) * 32];
}

export const command: Command = {
  name: "export",
  summary: "export a YOLOv8-seg model to ONNX (output0 [B,4+nc+32,A], output1 [B,32,H/4,W/4])",
  options: {
    model: { type: "string", help: "weights: ultralytics .pt, project checkpoint, or scale name", required: true },
    format: { type: "string", default: "onnx", choices: ["onnx"], help: "export format" },
    imgsz: { type: "string", default: "640", help: "input size: N or H,W (rounded up to multiples of 32)" },
    dynamic: { type: "boolean", default: false, help: "symbolic batch/height/width" },
    half: { type: "boolean", default: false, help: "fp16 weights (not supported: CPU export is fp32)" },
    opset: { type: "number", default: 13, help: "ONNX opset (13)" },
    out: { type: "string", help: "output file (default: next to the weights, or runs/export/)" },
  },
  description: "Example: deno task cli export model=runs/segment/train/weights/best imgsz=640",
  async run(args) {
    if (args.opts.half) throw new UserError("half=true is not supported: the CPU export writes fp32 weights");
    if (args.opts.opset !== 13) throw new UserError(`opset ${args.opts.opset} is not supported (13)`);
    await initBackend();
    const spec = String(args.opts.model);
    const imgsz = parseImgsz(String(args.opts.imgsz));
    const model = await loadYoloModel(spec, { verbose: false });
    try {
      const names = Array.from({ length: model.nc }, (_, i) => model.names[i] ?? String(i));
      const t0 = performance.now();
      const { bytes, info } = exportYoloSegOnnx(model.stateDict(), { imgsz, dynamic: !!args.opts.dynamic, names });
      let out = args.opts.out as string | undefined;
      if (!out) {
        const abs = path.resolve(spec);
        const stem = path.basename(abs).replace(/\.(pt|pth|safetensors|json)$/, "");
        const inProject = abs.startsWith(ROOT + path.sep);
        out = inProject
          ? path.join(path.dirname(abs), `${stem}.onnx`)
          : path.join(ROOT, "runs", "export", `${stem}.onnx`);
      }
      await writeFileAtomic(out, bytes);
      const mb = (bytes.length / 1e6).toFixed(1);
      console.log(
        `ONNX: exported ${spec} (nc=${info.nc}, ${info.nodes} nodes, opset ${info.opset}, imgsz ${imgsz.join("x")}${
          args.opts.dynamic ? ", dynamic" : ""
        }) in ${((performance.now() - t0) / 1000).toFixed(1)}s -> ${out} (${mb} MB)`,
      );
    } finally {
      model.dispose();
    }
    return 0;
  },
};
