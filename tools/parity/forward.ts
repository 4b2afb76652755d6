/**
 * Parity category `forward`: for every case of `forward/cases.json`, builds the model from the checkpoint named in
 * `yolo/models.json`, feeds `input.npy` (or `letterboxed_u8_<b>.npy` / 255), and compares each per-layer output,
 * the eval head levels, `eval_pred` (box / score / coefficient rows), `eval_proto` and the train-mode outputs with
 * the README tolerances. Also the LetterBox cases (`letterbox_cases.json`, `letterbox_extra/cases.json`) against
 * `lib/image/mod.ts` when that module exists. Everything is derived from the JSON files and array shapes.
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory } from "./types.ts";
import { type NpyArray, readNpy } from "../../lib/io/npy.ts";
import { tf } from "../../lib/backend/mod.ts";
import { loadYoloModel } from "../../lib/yolo/load.ts";
import type { YoloSegModel } from "../../lib/yolo/model.ts";
import { exists } from "../../lib/util/fs.ts";

interface ForwardCase {
  model: string;
  imgsz?: number | number[];
  letterbox_auto?: boolean;
  nc?: number;
  input_shape: number[];
  per_layer?: boolean;
  train_mode?: boolean;
  layer_types?: string[];
}

interface ModelEntry {
  checkpoint: string;
  npy_dump?: string;
  nc: number;
}

/** Error figures of ours vs ref (same length, C order). */
export function errorStats(ours: ArrayLike<number>, ref: ArrayLike<number>) {
  let max = 0, sum = 0, refMax = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    const e = Number.isNaN(d) ? Infinity : d;
    if (e > max) max = e;
    sum += e;
    refMax = Math.max(refMax, Math.abs(ref[i]));
  }
  return { max, mean: ref.length ? sum / ref.length : 0, scale: Math.max(1, refMax) };
}

const fmt = (v: number) => v.toExponential(2);

/** maxabs ≤ tolMax·scale and mean ≤ tolMean·scale. */
function scaled(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tolMax: number, tolMean?: number) {
  const s = errorStats(ours, ref);
  const ok = s.max <= tolMax * s.scale && (tolMean === undefined || s.mean <= tolMean * s.scale);
  const meanTol = tolMean === undefined ? "" : ` (tol ${fmt(tolMean * s.scale)})`;
  return {
    name,
    verdict: ok ? "PASS" : "FAIL",
    detail: `maxabs=${fmt(s.max)} (tol ${fmt(tolMax * s.scale)}) mean=${fmt(s.mean)}${meanTol} scale=${
      s.scale.toFixed(3)
    }`,
  } as CaseResult;
}

/** Shape-checked wrapper: a shape mismatch is a FAIL line. */
function shapeFail(name: string, ours: number[], ref: number[]): CaseResult | null {
  if (ours.length === ref.length && ours.every((d, i) => d === ref[i])) return null;
  return { name, verdict: "FAIL", detail: `shape [${ours}] vs reference [${ref}]` };
}

/** NHWC tensor → NCHW values; rank-3 [B,A,C] → [B,C,A]. */
function torchOrder(t: tf.Tensor): { data: Float32Array; shape: number[] } {
  const perm = t.rank === 4 ? [0, 3, 1, 2] : [0, 2, 1];
  const p = tf.transpose(t, perm);
  const out = { data: p.dataSync() as Float32Array, shape: p.shape };
  p.dispose();
  return out;
}

/** Rows [r0, r1) of a [B, R, A] array, flattened. */
function rows(data: ArrayLike<number>, shape: number[], r0: number, r1: number): Float32Array {
  const [b, r, a] = shape;
  const out = new Float32Array(b * (r1 - r0) * a);
  let k = 0;
  for (let i = 0; i < b; i++) {
    for (let j = r0; j < r1; j++) {
      const off = (i * r + j) * a;
      for (let x = 0; x < a; x++) out[k++] = data[off + x];
    }
  }
  return out;
}

