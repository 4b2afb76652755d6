/**
 * The segmentation validator, as ultralytics 8.2 `SegmentationValidator`: a dataset split in rect batches, model
 * forward (or an external engine), NMS (multi-label, conf 0.001, iou 0.7), box and mask matching at IoU
 * 0.50:0.05:0.95 (masks at proto resolution against the overlap GT maps, and/or at native image resolution), AP per
 * class, the printed table, and per-image scores for error analysis. `validate()` is what the CLI and the trainer call.
 */
import { type ForwardArrays, runForwardArrays, type SegModel } from "../yolo/predict.ts";
import { type Detections, nonMaxSuppression, processMask, type Proto, scaleBoxes } from "../yolo/postprocess.ts";
import { rasterizePolygons } from "../data/mask.ts";
import { type Sample, YoloSegDataset } from "../dataset/yolo_dataset.ts";
import { boxIou, maskIou, type MaskStack } from "./iou.ts";
import { IOU_THRESHOLDS, matchPredictions } from "./match.ts";
import { type ApPerClass, apPerClass, classResult, type MetricSummary, summarize } from "./ap.ts";

const f32 = Math.fround;

/** Runs the network on a batch: x [B, H, W, 3] HWC float 0..1 → raw pred [B, A, C] and per-image prototypes. */
export type ValEngine = (x: Float32Array, B: number, H: number, W: number) => Promise<ForwardArrays>;

/** Mask resolution for matching: ultralytics' proto resolution (parity), native image resolution, or both. */
export type MaskMode = "proto" | "native" | "both";

/** Options of `validate` (ultralytics names in camelCase). */
export interface ValOptions {
  split?: "train" | "val" | "test";
  imgsz?: number;
  batch?: number;
  rect?: boolean;
  conf?: number;
  iou?: number;
  maxDet?: number;
  /** default "proto" */
  masks?: MaskMode;
  /** model class ids to keep after NMS; kept class `classes[i]` is scored as dataset class i. Default: identity */
  classes?: number[] | null;
  /** replaces the model's forward (e.g. an ONNX runtime session) */
  engine?: ValEngine;
  /** print the table (default true) */
  verbose?: boolean;
  /** called after each batch with (images done, total) */
  onProgress?: (done: number, total: number) => void;
  /** confidence of predictions counted in per-image error scores (default 0.25) */
  scoreConf?: number;
}

/** One row of the per-class table. */
export interface ClassRow {
  cls: number;
  name: string;
  images: number;
  instances: number;
  box: Omit<MetricSummary, "fitness">;
  mask: Omit<MetricSummary, "fitness">;
  maskNative?: Omit<MetricSummary, "fitness">;
}

/** Per-image record for error analysis (worst-image gallery). */
export interface ImageScore {
  imageFile: string;
  nGt: number;
  /** predictions with conf ≥ scoreConf */
  nPred: number;
  /** mean over GT instances of the best same-class mask IoU among those predictions (1 when no GT and no pred) */
  maskScore: number;
  /** the resolution maskScore was measured at */
  resolution: "proto" | "native";
}

/** Everything a validation run measures. */
export interface ValResult {
  box: MetricSummary;
  mask: MetricSummary;
  /** native-resolution mask metrics (masks = native or both) */
  maskNative?: MetricSummary;
  /** ultralytics fitness: box fitness + mask fitness (mask at proto resolution, or native when only native ran) */
  fitness: number;
  perClass: ClassRow[];
  images: number;
  instances: number;
  /** ms per image */
  speed: { preprocess: number; inference: number; postprocess: number };
  /** raw `apPerClass` outputs (curves for plots) */
  curves: { box: ApPerClass | null; mask: ApPerClass | null; maskNative: ApPerClass | null };
  perImage: ImageScore[];
  names: string[];
  settings: Record<string, unknown>;
}

interface Stats {
  tp: number[];
  tpM: number[];
  tpN: number[];
  conf: number[];
  cls: number[];
  target: number[];
}

