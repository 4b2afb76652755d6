/**
 * ONNX export of a YOLOv8-seg model from its ultralytics-named weights (`model.N.*`, OIHW conv weights, BatchNorm
 * folded into the convolutions). The graph matches ultralytics' own ONNX export: input `images` [B,3,H,W] float32
 * (RGB, 0..1), outputs `output0` [B, 4+nc+32, A] (xywh input pixels, sigmoid class scores, mask coefficients) and
 * `output1` [B, 32, H/4, W/4] (mask prototypes), opset 13, ultralytics-style metadata. The protobuf is written
 * with the `onnx-proto` package (protobufjs), never by hand.
 */
import onnxProto from "onnx-proto";
import { UserError } from "../util/errors.ts";

const { onnx } = onnxProto;

import type { StateDict, TensorRecord } from "../io/torch.ts";

/** One weight tensor: shape (PyTorch layout) and values. */
export type WeightRecord = Pick<TensorRecord, "shape" | "data">;

/** ultralytics-named weights (`model.0.conv.weight` ...), as the torch reader returns them. */
export type WeightMap = Map<string, WeightRecord> | StateDict;

/** Export options, ultralytics' argument names. */
export interface OnnxExportOptions {
  /** input size [h, w] in pixels (multiples of 32) */
  imgsz: [number, number];
  /** symbolic batch, height and width (anchors computed in the graph) */
  dynamic?: boolean;
  /** class names (index order) for the metadata */
  names?: string[];
  /** BatchNorm epsilon of the model's Conv blocks (ultralytics: 1e-3) */
  bnEps?: number;
  /** extra metadata entries */
  metadata?: Record<string, string>;
}

/** Summary of what an export wrote. */
export interface OnnxExportInfo {
  nc: number;
  numAnchors: number | null;
  nodes: number;
  initializers: number;
  opset: number;
}

const OPSET = 13;
const FLOAT = 1;
const INT64 = 7;

function f32(rec: WeightRecord): Float32Array {
  if (rec.data instanceof Float32Array) return rec.data;
  if (rec.data instanceof BigInt64Array) return Float32Array.from(rec.data, (v) => Number(v));
  return Float32Array.from(rec.data as ArrayLike<number>);
}

/** Builds nodes and initializers with unique names. */
class GraphBuilder {
  nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  inits: InstanceType<typeof onnx.TensorProto>[] = [];
  private n = 0;

  name(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }

  constFloat(prefix: string, dims: number[], values: Float32Array | number[]): string {
    const name = this.name(prefix);
    const arr = values instanceof Float32Array ? values : Float32Array.from(values);
    this.inits.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: FLOAT,
        rawData: new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength)),
      }),
    );
    return name;
  }

  constInt64(prefix: string, values: number[]): string {
    const name = this.name(prefix);
    const arr = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.inits.push(
      onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(arr.buffer) }),
    );
    return name;
  }

  op(
    type: string,
    inputs: string[],
    attrs: Record<string, number | number[] | string> = {},
    outName?: string,
  ): string {
    const out = outName ?? this.name(type.toLowerCase());
    const attribute = Object.entries(attrs).map(([k, v]) => {
      if (typeof v === "string") {
        return onnx.AttributeProto.create({ name: k, type: onnx.AttributeProto.AttributeType.STRING, s: enc(v) });
      }
      if (Array.isArray(v)) {
        return onnx.AttributeProto.create({ name: k, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
      }
      if (Number.isInteger(v)) {
        return onnx.AttributeProto.create({ name: k, type: onnx.AttributeProto.AttributeType.INT, i: v });
      }
      return onnx.AttributeProto.create({ name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v });
    });
    this.nodes.push(onnx.NodeProto.create({ opType: type, input: inputs, output: [out], name: out, attribute }));
    return out;
  }
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Reads weights by ultralytics name, with a clear error when one is missing. */
class Weights {
  constructor(private sd: WeightMap) {}
  has(k: string): boolean {
    return this.sd.has(k);
  }
  get(k: string): WeightRecord {
    const r = (this.sd as Map<string, WeightRecord>).get(k);
    if (!r) throw new UserError(`ONNX export: weight '${k}' is missing from the checkpoint`);
    return r;
  }
}

/** Conv + BN folded + SiLU (ultralytics `Conv`), returning the output name. */
function conv(g: GraphBuilder, w: Weights, prefix: string, x: string, stride: number, eps: number, act = true): string {
  const W = w.get(`${prefix}.conv.weight`);
  const [co, ci, kh, kw] = W.shape;
  const wv = f32(W);
  const gamma = f32(w.get(`${prefix}.bn.weight`)), beta = f32(w.get(`${prefix}.bn.bias`));
  const mean = f32(w.get(`${prefix}.bn.running_mean`)), vr = f32(w.get(`${prefix}.bn.running_var`));
  const fw = new Float32Array(wv.length);
  const fb = new Float32Array(co);
  const per = ci * kh * kw;
  for (let o = 0; o < co; o++) {
    const s = gamma[o] / Math.sqrt(vr[o] + eps);
    for (let i = 0; i < per; i++) fw[o * per + i] = wv[o * per + i] * s;
    fb[o] = beta[o] - mean[o] * s;
  }
  const wn = g.constFloat(`${prefix}.w`, W.shape, fw);
  const bn = g.constFloat(`${prefix}.b`, [co], fb);
  const p = Math.floor(kh / 2);
  const y = g.op("Conv", [x, wn, bn], { kernel_shape: [kh, kw], strides: [stride, stride], pads: [p, p, p, p] });
  return act ? g.op("Mul", [y, g.op("Sigmoid", [y])]) : y;
}

/** Plain Conv2d with bias (head output convs). */
function conv2d(g: GraphBuilder, w: Weights, prefix: string, x: string): string {
  const W = w.get(`${prefix}.weight`);
  const wn = g.constFloat(`${prefix}.w`, W.shape, f32(W));
  const bn = g.constFloat(`${prefix}.b`, [W.shape[0]], f32(w.get(`${prefix}.bias`)));
  const k = W.shape[2];
  const p = Math.floor(k / 2);
  return g.op("Conv", [x, wn, bn], { kernel_shape: [k, W.shape[3]], strides: [1, 1], pads: [p, p, p, p] });
}

function countChildren(w: WeightMap, prefix: string): number {
  let n = 0;
  while ([...w.keys()].some((k) => k.startsWith(`${prefix}.${n}.`))) n++;
  return n;
}

function c2f(g: GraphBuilder, w: Weights, sd: WeightMap, prefix: string, x: string, shortcut: boolean, eps: number) {
  const y = conv(g, w, `${prefix}.cv1`, x, 1, eps);
  const c = w.get(`${prefix}.cv1.conv.weight`).shape[0] / 2;
  const split = g.constInt64("split", [c, c]);
  const parts: string[] = [];
  const a = g.name("c2f_a"), b = g.name("c2f_b");
  g.nodes.push(onnx.NodeProto.create({
    opType: "Split",
    input: [y, split],
    output: [a, b],
    name: a,
    attribute: [
      onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }),
    ],
  }));
  parts.push(a, b);
  let cur = b;
  const n = countChildren(sd, `${prefix}.m`);
  for (let i = 0; i < n; i++) {
    const m = `${prefix}.m.${i}`;
    const t = conv(g, w, `${m}.cv2`, conv(g, w, `${m}.cv1`, cur, 1, eps), 1, eps);
    cur = shortcut ? g.op("Add", [cur, t]) : t;
    parts.push(cur);
  }
  return conv(g, w, `${prefix}.cv2`, g.op("Concat", parts, { axis: 1 }), 1, eps);
}

function sppf(g: GraphBuilder, w: Weights, prefix: string, x: string, eps: number): string {
  const y = conv(g, w, `${prefix}.cv1`, x, 1, eps);
  const pool = (t: string) => g.op("MaxPool", [t], { kernel_shape: [5, 5], strides: [1, 1], pads: [2, 2, 2, 2] });
  const y1 = pool(y), y2 = pool(y1), y3 = pool(y2);
  return conv(g, w, `${prefix}.cv2`, g.op("Concat", [y, y1, y2, y3], { axis: 1 }), 1, eps);
}

function upsample(g: GraphBuilder, x: string): string {
  const roi = g.constFloat("roi", [0], []);
  const scales = g.constFloat("scales", [4], [1, 1, 2, 2]);
  return g.op("Resize", [x, roi, scales], {
    mode: "nearest",
    coordinate_transformation_mode: "asymmetric",
    nearest_mode: "floor",
  });
}

/** Anchor centres [1, 2, A] and strides [1, 1, A] for static input sizes (level by level, row-major). */
function staticAnchors(h: number, w: number, strides: number[]): { anchors: Float32Array; st: Float32Array } {
  const pts: number[] = [], ys: number[] = [], st: number[] = [];
  for (const s of strides) {
    const gh = Math.ceil(h / s), gw = Math.ceil(w / s);
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        pts.push(x + 0.5);
        ys.push(y + 0.5);
        st.push(s);
      }
    }
  }
  return { anchors: Float32Array.from([...pts, ...ys]), st: Float32Array.from(st) };
}

/** Infers the class count from the head weights (`model.22.cv3.0.2.weight` [nc, c, 1, 1]). */
export function inferNc(sd: WeightMap, head = 22): number {
  const r = sd.get(`model.${head}.cv3.0.2.weight`);
  if (!r) throw new UserError("ONNX export: weights do not look like a YOLOv8-seg model (no model.22.cv3.0.2.weight)");
  return r.shape[0];
}