function comparePred(prefix: string, ours: { data: Float32Array; shape: number[] }, ref: NpyArray, nc: number) {
  const out: CaseResult[] = [];
  const bad = shapeFail(`${prefix}/eval_pred`, ours.shape, ref.shape);
  if (bad) return [bad];
  const r = ref.data as Float32Array;
  const nr = ref.shape[1];
  // Box rows: |d| ≤ 0.05 px + 2e-4·|ref| element-wise.
  const ob = rows(ours.data, ours.shape, 0, 4), rb = rows(r, ref.shape, 0, 4);
  let worst = 0, maxabs = 0;
  for (let i = 0; i < rb.length; i++) {
    const d = Math.abs(ob[i] - rb[i]);
    maxabs = Math.max(maxabs, Number.isNaN(d) ? Infinity : d);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d / (0.05 + 2e-4 * Math.abs(rb[i])));
  }
  out.push({
    name: `${prefix}/eval_pred_box`,
    verdict: worst <= 1 ? "PASS" : "FAIL",
    detail: `maxabs=${fmt(maxabs)} px, worst |d|/(0.05+2e-4|ref|)=${worst.toFixed(3)} (tol 1)`,
  });
  const os = rows(ours.data, ours.shape, 4, 4 + nc), rs = rows(r, ref.shape, 4, 4 + nc);
  const s = errorStats(os, rs);
  out.push({
    name: `${prefix}/eval_pred_score`,
    verdict: s.max <= 3e-4 ? "PASS" : "FAIL",
    detail: `maxabs=${fmt(s.max)} (tol 3.00e-4) mean=${fmt(s.mean)}`,
  });
  out.push(
    scaled(
      `${prefix}/eval_pred_coef`,
      rows(ours.data, ours.shape, 4 + nc, nr),
      rows(r, ref.shape, 4 + nc, nr),
      1e-3,
      1e-5,
    ),
  );
  return out;
}

async function readInput(dir: string, shape: number[]): Promise<tf.Tensor4D | string> {
  const f = path.join(dir, "input.npy");
  if (await exists(f)) {
    const a = await readNpy(f);
    return tf.tidy(() =>
      tf.transpose(tf.tensor4d(a.data as Float32Array, a.shape as [number, number, number, number]), [0, 2, 3, 1])
    );
  }
  const [b, c, h, w] = shape;
  const imgs: Uint8Array[] = [];
  for (let i = 0; i < b; i++) {
    const g = path.join(dir, `letterboxed_u8_${i}.npy`);
    if (!(await exists(g))) return `neither input.npy nor letterboxed_u8_${i}.npy`;
    const a = await readNpy(g);
    if (a.shape.join() !== [h, w, c].join()) {
      return `letterboxed_u8_${i}.npy has shape [${a.shape}], want [${h},${w},${c}]`;
    }
    imgs.push(a.data as Uint8Array);
  }
  const all = new Float32Array(b * h * w * c);
  imgs.forEach((d, i) => {
    for (let k = 0; k < d.length; k++) all[i * d.length + k] = d[k] / 255;
  });
  return tf.tensor4d(all, [b, h, w, c]);
}

async function* forwardCase(
  root: string,
  name: string,
  c: ForwardCase,
  model: YoloSegModel,
): AsyncGenerator<CaseResult> {
  const dir = path.join(root, "forward", name);
  const prefix = `forward/${name}`;
  const x = await readInput(dir, c.input_shape);
  if (typeof x === "string") {
    yield { name: prefix, verdict: "FAIL", detail: x };
    return;
  }
  const ref = async (f: string) => (await exists(path.join(dir, f))) ? await readNpy(path.join(dir, f)) : null;
  const cmp = (label: string, ours: tf.Tensor, r: NpyArray, tol: number, tolMean?: number): CaseResult => {
    const o = torchOrder(ours);
    return shapeFail(`${prefix}/${label}`, o.shape, r.shape) ??
      scaled(`${prefix}/${label}`, o.data, r.data as Float32Array, tol, tolMean);
  };
  try {
    const t0 = performance.now();
    const ev = model.forward(x, { train: false, returnLayers: c.per_layer === true });
    const ms = performance.now() - t0;
    try {
      if (c.per_layer && ev.layers) {
        for (let i = 0; i < ev.layers.length; i++) {
          const f = `layer_${String(i).padStart(2, "0")}.npy`;
          const r = await ref(f);
          if (r) yield cmp(f.replace(".npy", ""), ev.layers[i], r, 1e-3, 1e-5);
        }
      }
      for (let i = 0; i < ev.levels.length; i++) {
        const r = await ref(`eval_level${i}.npy`);
        if (r) yield cmp(`eval_level${i}`, ev.levels[i], r, 1e-3, 1e-5);
      }
      const rp = await ref("eval_pred.npy");
      if (rp) yield* comparePred(prefix, torchOrder(ev.pred), rp, model.nc);
      const rpr = await ref("eval_proto.npy");
      if (rpr) yield cmp("eval_proto", ev.proto, rpr, 1e-3, 1e-5);
    } finally {
      tf.dispose(ev as unknown as tf.TensorContainer);
    }
    if (c.train_mode) {
      const tr = model.forward(x, { train: true, updateStats: false });
      try {
        for (let i = 0; i < tr.levels.length; i++) {
          const r = await ref(`train_level${i}.npy`);
          if (r) yield cmp(`train_level${i}`, tr.levels[i], r, 2e-3);
        }
        const rm = await ref("train_mc.npy");
        if (rm) yield cmp("train_mc", tr.mc, rm, 2e-3);
        const rpt = await ref("train_proto.npy");
        if (rpt) yield cmp("train_proto", tr.proto, rpt, 2e-3);
      } finally {
        tf.dispose(tr as unknown as tf.TensorContainer);
      }
    }
    yield { name: `${prefix}/timing`, verdict: "PASS", detail: `eval forward ${ms.toFixed(0)} ms (info)` };
  } finally {
    x.dispose();
  }
}