/** GT boxes of a sample in original-image pixels (xyxy), as `_prepare_batch`. */
function gtBoxesNative(s: Sample): Float32Array {
  const n = s.cls.length, H = s.img.height, W = s.img.width;
  const xyxy = new Float32Array(n * 4);
  for (let k = 0; k < n; k++) {
    const [cx, cy, w, h] = s.bboxes.subarray(k * 4, k * 4 + 4);
    xyxy[k * 4] = f32(f32(cx - f32(w / 2)) * W);
    xyxy[k * 4 + 1] = f32(f32(cy - f32(h / 2)) * H);
    xyxy[k * 4 + 2] = f32(f32(cx + f32(w / 2)) * W);
    xyxy[k * 4 + 3] = f32(f32(cy + f32(h / 2)) * H);
  }
  return scaleBoxes([H, W], xyxy, s.oriHW, [[s.ratioPad[0][0], s.ratioPad[0][0]], s.ratioPad[1]]);
}

/**
 * Masks at the original image resolution with the exact letterbox geometry (unlike ultralytics'
 * `process_mask_native`, which assumes a minimal letterbox and misplaces masks under rect-batch padding): each
 * original pixel centre maps to input pixels via `ratioPad` (gain, left/top padding), then to proto pixels; the
 * logits are sampled bilinearly (align_corners=False, edge-clamped), cropped to the box (crop_mask rule) and > 0.
 * `boxes` [n, 4] xyxy original pixels, `coefs` [n, nm]. Returns Uint8Array [n, oh, ow].
 */
export function nativeMasks(
  proto: Proto,
  coefs: Float32Array,
  boxes: Float32Array,
  n: number,
  origHW: readonly [number, number],
  inputHW: readonly [number, number],
  ratioPad: readonly [readonly [number, number], readonly [number, number]],
): Uint8Array {
  const [oh, ow] = origHW, { h: mh, w: mw, c: nm, data } = proto;
  const sx = mw / inputHW[1], sy = mh / inputHW[0];
  const gain = ratioPad[0][0], [padX, padY] = ratioPad[1];
  const out = new Uint8Array(n * oh * ow);
  // source proto taps per output column / row
  const taps = (size: number, count: number, s: number, pad: number) => {
    const i0 = new Int32Array(count), i1 = new Int32Array(count), f = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      let u = ((k + 0.5) * gain + pad) * s - 0.5;
      if (u < 0) u = 0;
      const a = Math.min(Math.floor(u), size - 1);
      i0[k] = a;
      i1[k] = Math.min(a + 1, size - 1);
      f[k] = Math.min(u - a, 1);
    }
    return { i0, i1, f };
  };
  const tx = taps(mw, ow, sx, padX), ty = taps(mh, oh, sy, padY);
  const logits = new Float32Array(mh * mw);
  for (let i = 0; i < n; i++) {
    const xa = Math.max(0, Math.ceil(boxes[i * 4])), xb = Math.min(ow, Math.ceil(boxes[i * 4 + 2]));
    const ya = Math.max(0, Math.ceil(boxes[i * 4 + 1])), yb = Math.min(oh, Math.ceil(boxes[i * 4 + 3]));
    if (xb <= xa || yb <= ya) continue;
    // logits of the proto pixels this box reads
    const r0 = ty.i0[ya], r1 = ty.i1[yb - 1], c0 = tx.i0[xa], c1 = tx.i1[xb - 1];
    const co = i * nm;
    for (let y = r0; y <= r1; y++) {
      for (let x = c0; x <= c1; x++) {
        const q = (y * mw + x) * nm;
        let s = 0;
        for (let k = 0; k < nm; k++) s += coefs[co + k] * data[q + k];
        logits[y * mw + x] = s;
      }
    }
    const m = out.subarray(i * oh * ow, (i + 1) * oh * ow);
    for (let y = ya; y < yb; y++) {
      const a0 = ty.i0[y] * mw, a1 = ty.i1[y] * mw, fy = ty.f[y], gy = 1 - fy;
      const row = y * ow;
      for (let x = xa; x < xb; x++) {
        const u0 = tx.i0[x], u1 = tx.i1[x], fx = tx.f[x], gx = 1 - fx;
        const v = (logits[a0 + u0] * gx + logits[a0 + u1] * fx) * gy +
          (logits[a1 + u0] * gx + logits[a1 + u1] * fx) * fy;
        if (v > 0) m[row + x] = 1;
      }
    }
  }
  return out;
}

