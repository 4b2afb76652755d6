/**
 * Parity category `postprocess/`: runs the project's NMS, mask and box-scaling code on the reference
 * `forward/<case>/eval_pred.npy` + `eval_proto.npy` and compares with every variant in `postprocess/cases.json`
 * (detections, mask logits, binary masks at proto/input/native resolution, native boxes), using the README's PASS
 * rules. Everything (sizes, nc, batch, file names) is derived from the files, so unseen fixture sets work.
 * When the model loader exists it also runs the project's forward pass + NMS end to end (skip with `e2e=0`).
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory, ParityOptions } from "./types.ts";
import { type NpyArray, readNpy } from "../../lib/io/npy.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import {
  type Detections,
  maskLogits,
  type NmsOptions,
  nonMaxSuppression,
  processMask,
  processMaskNative,
  type Proto,
  protoFromCHW,
  scaleBoxes,
  toAnchorMajor,
} from "../../lib/yolo/postprocess.ts";
import { exists } from "../../lib/util/fs.ts";

interface Variant {
  conf_thres: number;
  iou_thres: number;
  classes: number[] | null;
  agnostic: boolean;
  multi_label: boolean;
  max_det: number;
  nc: number;
  n_dets: number[];
  files?: Record<string, string>;
  mask_shapes?: Record<string, number[]>;
}

/** Shape of a .npy file from its header only. */
async function npyShape(file: string): Promise<number[] | null> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(file);
  } catch {
    return null;
  }
  try {
    const buf = new Uint8Array(4096);
    const n = (await f.read(buf)) ?? 0;
    const text = new TextDecoder().decode(buf.subarray(0, n));
    const m = /'shape':\s*\(([^)]*)\)/.exec(text);
    if (!m) return null;
    return m[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  } finally {
    f.close();
  }
}

/** numpy.packbits(axis=-1) → 0/1 bytes [n, H, W]. */
export function unpackBits(packed: Uint8Array, n: number, h: number, w: number): Uint8Array {
  const wb = Math.ceil(w / 8);
  const out = new Uint8Array(n * h * w);
  for (let i = 0; i < n * h; i++) {
    for (let x = 0; x < w; x++) out[i * w + x] = (packed[i * wb + (x >> 3)] >> (7 - (x & 7))) & 1;
  }
  return out;
}

function fmt(v: number): string {
  return v === 0 ? "0" : v.toExponential(1);
}

/** Max |a-b| over two equal-length arrays. */
function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Per-mask pixel disagreement (fraction of the reference area) and IoU; returns the worst values. */
function compareMasks(ours: Uint8Array, ref: Uint8Array, n: number, hw: number) {
  let worstDis = 0, worstIou = 1, pass = true;
  for (let i = 0; i < n; i++) {
    let inter = 0, uni = 0, dis = 0, area = 0;
    for (let p = i * hw; p < (i + 1) * hw; p++) {
      const a = ours[p], b = ref[p];
      if (a & b) inter++;
      if (a | b) uni++;
      if (a !== b) dis++;
      area += b;
    }
    const iou = uni === 0 ? 1 : inter / uni;
    const frac = area === 0 ? (dis === 0 ? 0 : Infinity) : dis / area;
    worstDis = Math.max(worstDis, frac);
    worstIou = Math.min(worstIou, iou);
    if (frac > 0.002 || iou < 0.99) pass = false;
  }
  return { pass, worstDis, worstIou };
}

/** Compare detections with a reference [n, 6+nm] array; returns verdict + detail. */
function compareDets(d: Detections, ref: NpyArray): { pass: boolean; detail: string } {
  const nRef = ref.shape[0];
  const cols = ref.shape[1];
  const r = ref.data as Float32Array;
  if (d.n !== nRef) return { pass: false, detail: `count ${d.n} vs ref ${nRef}` };
  let boxErr = 0, confErr = 0, coefErr = 0, clsBad = 0, orderBad = -1;
  for (let i = 0; i < nRef; i++) {
    for (let k = 0; k < 4; k++) boxErr = Math.max(boxErr, Math.abs(d.boxes[i * 4 + k] - r[i * cols + k]));
    confErr = Math.max(confErr, Math.abs(d.conf[i] - r[i * cols + 4]));
    if (d.cls[i] !== r[i * cols + 5]) clsBad++;
    for (let k = 0; k < cols - 6; k++) {
      coefErr = Math.max(coefErr, Math.abs(d.coefs[i * d.nm + k] - r[i * cols + 6 + k]));
    }
    if (orderBad < 0 && (boxErr > 1e-3 || confErr > 1e-6)) orderBad = i;
  }
  const pass = clsBad === 0 && boxErr <= 1e-3 && confErr <= 1e-6 && coefErr <= 1e-5 && d.nm === cols - 6;
  const detail = `n=${nRef} box=${fmt(boxErr)}px conf=${fmt(confErr)} coef=${fmt(coefErr)} cls_mismatch=${clsBad}` +
    (orderBad >= 0 ? ` first_bad_row=${orderBad}` : "");
  return { pass, detail };
}