// ---------------------------------------------------------------- letterbox

interface LbGeom {
  ratio: number;
  new_unpad_wh: number[];
  top: number;
  bottom: number;
  left: number;
  right: number;
  out_hw: number[];
  new_shape?: number | number[];
  auto?: boolean;
}

interface LetterboxImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}
type LetterboxFn = (
  img: LetterboxImage,
  opts: {
    newShape: number | [number, number];
    auto: boolean;
    stride: number;
    scaleup: boolean;
    center: boolean;
    padValue: number;
  },
) => {
  image: LetterboxImage;
  ratio: number | number[];
  newUnpadWh: number[];
  top: number;
  bottom: number;
  left: number;
  right: number;
};

function checkLetterbox(
  name: string,
  fn: LetterboxFn,
  orig: NpyArray,
  want: LbGeom,
  ref: NpyArray,
  newShape: number | number[],
  auto: boolean,
): CaseResult {
  const [h, w] = orig.shape;
  const shape = Array.isArray(newShape) ? [newShape[0], newShape[1]] as [number, number] : newShape;
  const r = fn({ data: orig.data as Uint8Array, height: h, width: w, channels: 3 }, {
    newShape: shape,
    auto,
    stride: 32,
    scaleup: true,
    center: true,
    padValue: 114,
  });
  const ratio = Array.isArray(r.ratio) ? r.ratio[0] : r.ratio;
  const geom = [r.image.height, r.image.width, r.top, r.bottom, r.left, r.right, ...r.newUnpadWh];
  const wantGeom = [...want.out_hw, want.top, want.bottom, want.left, want.right, ...want.new_unpad_wh];
  if (geom.join() !== wantGeom.join() || Math.abs(ratio - want.ratio) > 1e-9) {
    return { name, verdict: "FAIL", detail: `geometry [${geom}] ratio ${ratio} vs [${wantGeom}] ratio ${want.ratio}` };
  }
  const [oh, ow] = want.out_hw;
  const a = r.image.data, b = ref.data as Uint8Array;
  let padBad = 0, maxd = 0, ndiff = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const inside = y >= want.top && y < oh - want.bottom && x >= want.left && x < ow - want.right;
      for (let ch = 0; ch < 3; ch++) {
        const i = (y * ow + x) * 3 + ch;
        if (!inside) {
          if (a[i] !== 114) padBad++;
        } else {
          const d = Math.abs(a[i] - b[i]);
          if (d > 0) ndiff++;
          maxd = Math.max(maxd, d);
        }
      }
    }
  }
  const ok = padBad === 0 && maxd <= 1;
  return {
    name,
    verdict: ok ? "PASS" : "FAIL",
    detail: `geometry exact; pad pixels != 114: ${padBad}; resized max|d|=${maxd} (tol 1), ${
      (100 * ndiff / Math.max(1, (oh - want.top - want.bottom) * (ow - want.left - want.right) * 3)).toFixed(1)
    }% differ`,
  };
}