/** Bilinear resize (align_corners=False, edge-clamped) of 0/1 masks [n, h, w] → [n, oh, ow], kept where > 0.5. */
function resizeMasksGt05(m: MaskStack, oh: number, ow: number): MaskStack {
  const taps = (inS: number, outS: number) => {
    const i0 = new Int32Array(outS), i1 = new Int32Array(outS), f = new Float32Array(outS);
    const sc = inS / outS;
    for (let k = 0; k < outS; k++) {
      const u = Math.max((k + 0.5) * sc - 0.5, 0);
      i0[k] = Math.min(Math.floor(u), inS - 1);
      i1[k] = Math.min(i0[k] + 1, inS - 1);
      f[k] = u - i0[k];
    }
    return { i0, i1, f };
  };
  const ty = taps(m.h, oh), tx = taps(m.w, ow);
  const out = new Uint8Array(m.n * oh * ow);
  for (let n = 0; n < m.n; n++) {
    const b = n * m.h * m.w;
    for (let y = 0; y < oh; y++) {
      const r0 = b + ty.i0[y] * m.w, r1 = b + ty.i1[y] * m.w, fy = ty.f[y];
      for (let x = 0; x < ow; x++) {
        const c0 = tx.i0[x], c1 = tx.i1[x], fx = tx.f[x];
        const top = m.data[r0 + c0] * (1 - fx) + m.data[r0 + c1] * fx;
        const bot = m.data[r1 + c0] * (1 - fx) + m.data[r1 + c1] * fx;
        if (top * (1 - fy) + bot * fy > 0.5) out[(n * oh + y) * ow + x] = 1;
      }
    }
  }
  return { n: m.n, h: oh, w: ow, data: out };
}

/**
 * GT masks of a sample as the validator compares them with proto-resolution predictions: the overlap index map
 * split into one 0/1 mask per instance (or the per-instance masks as they are), resized bilinearly and kept > 0.5
 * when the mask size differs from the prototypes (mask_ratio ≠ 4), as `SegmentationValidator._process_batch`.
 */
function gtProtoMasks(s: Sample, nl: number, overlap: boolean, ph: number, pw: number): MaskStack {
  const [mh, mw] = s.maskHW;
  let gt: MaskStack;
  if (overlap) {
    gt = { n: nl, h: mh, w: mw, data: new Uint8Array(nl * mh * mw) };
    const map = s.masks;
    for (let i = 0; i < mh * mw; i++) if (map[i]) gt.data[(map[i] - 1) * mh * mw + i] = 1;
  } else gt = { n: nl, h: mh, w: mw, data: s.masks as Uint8Array };
  return mh === ph && mw === pw ? gt : resizeMasksGt05(gt, ph, pw);
}

/** Keep detections of the listed model classes and renumber them to their position in the list. */
function mapClasses(det: Detections, classes: number[]): Detections {
  const keep: number[] = [];
  for (let i = 0; i < det.n; i++) if (classes.includes(det.cls[i])) keep.push(i);
  const nm = det.nm;
  return {
    n: keep.length,
    boxes: Float32Array.from(keep.flatMap((i) => Array.from(det.boxes.subarray(i * 4, i * 4 + 4)))),
    conf: Float32Array.from(keep, (i) => det.conf[i]),
    cls: Int32Array.from(keep, (i) => classes.indexOf(det.cls[i])),
    nm,
    coefs: Float32Array.from(keep.flatMap((i) => Array.from(det.coefs.subarray(i * nm, (i + 1) * nm)))),
  };
}