function nmsOptions(v: Variant): NmsOptions {
  return {
    conf: v.conf_thres,
    iou: v.iou_thres,
    nc: v.nc,
    classes: v.classes,
    agnostic: v.agnostic,
    multiLabel: v.multi_label,
    maxDet: v.max_det,
  };
}

interface CaseInputs {
  B: number;
  A: number;
  /** [B, A, C] anchor-major */
  pred: Float32Array;
  protos: Proto[];
  inputHW: [number, number];
  origHW: ([number, number] | null)[];
}

async function loadInputs(root: string, caseName: string): Promise<CaseInputs> {
  const fdir = path.join(root, "forward", caseName);
  const p = await readNpy(path.join(fdir, "eval_pred.npy"));
  const [B, C, A] = p.shape;
  const pred = toAnchorMajor(p.data as Float32Array, B, C, A);
  // prototypes are optional (a detection-only fixture set has none; mask checks are then skipped)
  const protos: Proto[] = [];
  let inputHW: [number, number] = [0, 0];
  const protoFile = path.join(fdir, "eval_proto.npy");
  if (await exists(protoFile)) {
    const pr = await readNpy(protoFile);
    const [, nm, mh, mw] = pr.shape;
    for (let b = 0; b < B; b++) {
      const chw = (pr.data as Float32Array).subarray(b * nm * mh * mw, (b + 1) * nm * mh * mw);
      protos.push(protoFromCHW(chw, nm, mh, mw));
    }
    inputHW = [mh * 4, mw * 4];
  }
  const inShape = (await npyShape(path.join(fdir, "input.npy"))) ??
    (await npyShape(path.join(fdir, "letterboxed_u8_0.npy")));
  if (inShape) inputHW = inShape.length === 4 ? [inShape[2], inShape[3]] : [inShape[0], inShape[1]];
  const origHW: ([number, number] | null)[] = [];
  for (let b = 0; b < B; b++) {
    const s = await npyShape(path.join(fdir, `orig_${b}.npy`));
    origHW.push(s ? [s[0], s[1]] : null);
  }
  return { B, A, pred, protos, inputHW, origHW };
}

async function* runCase(
  root: string,
  caseName: string,
  variants: Variant[],
): AsyncGenerator<CaseResult> {
  const ppdir = path.join(root, "postprocess", caseName);
  const inp = await loadInputs(root, caseName);
  const C = inp.pred.length / (inp.B * inp.A);
  for (let k = 0; k < variants.length; k++) {
    const v = variants[k];
    for (let b = 0; b < inp.B; b++) {
      const name = `postprocess/${caseName}/nms${k}_${b}`;
      const refFile = path.join(ppdir, `nms${k}_dets_${b}.npy`);
      if (!(await exists(refFile))) {
        yield { name, verdict: "SKIP", detail: `no ${path.basename(refFile)}` };
        continue;
      }
      const t0 = performance.now();
      const slice = inp.pred.subarray(b * inp.A * C, (b + 1) * inp.A * C);
      const dets = nonMaxSuppression(slice, inp.A, nmsOptions(v));
      const ms = performance.now() - t0;
      const ref = await readNpy(refFile);
      const c = compareDets(dets, ref);
      yield { name, verdict: c.pass ? "PASS" : "FAIL", detail: `${c.detail} (${ms.toFixed(1)} ms)` };
      if (!c.pass) continue;
      yield* maskChecks(ppdir, `${name}`, k, b, v, dets, inp, ref);
    }
  }
}

