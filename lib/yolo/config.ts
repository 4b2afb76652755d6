/**
 * YOLOv8-seg architecture as plain data: the scale table and layer table of ultralytics' `yolov8-seg.yaml`, the
 * channel/repeat rounding of `parse_model`, and inference of {scale, nc} from a state dict's tensor shapes.
 */
import { UserError } from "../util/errors.ts";
import { pyRound } from "../util/math.ts";

/** Model scale letter. */
export type Scale = "n" | "s" | "m" | "l" | "x";

/** [depth multiple, width multiple, max channels] per scale, as in `yolov8-seg.yaml`. */
export const SCALES: Record<Scale, [number, number, number]> = {
  n: [0.33, 0.25, 1024],
  s: [0.33, 0.5, 1024],
  m: [0.67, 0.75, 768],
  l: [1.0, 1.0, 512],
  x: [1.0, 1.25, 512],
};

/** Layer kinds used by YOLOv8-seg. */
export type LayerType = "Conv" | "C2f" | "SPPF" | "Upsample" | "Concat" | "Segment";

/** One row of the yaml: [from, repeats, module, args]. */
export interface YamlRow {
  from: number | number[];
  n: number;
  type: LayerType;
  args: (number | boolean | string)[];
}

/** Backbone + head of `cfg/models/v8/yolov8-seg.yaml` (nc and scale filled in later). */
export const LAYERS: YamlRow[] = [
  { from: -1, n: 1, type: "Conv", args: [64, 3, 2] }, // 0-P1/2
  { from: -1, n: 1, type: "Conv", args: [128, 3, 2] }, // 1-P2/4
  { from: -1, n: 3, type: "C2f", args: [128, true] },
  { from: -1, n: 1, type: "Conv", args: [256, 3, 2] }, // 3-P3/8
  { from: -1, n: 6, type: "C2f", args: [256, true] },
  { from: -1, n: 1, type: "Conv", args: [512, 3, 2] }, // 5-P4/16
  { from: -1, n: 6, type: "C2f", args: [512, true] },
  { from: -1, n: 1, type: "Conv", args: [1024, 3, 2] }, // 7-P5/32
  { from: -1, n: 3, type: "C2f", args: [1024, true] },
  { from: -1, n: 1, type: "SPPF", args: [1024, 5] }, // 9
  { from: -1, n: 1, type: "Upsample", args: ["None", 2, "nearest"] },
  { from: [-1, 6], n: 1, type: "Concat", args: [1] }, // cat backbone P4
  { from: -1, n: 3, type: "C2f", args: [512] }, // 12
  { from: -1, n: 1, type: "Upsample", args: ["None", 2, "nearest"] },
  { from: [-1, 4], n: 1, type: "Concat", args: [1] }, // cat backbone P3
  { from: -1, n: 3, type: "C2f", args: [256] }, // 15 (P3/8-small)
  { from: -1, n: 1, type: "Conv", args: [256, 3, 2] },
  { from: [-1, 12], n: 1, type: "Concat", args: [1] }, // cat head P4
  { from: -1, n: 3, type: "C2f", args: [512] }, // 18 (P4/16-medium)
  { from: -1, n: 1, type: "Conv", args: [512, 3, 2] },
  { from: [-1, 9], n: 1, type: "Concat", args: [1] }, // cat head P5
  { from: -1, n: 3, type: "C2f", args: [1024] }, // 21 (P5/32-large)
  { from: [15, 18, 21], n: 1, type: "Segment", args: ["nc", 32, 256] }, // Segment(P3, P4, P5)
];

/** A layer with resolved channels and repeats. */
export interface LayerSpec {
  index: number;
  type: LayerType;
  /** absolute indices of the inputs (−1 resolved; −2 = the image) */
  from: number[];
  /** input channels per `from` entry */
  cin: number[];
  /** output channels (Segment: 0, it has several outputs) */
  cout: number;
  /** repeats after depth scaling */
  n: number;
  /** Conv: kernel, stride */
  k?: number;
  s?: number;
  /** C2f: bottleneck shortcut */
  shortcut?: boolean;
  /** SPPF: pool kernel */
  poolK?: number;
  /** Segment: number of masks, proto channels */
  nm?: number;
  npr?: number;
}

/** The full resolved architecture. */
export interface ModelConfig {
  scale: Scale;
  nc: number;
  /** reg_max of the DFL (16 in YOLOv8) */
  regMax: number;
  strides: number[];
  layers: LayerSpec[];
}