/** Subset of detections (indices) as flat arrays. */
function subset(det: Detections, idx: number[]): { boxes: Float32Array; coefs: Float32Array } {
  const nm = det.nm;
  const boxes = new Float32Array(idx.length * 4), coefs = new Float32Array(idx.length * nm);
  idx.forEach((i, k) => {
    boxes.set(det.boxes.subarray(i * 4, i * 4 + 4), k * 4);
    coefs.set(det.coefs.subarray(i * nm, (i + 1) * nm), k * nm);
  });
  return { boxes, coefs };
}

/** Match masks of the detections `idx` (the others stay IoU 0) against GT masks → IoU [nGt, nPred]. */
function maskIouSubset(
  gt: MaskStack,
  pred: MaskStack,
  idx: number[],
  gtCls: Int32Array,
  predCls: Int32Array,
  nPred: number,
) {
  const sub = maskIou(gt, pred, (g, j) => gtCls[g] === predCls[idx[j]]);
  const full = new Float32Array(gt.n * nPred);
  for (let g = 0; g < gt.n; g++) {
    for (let j = 0; j < idx.length; j++) full[g * nPred + idx[j]] = sub[g * idx.length + j];
  }
  return full;
}

/** Per-image error score: mean best same-class IoU per GT among confident predictions. */
function imageScore(
  iou: Float32Array,
  gtCls: Int32Array,
  det: Detections,
  minConf: number,
): { score: number; nPred: number } {
  const nG = gtCls.length, nP = det.n;
  let nPred = 0;
  for (let j = 0; j < nP; j++) if (det.conf[j] >= minConf) nPred++;
  if (nG === 0) return { score: nPred === 0 ? 1 : 0, nPred };
  let sum = 0;
  for (let g = 0; g < nG; g++) {
    let best = 0;
    for (let j = 0; j < nP; j++) {
      if (det.conf[j] >= minConf && det.cls[j] === gtCls[g]) best = Math.max(best, iou[g * nP + j]);
    }
    sum += best;
  }
  return { score: sum / nG, nPred };
}

/**
 * Validate a model on a dataset split. `model` supplies nc/names and the forward unless `opts.engine` is given;
 * `data` is a dataset YAML path or an opened `YoloSegDataset` (its imgsz/batch/rect then win).
 */