async function* maskChecks(
  ppdir: string,
  name: string,
  k: number,
  b: number,
  v: Variant,
  dets: Detections,
  inp: CaseInputs,
  refDets: NpyArray,
): AsyncGenerator<CaseResult> {
  const proto = inp.protos[b];
  if (!proto) return;
  // reference masks were made from the reference boxes/coefs: feed those, so mask checks are independent of NMS
  const cols = refDets.shape[1];
  const r = refDets.data as Float32Array;
  const logitsFile = path.join(ppdir, `nms${k}_mask_logits_proto_${b}.npy`);
  if (!(await exists(logitsFile))) return;
  const refLogits = await readNpy(logitsFile);
  const m = refLogits.shape[0];
  const boxes = new Float32Array(m * 4), coefs = new Float32Array(m * dets.nm);
  for (let i = 0; i < m; i++) {
    for (let q = 0; q < 4; q++) boxes[i * 4 + q] = r[i * cols + q];
    for (let q = 0; q < dets.nm; q++) coefs[i * dets.nm + q] = r[i * cols + 6 + q];
  }
  const t0 = performance.now();
  const logits = maskLogits(proto, coefs, m);
  const tl = performance.now() - t0;
  const rl = refLogits.data as Float32Array;
  let scale = 1;
  for (let i = 0; i < rl.length; i++) scale = Math.max(scale, Math.abs(rl[i]));
  const le = maxAbs(logits, rl);
  yield {
    name: `${name}/mask_logits`,
    verdict: le <= 1e-4 * scale ? "PASS" : "FAIL",
    detail: `m=${m} maxabs=${fmt(le)} (tol ${fmt(1e-4 * scale)}) ${tl.toFixed(1)} ms`,
  };
  const shapes = v.mask_shapes ?? {};
  const kinds: [string, string][] = [["proto", "masks_proto"], ["input", "masks_input"], ["native", "masks_native"]];
  let nativeBoxes: Float32Array | null = null;
  const orig = inp.origHW[b] ?? (shapes[`native_${b}`] ? [shapes[`native_${b}`][1], shapes[`native_${b}`][2]] : null);
  const nbFile = path.join(ppdir, `nms${k}_boxes_native_${b}.npy`);
  if (orig && (await exists(nbFile))) {
    const t1 = performance.now();
    nativeBoxes = scaleBoxes(inp.inputHW, boxes, orig as [number, number]);
    const tb = performance.now() - t1;
    const refNb = await readNpy(nbFile);
    const e = maxAbs(nativeBoxes, refNb.data as Float32Array);
    yield {
      name: `${name}/boxes_native`,
      verdict: e <= 1e-3 && refNb.shape[0] === m ? "PASS" : "FAIL",
      detail: `maxabs=${fmt(e)}px (tol 1e-3) ${tb.toFixed(2)} ms`,
    };
  }
  for (const [kind, stem] of kinds) {
    const file = path.join(ppdir, `nms${k}_${stem}_packbits_${b}.npy`);
    if (!(await exists(file))) continue;
    const packed = await readNpy(file);
    const sh = shapes[`${kind}_${b}`];
    let H: number, W: number;
    if (sh) [, H, W] = sh;
    else if (kind === "proto") [H, W] = [proto.h, proto.w];
    else if (kind === "input") [H, W] = inp.inputHW;
    else if (orig) [H, W] = orig as [number, number];
    else {
      yield { name: `${name}/${stem}`, verdict: "SKIP", detail: "original size unknown" };
      continue;
    }
    const ref = unpackBits(packed.data as Uint8Array, m, H, W);
    const t1 = performance.now();
    let ours: Uint8Array;
    if (kind === "proto") ours = processMask(proto, coefs, boxes, m, inp.inputHW, false);
    else if (kind === "input") ours = processMask(proto, coefs, boxes, m, inp.inputHW, true);
    else {
      const nb = nativeBoxes ?? scaleBoxes(inp.inputHW, boxes, [H, W]);
      ours = processMaskNative(proto, coefs, nb, m, [H, W]);
    }
    const tm = performance.now() - t1;
    const c = compareMasks(ours, ref, m, H * W);
    yield {
      name: `${name}/${stem}`,
      verdict: c.pass ? "PASS" : "FAIL",
      detail: `[${m},${H},${W}] worst disagreement=${(c.worstDis * 100).toFixed(3)}% of area (tol 0.2%), ` +
        `worst IoU=${c.worstIou.toFixed(5)} (tol 0.99) ${tm.toFixed(1)} ms`,
    };
  }
}