/** Build the ONNX model bytes for a YOLOv8-seg model given its weights. */
export function exportYoloSegOnnx(sd: WeightMap, opts: OnnxExportOptions): { bytes: Uint8Array; info: OnnxExportInfo } {
  const [H, W] = opts.imgsz;
  if (H % 32 || W % 32) throw new UserError(`ONNX export: imgsz ${H}x${W} must be multiples of 32`);
  const eps = opts.bnEps ?? 1e-3;
  const w = new Weights(sd);
  const g = new GraphBuilder();
  const nc = inferNc(sd);
  const strides = [8, 16, 32];
  const outs: string[] = [];
  const x0 = "images";
  // backbone + neck, as yolov8-seg.yaml
  const convS2 = new Set([0, 1, 3, 5, 7, 16, 19]);
  const c2fShortcut: Record<number, boolean> = {
    2: true,
    4: true,
    6: true,
    8: true,
    12: false,
    15: false,
    18: false,
    21: false,
  };
  const concatFrom: Record<number, number> = { 11: 6, 14: 4, 17: 12, 20: 9 };
  let x = x0;
  for (let i = 0; i <= 21; i++) {
    const p = `model.${i}`;
    if (convS2.has(i)) x = conv(g, w, p, x, 2, eps);
    else if (i in c2fShortcut) x = c2f(g, w, sd, p, x, c2fShortcut[i], eps);
    else if (i === 9) x = sppf(g, w, p, x, eps);
    else if (i === 10 || i === 13) x = upsample(g, x);
    else if (i in concatFrom) x = g.op("Concat", [x, outs[concatFrom[i]]], { axis: 1 });
    outs.push(x);
  }
  const feats = [outs[15], outs[18], outs[21]];
  // Segment head: proto from P3, coefficients, boxes, classes
  const hp = "model.22";
  let pr = conv(g, w, `${hp}.proto.cv1`, feats[0], 1, eps);
  const up = w.get(`${hp}.proto.upsample.weight`);
  pr = g.op("ConvTranspose", [
    pr,
    g.constFloat("proto.up.w", up.shape, f32(up)),
    g.constFloat("proto.up.b", [up.shape[1]], f32(w.get(`${hp}.proto.upsample.bias`))),
  ], { kernel_shape: [2, 2], strides: [2, 2] });
  pr = conv(g, w, `${hp}.proto.cv2`, pr, 1, eps);
  const proto = conv(g, w, `${hp}.proto.cv3`, pr, 1, eps, true);
  g.op("Identity", [proto], {}, "output1");

  const flat = (t: string, ch: number) => g.op("Reshape", [t, g.constInt64("shape", [0, ch, -1])]);
  const boxes: string[] = [], clss: string[] = [], coefs: string[] = [];
  for (let i = 0; i < 3; i++) {
    const br = (name: string) => {
      const a = conv(g, w, `${hp}.${name}.${i}.0`, feats[i], 1, eps);
      const b = conv(g, w, `${hp}.${name}.${i}.1`, a, 1, eps);
      return conv2d(g, w, `${hp}.${name}.${i}.2`, b);
    };
    boxes.push(flat(br("cv2"), 64));
    clss.push(flat(br("cv3"), nc));
    coefs.push(flat(br("cv4"), 32));
  }
  const box = g.op("Concat", boxes, { axis: 2 }); // [B,64,A]
  const cls = g.op("Sigmoid", [g.op("Concat", clss, { axis: 2 })]);
  const mc = g.op("Concat", coefs, { axis: 2 });
  // DFL: [B,4,16,A] softmax over bins, expectation
  const b4 = g.op("Reshape", [box, g.constInt64("shape", [0, 4, 16, -1])]);
  const sm = g.op("Softmax", [b4], { axis: 2 });
  const ramp = g.constFloat("dfl.ramp", [1, 1, 16, 1], Array.from({ length: 16 }, (_, k) => k));
  const dist = g.op("ReduceSum", [g.op("Mul", [sm, ramp]), g.constInt64("axes", [2])], { keepdims: 0 }); // [B,4,A]
  let anchors: string, stv: string, numAnchors: number | null = null;
  if (!opts.dynamic) {
    const a = staticAnchors(H, W, strides);
    numAnchors = a.st.length;
    anchors = g.constFloat("anchors", [1, 2, numAnchors], a.anchors);
    stv = g.constFloat("strides", [1, 1, numAnchors], a.st);
  } else {
    ({ anchors, stv } = dynamicAnchors(g, feats, strides));
  }
  const split2 = g.constInt64("split", [2, 2]);
  const lt = g.name("lt"), rb = g.name("rb");
  g.nodes.push(onnx.NodeProto.create({
    opType: "Split",
    input: [dist, split2],
    output: [lt, rb],
    name: lt,
    attribute: [
      onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }),
    ],
  }));
  const x1y1 = g.op("Sub", [anchors, lt]);
  const x2y2 = g.op("Add", [anchors, rb]);
  const cxy = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.constFloat("two", [], [2])]);
  const wh = g.op("Sub", [x2y2, x1y1]);
  const dbox = g.op("Mul", [g.op("Concat", [cxy, wh], { axis: 1 }), stv]);
  g.op("Concat", [dbox, cls, mc], { axis: 1 }, "output0");

  const dimB = opts.dynamic ? { dimParam: "batch" } : { dimValue: 1 };
  const dimH = opts.dynamic ? { dimParam: "height" } : { dimValue: H };
  const dimW = opts.dynamic ? { dimParam: "width" } : { dimValue: W };
  const vi = (name: string, dims: Record<string, unknown>[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: FLOAT,
          shape: onnx.TensorShapeProto.create({ dim: dims }),
        }),
      }),
    });
  const anchorsDim = numAnchors !== null ? { dimValue: numAnchors } : { dimParam: "anchors" };
  const graph = onnx.GraphProto.create({
    name: "yolov8-seg",
    node: g.nodes,
    initializer: g.inits,
    input: [vi("images", [dimB, { dimValue: 3 }, dimH, dimW])],
    output: [
      vi("output0", [dimB, { dimValue: 4 + nc + 32 }, anchorsDim]),
      vi("output1", [
        dimB,
        { dimValue: 32 },
        opts.dynamic ? { dimParam: "proto_h" } : { dimValue: H / 4 },
        opts.dynamic ? { dimParam: "proto_w" } : { dimValue: W / 4 },
      ]),
    ],
  });
  const names = opts.names ?? Array.from({ length: nc }, (_, i) => `class${i}`);
  const meta: Record<string, string> = {
    description: "animeseg YOLOv8-seg model",
    author: "animeseg",
    date: new Date().toISOString(),
    version: "animeseg",
    license: "AGPL-3.0 (ultralytics YOLOv8 architecture)",
    stride: "32",
    task: "segment",
    batch: "1",
    imgsz: `[${H}, ${W}]`,
    names: `{${names.map((n, i) => `${i}: '${n.replace(/'/g, "\\'")}'`).join(", ")}}`,
    ...(opts.metadata ?? {}),
  };
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "animeseg",
    producerVersion: "1",
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: OPSET })],
    graph,
    metadataProps: Object.entries(meta).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  return {
    bytes,
    info: { nc, numAnchors, nodes: g.nodes.length, initializers: g.inits.length, opset: OPSET },
  };
}