export async function validate(
  model: SegModel,
  data: string | YoloSegDataset,
  opts: ValOptions = {},
): Promise<ValResult> {
  const imgsz = opts.imgsz ?? 640, batch = opts.batch ?? 4;
  const ds = typeof data === "string"
    ? await YoloSegDataset.open(data, opts.split ?? "val", { imgsz, batch, rect: opts.rect ?? true })
    : data;
  const mode = opts.masks ?? "proto";
  const doProto = mode !== "native", doNative = mode !== "proto";
  const engine: ValEngine = opts.engine ?? ((x, B, H, W) => runForwardArrays(model, x, B, H, W));
  const nT = IOU_THRESHOLDS.length, minConf = opts.scoreConf ?? 0.25;
  const st: Stats = { tp: [], tpM: [], tpN: [], conf: [], cls: [], target: [] };
  const imagesWith = new Map<number, number>();
  const perImage: ImageScore[] = [];
  const time = { preprocess: 0, inference: 0, postprocess: 0 };
  let seen = 0;
  for (const idxs of ds.batches()) {
    const t0 = performance.now();
    const samples = await Promise.all(idxs.map((i) => ds.getItem(i)));
    const H = samples[0].img.height, W = samples[0].img.width;
    const x = new Float32Array(samples.length * H * W * 3);
    samples.forEach((s, b) => {
      if (s.img.height !== H || s.img.width !== W) throw new Error("validate: images of one batch differ in size");
      const d = s.img.data, o = b * H * W * 3;
      for (let i = 0; i < d.length; i++) x[o + i] = d[i] / 255;
    });
    const t1 = performance.now();
    const fw = await engine(x, samples.length, H, W);
    const t2 = performance.now();
    for (let b = 0; b < samples.length; b++) {
      const s = samples[b];
      seen++;
      let det = nonMaxSuppression(fw.pred.subarray(b * fw.A * fw.C, (b + 1) * fw.A * fw.C), fw.A, {
        conf: opts.conf ?? 0.001,
        iou: opts.iou ?? 0.7,
        nc: model.nc,
        multiLabel: true,
        maxDet: opts.maxDet ?? 300,
      });
      if (opts.classes && opts.classes.length) det = mapClasses(det, opts.classes);
      const gtCls = s.cls, nl = gtCls.length, npr = det.n;
      for (const c of new Set(gtCls)) imagesWith.set(c, (imagesWith.get(c) ?? 0) + 1);
      const blank: Uint8Array = new Uint8Array(npr * nT);
      let tp = blank, tpM = blank, tpN = blank;
      let scoreIou: Float32Array | null = null, resolution: "proto" | "native" = doNative ? "native" : "proto";
      if (npr > 0 && nl > 0) {
        const predBoxes = scaleBoxes([H, W], det.boxes, s.oriHW, [[s.ratioPad[0][0], s.ratioPad[0][0]], s.ratioPad[1]]);
        tp = matchPredictions(det.cls, gtCls, boxIou(gtBoxesNative(s), predBoxes));
        // masks of detections whose class occurs in the GT (the others match nothing)
        const gtSet = new Set(gtCls);
        const idx = Array.from({ length: npr }, (_, i) => i).filter((i) => gtSet.has(det.cls[i]));
        const sub = subset(det, idx);
        if (doProto) {
          const proto = fw.protos[b];
          const gt = gtProtoMasks(s, nl, ds.opts.overlapMask, proto.h, proto.w);
          const [mh, mw] = [proto.h, proto.w];
          const pm = processMask(proto, sub.coefs, sub.boxes, idx.length, [H, W], false);
          const iou = maskIouSubset(gt, { n: idx.length, h: mh, w: mw, data: pm }, idx, gtCls, det.cls, npr);
          tpM = matchPredictions(det.cls, gtCls, iou);
          scoreIou = iou;
        }
        if (doNative) {
          const [oh, ow] = s.oriHW;
          const gt: MaskStack = { n: nl, h: oh, w: ow, data: new Uint8Array(nl * oh * ow) };
          s.polygons.forEach((p, k) => {
            const px = Float32Array.from(p, (v, j) => f32(v * (j % 2 ? oh : ow)));
            gt.data.set(rasterizePolygons([px], oh, ow, 1), k * oh * ow);
          });
          const nb = subset({ ...det, boxes: predBoxes }, idx).boxes;
          const pm = nativeMasks(fw.protos[b], sub.coefs, nb, idx.length, s.oriHW, [H, W], s.ratioPad);
          const iou = maskIouSubset(gt, { n: idx.length, h: oh, w: ow, data: pm }, idx, gtCls, det.cls, npr);
          tpN = matchPredictions(det.cls, gtCls, iou);
          scoreIou = iou;
          resolution = "native";
        }
      }
      const sc = scoreIou
        ? imageScore(scoreIou, gtCls, det, minConf)
        : imageScore(new Float32Array(0), gtCls, det, minConf);
      perImage.push({ imageFile: s.imageFile, nGt: nl, nPred: sc.nPred, maskScore: sc.score, resolution });
      if (npr === 0 && nl === 0) continue;
      for (let k = 0; k < npr * nT; k++) {
        st.tp.push(tp[k]);
        st.tpM.push(tpM[k]);
        st.tpN.push(tpN[k]);
      }
      for (let i = 0; i < npr; i++) {
        st.conf.push(det.conf[i]);
        st.cls.push(det.cls[i]);
      }
      for (const c of gtCls) st.target.push(c);
    }
    const t3 = performance.now();
    time.preprocess += t1 - t0;
    time.inference += t2 - t1;
    time.postprocess += t3 - t2;
    opts.onProgress?.(seen, ds.length);
  }
  const any = st.tp.some((v) => v);
  const box = any ? apPerClass(st.tp, st.conf, st.cls, st.target, nT, true) : null;
  const mask = any && doProto ? apPerClass(st.tpM, st.conf, st.cls, st.target, nT, true) : null;
  const maskNative = any && doNative ? apPerClass(st.tpN, st.conf, st.cls, st.target, nT, true) : null;
  const sBox = summarize(box), sMask = summarize(doProto ? mask : maskNative);
  const counts = new Map<number, number>();
  for (const c of st.target) counts.set(c, (counts.get(c) ?? 0) + 1);
  const perClass: ClassRow[] = [];
  for (let ci = 0; box && ci < box.uniqueClasses.length; ci++) {
    const c = box.uniqueClasses[ci];
    perClass.push({
      cls: c,
      name: ds.names[c] ?? String(c),
      images: imagesWith.get(c) ?? 0,
      instances: counts.get(c) ?? 0,
      box: classResult(box, ci),
      mask: classResult((doProto ? mask : maskNative)!, ci),
      ...(doProto && doNative ? { maskNative: classResult(maskNative!, ci) } : {}),
    });
  }
  const n = Math.max(1, seen);
  const result: ValResult = {
    box: sBox,
    mask: sMask,
    ...(doProto && doNative ? { maskNative: summarize(maskNative) } : {}),
    fitness: sBox.fitness + sMask.fitness,
    perClass,
    images: seen,
    instances: st.target.length,
    speed: { preprocess: time.preprocess / n, inference: time.inference / n, postprocess: time.postprocess / n },
    curves: { box, mask, maskNative },
    perImage,
    names: ds.names,
    settings: {
      imgsz: ds.opts.imgsz,
      batch: ds.opts.batch,
      rect: ds.opts.rect,
      conf: opts.conf ?? 0.001,
      iou: opts.iou ?? 0.7,
      maxDet: opts.maxDet ?? 300,
      masks: mode,
      classes: opts.classes ?? null,
    },
  };
  if (opts.verbose ?? true) console.log(formatTable(result));
  return result;
}

