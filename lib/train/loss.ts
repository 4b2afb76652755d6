/**
 * v8SegmentationLoss of ultralytics 8.2 (`utils/loss.py`) on the model's NHWC train-mode outputs: box 1-CIoU and DFL
 * on foreground anchors weighted by target scores, BCE over soft class targets, per-pixel mask BCE of coefs @ protos
 * cropped to the target box and normalised by its area; gains box/cls/dfl (mask uses the box gain); total =
 * sum x batch size. Differentiable parts are tfjs ops without `tf.gather` gradients (wasm lacks UnsortedSegmentSum);
 * the assignment runs on typed arrays.
 */
import { tf } from "../backend/mod.ts";
import { type AssignerOptions, type AssignerOutput, DEFAULT_ASSIGNER, taskAlignedAssign } from "./assigner.ts";
import { ciouTensor, decodeDfl, makeAnchors } from "./boxes.ts";

/** Train-mode network outputs (NHWC). */
export interface SegPreds {
  /** per level [B, h, w, 4*regMax + nc] (box distribution logits then class logits) */
  levels: tf.Tensor4D[];
  /** [B, A, nm] mask coefficients, anchors in level order, row-major */
  mc: tf.Tensor3D;
  /** [B, H/4, W/4, nm] prototypes */
  proto: tf.Tensor4D;
}

/** One training batch's labels (images are not needed by the loss). */
export interface SegBatch {
  /** [N] class per instance */
  cls: ArrayLike<number>;
  /** [N, 4] normalised xywh */
  bboxes: ArrayLike<number>;
  /** [N] image index per instance */
  batchIdx: ArrayLike<number>;
  /** overlap maps [B, mh, mw] (value k = k-th instance of that image, 1-based) or per-instance masks [N, mh, mw] */
  masks: ArrayLike<number>;
  /** shape of `masks` */
  masksShape: number[];
}

/** Loss hyper-parameters (ultralytics defaults). */
export interface SegLossOptions {
  box: number;
  cls: number;
  dfl: number;
  regMax: number;
  strides: number[];
  /** masks are overlap index maps (ultralytics `overlap_mask`, default true) */
  overlap: boolean;
  assigner: AssignerOptions;
  /** reuse this assignment instead of running the assigner (targets held fixed, e.g. for gradient checks) */
  fixedAssign?: AssignerOutput;
}

export const DEFAULT_SEG_LOSS: SegLossOptions = {
  box: 7.5,
  cls: 0.5,
  dfl: 1.5,
  regMax: 16,
  strides: [8, 16, 32],
  overlap: true,
  assigner: DEFAULT_ASSIGNER,
};

/** Loss result: `total` is differentiable; `items` are the detached (box, seg, cls, dfl) values ultralytics logs. */
export interface SegLossResult {
  total: tf.Scalar;
  items: Float32Array;
  assign: AssignerOutput;
  /** assigner inputs that other tools may compare (pixels) */
  debug: { pdBboxes: Float32Array; ancPoints: Float32Array; gtBboxes: Float32Array; maxBoxes: number; nFg: number };
}