/** Anchors and strides computed in the graph from each level's runtime shape (for `dynamic=true`). */
function dynamicAnchors(g: GraphBuilder, feats: string[], strides: number[]): { anchors: string; stv: string } {
  const axs: string[] = [], sts: string[] = [];
  for (let i = 0; i < feats.length; i++) {
    const shape = g.op("Shape", [feats[i]]);
    const h = g.op("Gather", [shape, g.constInt64("idx", [2])], { axis: 0 });
    const w = g.op("Gather", [shape, g.constInt64("idx", [3])], { axis: 0 });
    const hf = g.op("Cast", [g.op("Squeeze", [h, g.constInt64("ax", [0])])], { to: FLOAT });
    const wf = g.op("Cast", [g.op("Squeeze", [w, g.constInt64("ax", [0])])], { to: FLOAT });
    const half = g.constFloat("half", [], [0.5]);
    const one = g.constFloat("one", [], [1]);
    const xs = g.op("Range", [half, g.op("Add", [wf, half]), one]); // [w]
    const ys = g.op("Range", [half, g.op("Add", [hf, half]), one]); // [h]
    const hw = g.op("Concat", [h, w], { axis: 0 });
    const gx = g.op("Expand", [g.op("Unsqueeze", [xs, g.constInt64("ax", [0])]), hw]); // [h,w]
    const gy = g.op("Expand", [g.op("Unsqueeze", [ys, g.constInt64("ax", [1])]), hw]);
    const flatX = g.op("Reshape", [gx, g.constInt64("shape", [1, 1, -1])]);
    const flatY = g.op("Reshape", [gy, g.constInt64("shape", [1, 1, -1])]);
    axs.push(g.op("Concat", [flatX, flatY], { axis: 1 })); // [1,2,hw]
    const ones = g.op("Mul", [
      g.op("Add", [g.op("Mul", [flatX, g.constFloat("zero", [], [0])]), one]),
      g.constFloat("stride", [], [strides[i]]),
    ]);
    sts.push(ones); // [1,1,hw]
  }
  return { anchors: g.op("Concat", axs, { axis: 2 }), stv: g.op("Concat", sts, { axis: 2 }) };
}