/** Letterbox each `orig_<b>.npy` as the case did and compare with the fed tensor (≤ 1/255 + 1e-7). */
async function preprocessCheck(root: string, name: string, c: ForwardCase, fn: LetterboxFn): Promise<CaseResult> {
  const dir = path.join(root, "forward", name);
  const label = `forward/${name}/preprocess`;
  const [b, ch, h, w] = c.input_shape;
  if (c.imgsz === undefined) return { name: label, verdict: "SKIP", detail: "cases.json has no imgsz" };
  const inputFile = path.join(dir, "input.npy");
  const input = (await exists(inputFile)) ? await readNpy(inputFile) : null;
  let worst = 0;
  for (let i = 0; i < b; i++) {
    const origFile = path.join(dir, `orig_${i}.npy`);
    if (!(await exists(origFile))) return { name: label, verdict: "SKIP", detail: `no orig_${i}.npy` };
    const orig = await readNpy(origFile);
    const r = fn({ data: orig.data as Uint8Array, height: orig.shape[0], width: orig.shape[1], channels: 3 }, {
      newShape: Array.isArray(c.imgsz) ? [c.imgsz[0], c.imgsz[1]] : c.imgsz,
      auto: c.letterbox_auto === true,
      stride: 32,
      scaleup: true,
      center: true,
      padValue: 114,
    });
    if (r.image.height !== h || r.image.width !== w) {
      return {
        name: label,
        verdict: "FAIL",
        detail: `image ${i}: letterbox gave ${r.image.height}x${r.image.width}, fed ${h}x${w}`,
      };
    }
    let ref: ArrayLike<number>;
    if (input) {
      const plane = h * w;
      const d = input.data as Float32Array;
      const hwc = new Float32Array(plane * ch);
      for (let k = 0; k < ch; k++) for (let p = 0; p < plane; p++) hwc[p * ch + k] = d[(i * ch + k) * plane + p];
      ref = hwc;
    } else {
      const u8 = await readNpy(path.join(dir, `letterboxed_u8_${i}.npy`));
      ref = Float32Array.from(u8.data as Uint8Array, (v) => v / 255);
    }
    for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(r.image.data[k] / 255 - ref[k]));
  }
  const tol = 1 / 255 + 1e-7;
  return { name: label, verdict: worst <= tol ? "PASS" : "FAIL", detail: `max|d|=${fmt(worst)} (tol ${fmt(tol)})` };
}

async function loadLetterbox(): Promise<{ fn: LetterboxFn | null; why: string }> {
  try {
    const mod = await import(new URL("../../lib/image/mod.ts", import.meta.url).href);
    if (typeof mod.letterbox === "function") return { fn: mod.letterbox, why: "" };
    return { fn: null, why: "lib/image/mod.ts has no letterbox()" };
  } catch (e) {
    return { fn: null, why: `lib/image/mod.ts not available (${(e as Error).message.split("\n")[0]})` };
  }
}

async function* letterboxCases(root: string): AsyncGenerator<CaseResult> {
  const dir = path.join(root, "forward");
  const sets: { file: string; folder: string }[] = [
    { file: path.join(dir, "letterbox_cases.json"), folder: dir },
    { file: path.join(dir, "letterbox_extra", "cases.json"), folder: path.join(dir, "letterbox_extra") },
  ];
  const { fn, why } = await loadLetterbox();
  for (const set of sets) {
    if (!(await exists(set.file))) continue;
    const cases = JSON.parse(await Deno.readTextFile(set.file)) as Record<string, Record<string, unknown>>;
    // letterbox_cases.json names files letterbox_<name>_*; letterbox_extra uses <name>_*.
    const stem = (n: string) => set.folder === dir ? `letterbox_${n}` : n;
    for (const [name, c] of Object.entries(cases)) {
      for (const [variant, g] of Object.entries(c)) {
        if (!g || typeof g !== "object" || !("out_hw" in (g as object))) continue;
        const label = `forward/letterbox/${name}_${variant}`;
        if (!fn) {
          yield { name: label, verdict: "SKIP", detail: why };
          continue;
        }
        const geom = g as LbGeom;
        const newShape = geom.new_shape ?? (c.imgsz as number);
        const auto = geom.auto ?? variant.startsWith("rect");
        try {
          const orig = await readNpy(path.join(set.folder, `${stem(name)}_orig.npy`));
          const ref = await readNpy(path.join(set.folder, `${stem(name)}_${variant}.npy`));
          yield checkLetterbox(label, fn, orig, geom, ref, newShape, auto);
        } catch (e) {
          yield { name: label, verdict: "FAIL", detail: `error: ${(e as Error).message}` };
        }
      }
    }
  }
}

/**
 * engine=ort: the project's ONNX export of the same checkpoint run by onnxruntime-node; compares what an ONNX graph
 * returns (eval `pred` and `proto`); per-layer and train-mode tensors are not outputs of the graph (SKIP).
 */