/** ultralytics `make_divisible(x, divisor)`: ceil(x / divisor) * divisor. */
export function makeDivisible(x: number, divisor = 8): number {
  return Math.ceil(x / divisor) * divisor;
}

/** Resolve the yaml for a scale and class count exactly as `parse_model` does. */
export function buildConfig(scale: Scale, nc: number): ModelConfig {
  if (!(scale in SCALES)) throw new UserError(`unknown model scale '${scale}' (expected n, s, m, l or x)`);
  if (!Number.isInteger(nc) || nc < 1) throw new UserError(`number of classes must be a positive integer, got ${nc}`);
  const [depth, width, maxCh] = SCALES[scale];
  const ch: number[] = [3]; // ch[-1] before layer 0 is the image
  const out: number[] = []; // channels per layer
  const layers: LayerSpec[] = [];
  LAYERS.forEach((row, i) => {
    const from = (Array.isArray(row.from) ? row.from : [row.from]).map((f) => (f < 0 ? i + f : f));
    const cin = from.map((f) => (f < 0 ? ch[0] : out[f]));
    const n = row.n > 1 ? Math.max(pyRound(row.n * depth), 1) : row.n;
    const spec: LayerSpec = { index: i, type: row.type, from, cin, cout: 0, n };
    switch (row.type) {
      case "Conv":
      case "C2f":
      case "SPPF": {
        spec.cout = makeDivisible(Math.min(row.args[0] as number, maxCh) * width, 8);
        if (row.type === "Conv") {
          spec.k = row.args[1] as number;
          spec.s = row.args[2] as number;
        } else if (row.type === "C2f") spec.shortcut = row.args[1] === true;
        else spec.poolK = row.args[1] as number;
        break;
      }
      case "Upsample":
        spec.cout = cin[0];
        break;
      case "Concat":
        spec.cout = cin.reduce((a, b) => a + b, 0);
        break;
      case "Segment":
        spec.nm = row.args[1] as number;
        spec.npr = makeDivisible(Math.min(row.args[2] as number, maxCh) * width, 8);
        break;
    }
    out.push(spec.cout);
    layers.push(spec);
  });
  return { scale, nc, regMax: 16, strides: [8, 16, 32], layers };
}

/** Minimal view of a state-dict entry needed for shape inference. */
export interface ShapeOnly {
  shape: number[];
}

/** Infer {scale, nc} from state-dict tensor shapes (`model.0.conv.weight`, `model.22.cv3.0.2.weight`, ...). */
export function inferConfig(sd: Map<string, ShapeOnly>, file?: string): { scale: Scale; nc: number } {
  const w0 = sd.get("model.0.conv.weight");
  const cls = sd.get("model.22.cv3.0.2.weight");
  if (!w0 || !cls) {
    throw new UserError("not a YOLOv8-seg state dict (missing model.0.conv.weight or model.22.cv3.0.2.weight)", file);
  }
  const c0 = w0.shape[0];
  const scale = (Object.keys(SCALES) as Scale[]).find((s) =>
    makeDivisible(Math.min(64, SCALES[s][2]) * SCALES[s][1], 8) === c0
  );
  if (!scale) throw new UserError(`first conv has ${c0} output channels, which matches no YOLOv8 scale`, file);
  // Depth check: bottleneck count of layer 2 (C2f, 3 repeats before scaling).
  let nb = 0;
  while (sd.has(`model.2.m.${nb}.cv1.conv.weight`)) nb++;
  const want = buildConfig(scale, 1).layers[2].n;
  if (nb !== want) throw new UserError(`layer 2 has ${nb} bottlenecks; scale '${scale}' needs ${want}`, file);
  if (!sd.has("model.22.proto.cv1.conv.weight")) {
    throw new UserError("state dict has no Segment head (model.22.proto.*): not a segmentation model", file);
  }
  return { scale, nc: cls.shape[0] };
}

/** Parse a yaml / scale name (`n`, `yolov8n-seg`, `yolov8s-seg.yaml`) to a scale, or null. */
export function scaleFromName(name: string): Scale | null {
  if (/^[nsmlx]$/.test(name)) return name as Scale;
  const m = /^yolov8([nsmlx])-seg(\.ya?ml)?$/.exec(name.split(/[\\/]/).pop() ?? "");
  return m ? (m[1] as Scale) : null;
}