/** Rows `idx` of `x` [R, C] → [n, C]; gradient by scatterND (no UnsortedSegmentSum needed). */
export function gatherRows(x: tf.Tensor2D, idx: Int32Array): tf.Tensor2D {
  const [R, C] = x.shape;
  const f = tf.customGrad(
    ((t: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      const ind = tf.tensor1d(idx, "int32");
      const value = tf.gather(t, ind);
      ind.dispose();
      return {
        value,
        gradFunc: (dy: tf.Tensor) =>
          tf.tidy(() => tf.scatterND(tf.tensor2d(idx, [idx.length, 1], "int32"), dy, [R, C])),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return f(x) as tf.Tensor2D;
}

/** Numerically stable BCE with logits, elementwise: max(x,0) - x*y + log1p(exp(-|x|)). */
function bceWithLogits(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.relu(x).sub(x.mul(y)).add(tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
}

/** Group targets per image as ultralytics `preprocess`: padded [B, M] labels, [B, M, 4] xyxy pixels, mask. */
function preprocessTargets(batch: SegBatch, B: number, nc: number, imgH: number, imgW: number) {
  const N = batch.cls.length;
  const counts = new Array(B).fill(0);
  for (let i = 0; i < N; i++) {
    const b = batch.batchIdx[i];
    if (!(b >= 0 && b < B && Number.isInteger(b))) throw new Error(`loss: batchIdx ${b} outside 0..${B - 1}`);
    counts[b]++;
  }
  for (let i = 0; i < N; i++) {
    const c = batch.cls[i];
    if (!(Number.isInteger(c) && c >= 0 && c < nc)) throw new Error(`loss: class ${c} outside 0..${nc - 1}`);
  }
  const M = N === 0 ? 0 : Math.max(...counts);
  const labels = new Int32Array(B * M);
  const boxes = new Float32Array(B * M * 4);
  const mask = new Uint8Array(B * M);
  const fill = new Array(B).fill(0);
  const f = Math.fround;
  for (let i = 0; i < N; i++) {
    const b = batch.batchIdx[i];
    const j = b * M + fill[b]++;
    labels[j] = batch.cls[i];
    const x = f(batch.bboxes[4 * i] * imgW), y = f(batch.bboxes[4 * i + 1] * imgH);
    const w = f(batch.bboxes[4 * i + 2] * imgW), h = f(batch.bboxes[4 * i + 3] * imgH);
    const dw = f(w / 2), dh = f(h / 2);
    boxes[4 * j] = f(x - dw);
    boxes[4 * j + 1] = f(y - dh);
    boxes[4 * j + 2] = f(x + dw);
    boxes[4 * j + 3] = f(y + dh);
    mask[j] = boxes[4 * j] + boxes[4 * j + 1] + boxes[4 * j + 2] + boxes[4 * j + 3] > 0 ? 1 : 0;
  }
  return { labels, boxes, mask, M };
}

/** Nearest resize of one [h, w] map to [oh, ow] as torch `F.interpolate(mode="nearest")`. */
function resizeNearest(
  src: ArrayLike<number>,
  off: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
): Float32Array {
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(Math.floor((y * h) / oh), h - 1);
    for (let x = 0; x < ow; x++) {
      const sx = Math.min(Math.floor((x * w) / ow), w - 1);
      out[y * ow + x] = src[off + sy * w + sx];
    }
  }
  return out;
}

/**
 * The v8 segmentation loss. Synchronous (reads the predictions with dataSync for the assignment), so it can run
 * inside `tf.variableGrads`. Returns the differentiable total and the detached items (box, seg, cls, dfl).
 */
export function segLoss(preds: SegPreds, batch: SegBatch, options: Partial<SegLossOptions> = {}): SegLossResult {
  const o = { ...DEFAULT_SEG_LOSS, ...options };
  const R = o.regMax, nd = 4 * R;
  const B = preds.levels[0].shape[0];
  const sizes = preds.levels.map((l) => [l.shape[1], l.shape[2]] as [number, number]);
  const no = preds.levels[0].shape[3];
  const nc = no - nd;
  const [, mh, mw, nm] = preds.proto.shape;
  const imgH = sizes[0][0] * o.strides[0], imgW = sizes[0][1] * o.strides[0];
  const anc = makeAnchors(sizes, o.strides);
  const A = anc.count;
  if (preds.mc.shape[1] !== A) throw new Error(`loss: mc has ${preds.mc.shape[1]} anchors, levels give ${A}`);

  const pixelsAnchors = new Float32Array(A * 2);
  for (let a = 0; a < A; a++) {
    pixelsAnchors[2 * a] = anc.points[2 * a] * anc.stride[a];
    pixelsAnchors[2 * a + 1] = anc.points[2 * a + 1] * anc.stride[a];
  }

  let assign!: AssignerOutput, items!: Float32Array, n = 0, maxBoxes = 0, gtBoxes!: Float32Array;
  const pdBboxes = new Float32Array(B * A * 4);
  const total = tf.tidy(() => {
    const cat = tf.concat(preds.levels.map((l) => l.reshape([B, -1, no])), 1) as tf.Tensor3D; // [B, A, no]
    const dist = cat.slice([0, 0, 0], [B, A, nd]).reshape([B * A, nd]) as tf.Tensor2D;
    const clsLogits = cat.slice([0, 0, nd], [B, A, nc]);

    // --- assignment (no gradient) ---
    const distData = dist.dataSync() as Float32Array;
    const logitData = clsLogits.dataSync() as Float32Array;
    const pdScores = new Float32Array(logitData.length);
    for (let i = 0; i < logitData.length; i++) pdScores[i] = 1 / (1 + Math.exp(-logitData[i]));
    for (let b = 0; b < B; b++) {
      const dec = decodeDfl(distData.subarray(b * A * nd, (b + 1) * A * nd), anc.points, A, R);
      for (let a = 0; a < A; a++) {
        for (let j = 0; j < 4; j++) pdBboxes[(b * A + a) * 4 + j] = Math.fround(dec[4 * a + j] * anc.stride[a]);
      }
    }
    const gt = preprocessTargets(batch, B, nc, imgH, imgW);
    maxBoxes = gt.M;
    gtBoxes = gt.boxes;
    assign = o.fixedAssign ?? taskAlignedAssign({
      batch: B,
      anchors: A,
      nc,
      maxBoxes: gt.M,
      pdScores,
      pdBboxes,
      ancPoints: pixelsAnchors,
      gtLabels: gt.labels,
      gtBboxes: gt.boxes,
      maskGt: gt.mask,
    }, o.assigner);

    let scoreSum = 0;
    for (let i = 0; i < B * A; i++) if (assign.fgMask[i]) scoreSum += assign.targetNorm[i];
    const tss = Math.max(scoreSum, 1);

    // --- class loss: BCE over all anchors and classes against the soft targets ---
    const targetScores = new Float32Array(B * A * nc);
    for (let i = 0; i < B * A; i++) {
      if (assign.fgMask[i]) targetScores[i * nc + assign.targetLabels[i]] = assign.targetNorm[i];
    }
    const lossCls = bceWithLogits(clsLogits, tf.tensor3d(targetScores, [B, A, nc])).sum().div(tss);

    const fgIdx: number[] = [];
    for (let i = 0; i < B * A; i++) if (assign.fgMask[i]) fgIdx.push(i);
    n = fgIdx.length;
    let lossBox: tf.Tensor = tf.scalar(0), lossDfl: tf.Tensor = tf.scalar(0), lossSeg: tf.Tensor = tf.scalar(0);
    if (n > 0) {
      const idx = Int32Array.from(fgIdx);
      const ancFg = new Float32Array(n * 2), tgtFg = new Float32Array(n * 4), w = new Float32Array(n);
      const dflW = new Float32Array(n * 4 * R);
      for (let k = 0; k < n; k++) {
        const i = idx[k], a = i % A, s = anc.stride[a];
        const ax = anc.points[2 * a], ay = anc.points[2 * a + 1];
        ancFg[2 * k] = ax;
        ancFg[2 * k + 1] = ay;
        for (let j = 0; j < 4; j++) tgtFg[4 * k + j] = Math.fround(assign.targetBboxes[4 * i + j] / s);
        w[k] = assign.targetNorm[i];
        const ltrb = [ax - tgtFg[4 * k], ay - tgtFg[4 * k + 1], tgtFg[4 * k + 2] - ax, tgtFg[4 * k + 3] - ay];
        for (let j = 0; j < 4; j++) {
          const t = Math.min(Math.max(Math.fround(ltrb[j]), 0), R - 1 - 0.01);
          const tl = Math.floor(t);
          const wl = tl + 1 - t;
          dflW[(k * 4 + j) * R + tl] = wl;
          dflW[(k * 4 + j) * R + tl + 1] = 1 - wl;
        }
      }
      const wT = tf.tensor1d(w);
      const distFg = gatherRows(dist, idx).reshape([n, 4, R]);
      const proj = tf.range(0, R, 1, "float32");
      const ltrbPred = tf.softmax(distFg, -1).mul(proj).sum(-1) as tf.Tensor2D; // [n, 4]
      const ancT = tf.tensor2d(ancFg, [n, 2]);
      const predBox = tf.concat(
        [ancT.sub(ltrbPred.slice([0, 0], [n, 2])), ancT.add(ltrbPred.slice([0, 2], [n, 2]))],
        1,
      );
      const iou = ciouTensor(predBox as tf.Tensor2D, tf.tensor2d(tgtFg, [n, 4]));
      lossBox = tf.scalar(1).sub(iou).mul(wT).sum().div(tss);
      const ce = tf.logSoftmax(distFg, -1).mul(tf.tensor3d(dflW, [n, 4, R])).sum(-1).neg(); // [n, 4]
      lossDfl = ce.mean(-1).mul(wT).sum().div(tss);

      // --- mask loss, image by image ---
      const mcFlat = preds.mc.reshape([B * A, nm]) as tf.Tensor2D;
      const ms = batch.masksShape;
      const [srcH, srcW] = [ms[1], ms[2]];
      const hw = mh * mw;
      let segSum: tf.Tensor = tf.scalar(0);
      for (let b = 0; b < B; b++) {
        const rows = fgIdx.filter((i) => Math.floor(i / A) === b);
        if (rows.length === 0) continue;
        const nb = rows.length;
        const gtMask = new Float32Array(nb * hw);
        const weight = new Float32Array(nb * hw);
        const instOfImage: number[] = [];
        if (!o.overlap) { for (let i = 0; i < batch.cls.length; i++) if (batch.batchIdx[i] === b) instOfImage.push(i); }
        const mapCache = new Map<number, Float32Array>();
        const getMap = (off: number) => {
          let m = mapCache.get(off);
          if (!m) {
            m = resizeNearest(batch.masks, off, srcH, srcW, mh, mw);
            mapCache.set(off, m);
          }
          return m;
        };
        for (let k = 0; k < nb; k++) {
          const i = rows[k];
          const gi = assign.targetGtIdx[i];
          const map = o.overlap ? getMap(b * srcH * srcW) : getMap(instOfImage[gi] * srcH * srcW);
          const want = o.overlap ? gi + 1 : null;
          const bx = assign.targetBboxes.subarray(4 * i, 4 * i + 4);
          const nx1 = Math.fround(bx[0] / imgW), ny1 = Math.fround(bx[1] / imgH);
          const nx2 = Math.fround(bx[2] / imgW), ny2 = Math.fround(bx[3] / imgH);
          const area = Math.fround(Math.fround(nx2 - nx1) * Math.fround(ny2 - ny1));
          const x1 = Math.fround(nx1 * mw), y1 = Math.fround(ny1 * mh);
          const x2 = Math.fround(nx2 * mw), y2 = Math.fround(ny2 * mh);
          const wv = 1 / hw / area;
          for (let y = 0; y < mh; y++) {
            const inY = y >= y1 && y < y2;
            for (let x = 0; x < mw; x++) {
              const p = y * mw + x;
              const v = map[p];
              gtMask[k * hw + p] = want === null ? (v > 0 ? v : 0) : (v === want ? 1 : 0);
              if (inY && x >= x1 && x < x2) weight[k * hw + p] = wv;
            }
          }
        }
        const mcB = gatherRows(mcFlat, Int32Array.from(rows));
        const protoB = preds.proto.slice([b, 0, 0, 0], [1, mh, mw, nm]).reshape([hw, nm]) as tf.Tensor2D;
        const logits = tf.matMul(mcB, protoB, false, true); // [nb, hw]
        const l = bceWithLogits(logits, tf.tensor2d(gtMask, [nb, hw])).mul(tf.tensor2d(weight, [nb, hw])).sum();
        segSum = segSum.add(l);
      }
      lossSeg = segSum.div(n);
    }
    const parts = [lossBox.mul(o.box), lossSeg.mul(o.box), lossCls.mul(o.cls), lossDfl.mul(o.dfl)];
    const stacked = tf.stack(parts);
    items = Float32Array.from(stacked.dataSync());
    return stacked.sum().mul(B) as tf.Scalar;
  });
  return {
    total,
    items,
    assign,
    debug: { pdBboxes, ancPoints: pixelsAnchors, gtBboxes: gtBoxes, maxBoxes, nFg: n },
  };
}