async function* forwardCaseOrt(
  root: string,
  name: string,
  c: ForwardCase,
  model: YoloSegModel,
): AsyncGenerator<CaseResult> {
  const dir = path.join(root, "forward", name);
  const prefix = `forward/${name}/ort`;
  const { exportYoloSegOnnx } = await import("../../lib/export/onnx.ts");
  const { OrtSegEngine, ortAvailable, ortLoadError } = await import("../../lib/engine/ort.ts");
  if (!(await ortAvailable())) {
    yield { name: prefix, verdict: "SKIP", detail: `onnxruntime-node unavailable (${ortLoadError()})` };
    return;
  }
  const x = await readInput(dir, c.input_shape);
  if (typeof x === "string") {
    yield { name: prefix, verdict: "FAIL", detail: x };
    return;
  }
  const [B, H, W] = x.shape;
  const input = (await x.data()) as Float32Array;
  x.dispose();
  const { bytes } = exportYoloSegOnnx(model.stateDict(), { imgsz: [H, W], dynamic: true });
  const eng = await OrtSegEngine.open(bytes, { nc: model.nc });
  try {
    const out = await eng.runArrays(input, B, H, W);
    // back to the reference layouts: pred [B, C, A], proto [B, nm, h, w]
    const pred = new Float32Array(out.pred.length);
    for (let b = 0; b < B; b++) {
      for (let a = 0; a < out.A; a++) {
        for (let k = 0; k < out.C; k++) pred[(b * out.C + k) * out.A + a] = out.pred[(b * out.A + a) * out.C + k];
      }
    }
    const rp = path.join(dir, "eval_pred.npy");
    if (await exists(rp)) {
      yield* comparePred(prefix, { data: pred, shape: [B, out.C, out.A] }, await readNpy(rp), model.nc);
    }
    const rpr = path.join(dir, "eval_proto.npy");
    if (await exists(rpr)) {
      const ref = await readNpy(rpr);
      const p0 = out.protos[0];
      const proto = new Float32Array(B * p0.c * p0.h * p0.w);
      out.protos.forEach((p, b) => {
        for (let i = 0; i < p.h * p.w; i++) {
          for (let k = 0; k < p.c; k++) proto[((b * p.c + k) * p.h * p.w) + i] = p.data[i * p.c + k];
        }
      });
      const shape = [B, p0.c, p0.h, p0.w];
      yield shapeFail(`${prefix}/eval_proto`, shape, ref.shape) ??
        scaled(`${prefix}/eval_proto`, proto, ref.data as Float32Array, 1e-3, 1e-5);
    }
    if (c.per_layer || c.train_mode) {
      yield { name: `${prefix}/layers+train`, verdict: "SKIP", detail: "not outputs of the ONNX graph (engine=tfjs)" };
    }
  } finally {
    await eng.dispose();
  }
}

export const category: ParityCategory = {
  folder: "forward",
  async *run(root, opts) {
    const casesFile = path.join(root, "forward", "cases.json");
    if (await exists(casesFile)) {
      const cases = JSON.parse(await Deno.readTextFile(casesFile)) as Record<string, ForwardCase>;
      const modelsFile = path.join(root, "yolo", "models.json");
      const models = (await exists(modelsFile))
        ? JSON.parse(await Deno.readTextFile(modelsFile)) as Record<string, ModelEntry>
        : {};
      const loaded = new Map<string, YoloSegModel>();
      try {
        for (const [name, c] of Object.entries(cases)) {
          let model = loaded.get(c.model);
          if (!model) {
            const entry = models[c.model];
            const ckpt = entry ? path.join(root, entry.checkpoint) : path.join(root, "yolo", `${c.model}.pt`);
            try {
              model = await loadYoloModel(ckpt, { verbose: false });
            } catch (e) {
              const dump = entry?.npy_dump ? path.join(root, entry.npy_dump) : null;
              if (!dump || !(await exists(dump))) {
                yield {
                  name: `forward/${name}`,
                  verdict: "FAIL",
                  detail: `cannot load ${ckpt}: ${(e as Error).message}`,
                };
                continue;
              }
              model = await loadYoloModel(dump, { verbose: false });
            }
            loaded.set(c.model, model);
          }
          if (opts.engine === "ort") yield* forwardCaseOrt(root, name, c, model);
          else yield* forwardCase(root, name, c, model);
          const lb = await loadLetterbox();
          if (lb.fn) yield await preprocessCheck(root, name, c, lb.fn);
          else yield { name: `forward/${name}/preprocess`, verdict: "SKIP", detail: lb.why };
        }
      } finally {
        for (const m of loaded.values()) m.dispose();
      }
    }
    yield* letterboxCases(root);
  },
};