/** The ultralytics-style results table ("%22s%11i%11i" + "%11.3g"·8), with a native-mask block when measured. */
export function formatTable(r: ValResult): string {
  const g = (v: number) => fmtG(v, 3).padStart(11);
  const head = [
    "Class",
    "Images",
    "Instances",
    "Box(P",
    "R",
    "mAP50",
    "mAP50-95)",
    "Mask(P",
    "R",
    "mAP50",
    "mAP50-95)",
  ];
  const native = r.maskNative !== undefined;
  if (native) head.push("Native(P", "R", "mAP50", "mAP50-95)");
  const lines = [head[0].padStart(22) + head.slice(1).map((h) => h.padStart(11)).join("")];
  const row = (name: string, im: number, inst: number, vals: Omit<MetricSummary, "fitness">[]) =>
    name.padStart(22) + String(im).padStart(11) + String(inst).padStart(11) +
    vals.map((v) => g(v.P) + g(v.R) + g(v.mAP50) + g(v["mAP50-95"])).join("");
  lines.push(row("all", r.images, r.instances, native ? [r.box, r.mask, r.maskNative!] : [r.box, r.mask]));
  for (const c of r.perClass) {
    lines.push(row(c.name, c.images, c.instances, native ? [c.box, c.mask, c.maskNative!] : [c.box, c.mask]));
  }
  const s = r.speed;
  lines.push(
    `Speed: ${s.preprocess.toFixed(1)}ms preprocess, ${s.inference.toFixed(1)}ms inference, ${
      s.postprocess.toFixed(1)
    }ms postprocess per image`,
  );
  return lines.join("\n");
}

/** C printf `%.{p}g`. */
export function fmtG(v: number, p = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const e = Math.floor(Math.log10(Math.abs(Number(v.toPrecision(p)))));
  if (e < -4 || e >= p) {
    const [m, ex] = v.toExponential(p - 1).split("e");
    const mm = m.includes(".") ? m.replace(/\.?0+$/, "") : m;
    const n = Number(ex);
    return `${mm}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  const s = v.toFixed(Math.max(0, p - 1 - e));
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}