/** Optional end to end: project forward (if `lib/yolo/load.ts` exists) + project NMS vs the reference dets. */
async function* runEndToEnd(
  root: string,
  caseName: string,
  variants: Variant[],
  engine: string,
): AsyncGenerator<CaseResult> {
  const loadUrl = new URL("../../lib/yolo/load.ts", import.meta.url);
  const name = `postprocess/${caseName}/e2e`;
  if (!(await exists(loadUrl.pathname))) {
    yield { name, verdict: "SKIP", detail: "lib/yolo/load.ts not present" };
    return;
  }
  const fwd = JSON.parse(await Deno.readTextFile(path.join(root, "forward", "cases.json")))[caseName];
  const ckpt = path.join(root, "yolo", `${fwd?.model}.pt`);
  if (!fwd || !(await exists(ckpt))) {
    yield { name, verdict: "SKIP", detail: `no checkpoint for ${caseName}` };
    return;
  }
  await initBackend(); // idempotent; the parity tool has usually done it already
  const { runForwardArrays } = await import("../../lib/yolo/predict.ts");
  const fdir = path.join(root, "forward", caseName);
  const inputFile = path.join(fdir, "input.npy");
  let input: Float32Array, B: number, H: number, W: number;
  if (await exists(inputFile)) {
    const a = await readNpy(inputFile);
    [B, , H, W] = a.shape;
    input = chwToHwc(a.data as Float32Array, B, H, W);
  } else {
    const parts: Uint8Array[] = [];
    let b = 0;
    H = 0, W = 0;
    while (await exists(path.join(fdir, `letterboxed_u8_${b}.npy`))) {
      const a = await readNpy(path.join(fdir, `letterboxed_u8_${b}.npy`));
      [H, W] = a.shape;
      parts.push(a.data as Uint8Array);
      b++;
    }
    B = b;
    input = new Float32Array(B * H * W * 3);
    parts.forEach((p, i) => {
      for (let q = 0; q < p.length; q++) input[i * p.length + q] = p[q] / 255;
    });
  }
  const { loadYoloModel } = await import(loadUrl.href);
  const model = await loadYoloModel(ckpt);
  let out;
  if (engine === "ort") {
    // the project's ONNX export of the same checkpoint, run by onnxruntime-node
    const { exportYoloSegOnnx } = await import("../../lib/export/onnx.ts");
    const { OrtSegEngine } = await import("../../lib/engine/ort.ts");
    const { bytes } = exportYoloSegOnnx(model.stateDict(), { imgsz: [H, W], dynamic: true });
    const ort = await OrtSegEngine.open(bytes, { nc: model.nc });
    out = await ort.runArrays(input, B, H, W);
    await ort.dispose();
  } else out = await runForwardArrays(model, input, B, H, W);
  for (let k = 0; k < variants.length; k++) {
    for (let b = 0; b < B; b++) {
      const refFile = path.join(root, "postprocess", caseName, `nms${k}_dets_${b}.npy`);
      if (!(await exists(refFile))) continue;
      const ref = await readNpy(refFile);
      const slice = out.pred.subarray(b * out.A * out.C, (b + 1) * out.A * out.C);
      const d = nonMaxSuppression(slice, out.A, nmsOptions(variants[k]));
      yield e2eCompare(`${name}/nms${k}_${b}`, d, ref, variants[k]);
    }
  }
  model.dispose?.();
}

function chwToHwc(x: Float32Array, B: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = H * W;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < hw; p++) out[(b * hw + p) * 3 + c] = x[(b * 3 + c) * hw + p];
    }
  }
  return out;
}

interface Row {
  box: ArrayLike<number>;
  conf: number;
  cls: number;
}

function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return u > 0 ? inter / u : 0;
}

/**
 * End-to-end comparison (README tolerances): detections are matched by class and box (<= 0.1 px); matched ones must
 * agree within 0.1 px / 3e-4. A detection present on one side only is legitimate when its score is within 3e-4 of
 * conf_thres or of the max_det cut, or when a same-class overlapping competitor has a score within 3e-4 or an IoU
 * within 1e-4 of iou_thres (NMS decided by float noise): those are reported, not failed.
 */
function e2eCompare(name: string, d: Detections, ref: NpyArray, v: Variant): CaseResult {
  const cols = ref.shape[1];
  const r = ref.data as Float32Array;
  const refRows: Row[] = [];
  for (let i = 0; i < ref.shape[0]; i++) {
    refRows.push({ box: r.subarray(i * cols, i * cols + 4), conf: r[i * cols + 4], cls: r[i * cols + 5] });
  }
  const ours: Row[] = [];
  for (let i = 0; i < d.n; i++) ours.push({ box: d.boxes.subarray(i * 4, i * 4 + 4), conf: d.conf[i], cls: d.cls[i] });
  const used = new Uint8Array(ours.length);
  let boxErr = 0, confErr = 0, orderSwaps = 0;
  const onlyRef: Row[] = [];
  refRows.forEach((g, gi) => {
    let best = -1, bestErr = Infinity;
    for (let i = 0; i < ours.length; i++) {
      if (used[i] || ours[i].cls !== g.cls) continue;
      const e = maxAbs(ours[i].box, g.box);
      if (e < bestErr) best = i, bestErr = e;
    }
    if (best < 0 || bestErr > 0.1) {
      onlyRef.push(g);
      return;
    }
    used[best] = 1;
    if (best !== gi) orderSwaps++;
    boxErr = Math.max(boxErr, bestErr);
    confErr = Math.max(confErr, Math.abs(ours[best].conf - g.conf));
  });
  const onlyOurs = ours.filter((_, i) => !used[i]);
  const all = [...refRows, ...ours];
  const cut = Math.min(
    refRows.length ? refRows[refRows.length - 1].conf : 1,
    ours.length ? ours[ours.length - 1].conf : 1,
  );
  const atCut = refRows.length >= v.max_det || ours.length >= v.max_det;
  const near = (x: Row) =>
    Math.abs(x.conf - v.conf_thres) <= 3e-4 || (atCut && Math.abs(x.conf - cut) <= 3e-4) ||
    all.some((y) => {
      if (y === x || y.cls !== x.cls) return false;
      const iou = boxIou(x.box, y.box);
      return Math.abs(iou - v.iou_thres) <= 1e-4 || (iou > v.iou_thres - 1e-4 && Math.abs(y.conf - x.conf) <= 3e-4);
    });
  const unexplained = [...onlyRef, ...onlyOurs].filter((x) => !near(x)).length;
  const nearCount = onlyRef.length + onlyOurs.length - unexplained;
  const ok = unexplained === 0 && boxErr <= 0.1 && confErr <= 3e-4;
  const detail = `n=${d.n} ref=${refRows.length} matched=${refRows.length - onlyRef.length} box=${fmt(boxErr)}px ` +
    `conf=${fmt(confErr)} (tol 0.1px, 3e-4)` + (orderSwaps ? ` reordered=${orderSwaps}` : "") +
    (nearCount ? ` near-threshold differences=${nearCount} (reported)` : "") +
    (unexplained ? ` UNEXPLAINED=${unexplained}` : "");
  return { name, verdict: ok ? "PASS" : "FAIL", detail };
}

export const category: ParityCategory = {
  folder: "postprocess",
  async *run(root: string, opts: ParityOptions): AsyncIterable<CaseResult> {
    const casesFile = path.join(root, "postprocess", "cases.json");
    const cases = JSON.parse(await Deno.readTextFile(casesFile)) as Record<string, Variant[]>;
    for (const [caseName, variants] of Object.entries(cases)) {
      if (!(await exists(path.join(root, "forward", caseName, "eval_pred.npy")))) {
        yield { name: `postprocess/${caseName}`, verdict: "SKIP", detail: "no forward/<case>/eval_pred.npy" };
        continue;
      }
      yield* runCase(root, caseName, variants);
      if (opts.extra.e2e === "0") continue;
      if (opts.engine !== "tfjs" && opts.engine !== "ort") {
        yield { name: `postprocess/${caseName}/e2e`, verdict: "SKIP", detail: `unknown engine ${opts.engine}` };
      } else yield* runEndToEnd(root, caseName, variants, opts.engine);
    }
  },
};
