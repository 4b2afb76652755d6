/**
 * Parity category `loss/`: (a) stored train-mode preds + batch → assigner outputs and v8SegmentationLoss items vs
 * ultralytics; (b) end to end from the checkpoint with the project's train-mode forward; (c) gradients of the
 * parameters listed in `case.json`. Everything is derived from `case.json` and the array shapes.
 */
import * as path from "node:path";
import { tf } from "../../lib/backend/mod.ts";
import { readNpy } from "../../lib/io/npy.ts";
import type { NpyArray } from "../../lib/io/npy.ts";
import { type SegBatch, segLoss, type SegPreds } from "../../lib/train/loss.ts";
import type { CaseResult, ParityCategory } from "./types.ts";

interface LossCase {
  model: string;
  nc: number;
  imgsz: number;
  overlap_mask: boolean;
  mask_ratio: number;
  hyp: { box: number; cls: number; dfl: number };
  loss_items_order: string[];
  loss_items: number[];
  loss_total: number;
  batch_size: number;
  grads: Record<string, number[]>;
}

const fmt = (x: number) => x.toExponential(2);

function toF32(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  if (a.data instanceof BigInt64Array) return Float32Array.from(a.data, (v) => Number(v));
  return Float32Array.from(a.data as ArrayLike<number>);
}

function toNumbers(a: NpyArray): number[] {
  if (a.data instanceof BigInt64Array) return Array.from(a.data, (v) => Number(v));
  return Array.from(a.data as ArrayLike<number>);
}

/** NCHW float32 npy → NHWC tensor. */
function nchwToNhwc(a: NpyArray): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(toF32(a), a.shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
}

/** Compare two float arrays: maxabs, rel_l2, max|ref|. */
export function compare(ours: ArrayLike<number>, ref: ArrayLike<number>) {
  let maxabs = 0, d2 = 0, r2 = 0, maxref = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = ours[i] - ref[i];
    maxabs = Math.max(maxabs, Math.abs(d));
    d2 += d * d;
    r2 += ref[i] * ref[i];
    maxref = Math.max(maxref, Math.abs(ref[i]));
  }
  return { maxabs, relL2: Math.sqrt(d2) / Math.max(Math.sqrt(r2), 1e-30), maxref };
}

async function loadBatch(dir: string): Promise<{ batch: SegBatch; img: tf.Tensor4D }> {
  const [imgA, cls, bboxes, idx, masks] = await Promise.all(
    ["batch_img_u8", "batch_cls", "batch_bboxes", "batch_idx", "batch_masks"].map((n) =>
      readNpy(path.join(dir, `${n}.npy`))
    ),
  );
  const img = tf.tidy(() =>
    tf.tensor4d(toF32(imgA), imgA.shape as [number, number, number, number]).transpose([0, 2, 3, 1]).div(255)
  ) as tf.Tensor4D;
  return {
    img,
    batch: {
      cls: toNumbers(cls),
      bboxes: toF32(bboxes),
      batchIdx: toNumbers(idx),
      masks: toF32(masks),
      masksShape: masks.shape,
    },
  };
}

function itemsLine(items: ArrayLike<number>, total: number, c: LossCase): { worst: number; text: string } {
  let worst = 0;
  const parts: string[] = [];
  c.loss_items_order.forEach((name, i) => {
    const rel = Math.abs(items[i] - c.loss_items[i]) / Math.max(Math.abs(c.loss_items[i]), 1e-12);
    worst = Math.max(worst, rel);
    parts.push(`${name}=${items[i].toFixed(6)} (ref ${c.loss_items[i].toFixed(6)}, rel ${fmt(rel)})`);
  });
  const relT = Math.abs(total - c.loss_total) / Math.abs(c.loss_total);
  worst = Math.max(worst, relT);
  parts.push(`total=${total.toFixed(5)} (ref ${c.loss_total.toFixed(5)}, rel ${fmt(relT)})`);
  return { worst, text: parts.join(" ") };
}

async function* stored(dir: string, c: LossCase): AsyncGenerator<CaseResult> {
  const levelFiles: string[] = [];
  for (let i = 0;; i++) {
    const f = path.join(dir, `train_level${i}.npy`);
    try {
      await Deno.stat(f);
    } catch {
      break;
    }
    levelFiles.push(f);
  }
  const levelsNp = await Promise.all(levelFiles.map((f) => readNpy(f)));
  const mcNp = await readNpy(path.join(dir, "train_mc.npy"));
  const protoNp = await readNpy(path.join(dir, "train_proto.npy"));
  const { batch, img } = await loadBatch(dir);
  img.dispose();
  const levels = levelsNp.map(nchwToNhwc);
  const mc = tf.tidy(() => tf.tensor3d(toF32(mcNp), mcNp.shape as [number, number, number]).transpose([0, 2, 1]));
  const proto = nchwToNhwc(protoNp);
  const imgsz = c.imgsz;
  const strides = levels.map((l) => imgsz / l.shape[1]);
  const preds: SegPreds = { levels, mc: mc as tf.Tensor3D, proto };
  const res = segLoss(preds, batch, { ...c.hyp, overlap: c.overlap_mask, strides });
  const total = (await res.total.data())[0];
  res.total.dispose();
  tf.dispose([...levels, mc, proto]);

  // assigner
  const ref = async (n: string) => await readNpy(path.join(dir, `assigner_${n}.npy`));
  const fgRef = toNumbers(await ref("fg_mask"));
  const idxRef = toNumbers(await ref("target_gt_idx"));
  const labRef = toNumbers(await ref("target_labels"));
  const bbRef = toF32(await ref("target_bboxes"));
  const tsRef = await ref("target_scores");
  const pdRef = toF32(await ref("in_pd_bboxes"));
  const gtRef = toF32(await ref("in_gt_bboxes"));
  const a = res.assign;
  let fgDiff = 0, nFgRef = 0, idxBad = 0, labBad = 0;
  for (let i = 0; i < fgRef.length; i++) {
    nFgRef += fgRef[i] ? 1 : 0;
    if ((fgRef[i] ? 1 : 0) !== a.fgMask[i]) fgDiff++;
    else if (fgRef[i]) {
      if (idxRef[i] !== a.targetGtIdx[i]) idxBad++;
      if (labRef[i] !== a.targetLabels[i]) labBad++;
    }
  }
  const nc = tsRef.shape[2];
  const tsOurs = new Float32Array(fgRef.length * nc);
  for (let i = 0; i < fgRef.length; i++) if (a.fgMask[i]) tsOurs[i * nc + a.targetLabels[i]] = a.targetNorm[i];
  const ts = compare(tsOurs, toF32(tsRef));
  const bb = compare(a.targetBboxes, bbRef);
  const pd = compare(res.debug.pdBboxes, pdRef);
  const gt = gtRef.length === res.debug.gtBboxes.length ? compare(res.debug.gtBboxes, gtRef).maxabs : Infinity;
  const fgTol = Math.floor(0.005 * nFgRef);
  const okA = fgDiff <= fgTol && idxBad === 0 && labBad === 0 && bb.maxabs <= 1e-3 && ts.maxabs <= 1e-4;
  yield {
    name: "loss/assigner",
    verdict: okA ? "PASS" : "FAIL",
    detail: `fg ${res.debug.nFg} vs ref ${nFgRef} (differ ${fgDiff}, tol ${fgTol}); gt_idx mismatches ${idxBad}; ` +
      `labels mismatches ${labBad}; target_bboxes maxabs=${fmt(bb.maxabs)} (tol 1e-3); target_scores maxabs=${
        fmt(ts.maxabs)
      } (tol 1e-4); in_pd_bboxes maxabs=${fmt(pd.maxabs)}; in_gt_bboxes maxabs=${fmt(gt)}`,
  };
  const li = itemsLine(res.items, total, c);
  yield {
    name: "loss/items_from_stored_preds",
    verdict: li.worst <= 1e-4 ? "PASS" : "FAIL",
    detail: `${li.text}; worst rel ${fmt(li.worst)} (tol 1e-4)`,
  };
}

interface ModelLike {
  forward(x: tf.Tensor4D, opts: { train: boolean; updateStats?: boolean }): SegPreds;
  namedParameters(): Map<string, tf.Variable>;
  toTorchLayout?(name: string, t: tf.Tensor): tf.Tensor;
}

async function loadModel(root: string, c: LossCase): Promise<ModelLike | string> {
  const loadUrl = new URL("../../lib/yolo/load.ts", import.meta.url);
  try {
    await Deno.stat(loadUrl);
  } catch {
    return "lib/yolo/load.ts not available yet";
  }
  const mod = await import(loadUrl.href);
  if (typeof mod.loadYoloModel !== "function") return "lib/yolo/load.ts has no loadYoloModel";
  const file = path.join(root, "yolo", `${c.model}.pt`);
  try {
    return await mod.loadYoloModel(file) as ModelLike;
  } catch (e) {
    return `loadYoloModel(${c.model}.pt) failed: ${(e as Error).message}`;
  }
}

async function* endToEnd(
  root: string,
  dir: string,
  c: LossCase,
  part: "items" | "grads" | "both",
  label = "",
): AsyncGenerator<CaseResult> {
  const model = await loadModel(root, c);
  if (typeof model === "string") {
    yield { name: "loss/items_end_to_end", verdict: "SKIP", detail: model };
    yield { name: "loss/gradients", verdict: "SKIP", detail: model };
    return;
  }
  const { batch, img } = await loadBatch(dir);
  const params = model.namedParameters();
  const names = Object.keys(c.grads);
  const missing = names.filter((n) => !params.has(n));
  const vars = names.filter((n) => params.has(n)).map((n) => params.get(n)!);
  let items: ArrayLike<number> = new Float32Array(4);
  let total = 0;
  const { value, grads } = tf.variableGrads(() => {
    const preds = model.forward(img, { train: true, updateStats: false });
    const strides = preds.levels.map((l) => c.imgsz / l.shape[1]);
    const r = segLoss(preds, batch, { ...c.hyp, overlap: c.overlap_mask, strides });
    items = r.items;
    return r.total;
  }, vars);
  total = (await value.data())[0];
  const li = itemsLine(items, total, c);
  if (part !== "grads") {
    yield {
      name: "loss/items_end_to_end",
      verdict: li.worst <= 1e-3 ? "PASS" : "FAIL",
      detail: `${li.text}; worst rel ${fmt(li.worst)} (tol 1e-3)`,
    };
  }
  if (part === "items") {
    tf.dispose([value, img, ...Object.values(grads)]);
    (model as { dispose?: () => void }).dispose?.();
    return;
  }
  const varName = new Map<string, string>();
  for (const n of names) if (params.has(n)) varName.set(params.get(n)!.name, n);
  for (const n of names) {
    if (missing.includes(n)) {
      yield { name: `loss/grad/${n}`, verdict: "FAIL", detail: "parameter not found in namedParameters()" };
      continue;
    }
    const g = grads[params.get(n)!.name];
    const refNp = await readNpy(path.join(dir, "grad", `${n}.npy`));
    // stored layout (e.g. HWIO) → torch layout (OIHW) of the reference
    let ours = g;
    if (model.toTorchLayout) ours = model.toTorchLayout(n, g);
    else if (g.rank === 4 && refNp.shape.length === 4) ours = tf.transpose(g, [3, 2, 0, 1]);
    const cmp = compare(await ours.data(), toF32(refNp));
    if (ours !== g) ours.dispose();
    const ok = cmp.relL2 <= 1e-3 && cmp.maxabs <= 1e-2 * cmp.maxref;
    yield {
      name: `loss/grad/${n}`,
      verdict: ok ? "PASS" : "FAIL",
      detail: `rel_l2=${fmt(cmp.relL2)} (tol 1e-3) maxabs=${fmt(cmp.maxabs)} (tol ${fmt(1e-2 * cmp.maxref)})${label}`,
    };
  }
  tf.dispose([value, img, ...Object.values(grads)]);
}

export const category: ParityCategory = {
  folder: "loss",
  /**
   * `grad_backend=cpu` (default): the gradient cases run on tfjs' cpu backend, whose reductions accumulate in float64
   * like PyTorch's pairwise float32 sums closely enough; wasm's float32 running sums drift by up to 2.7e-3 rel_l2 in
   * the early layers through BatchNorm's backward (a backend arithmetic effect, not the algorithm).
   * `grad_backend=current` checks them on the backend in use.
   */
  async *run(root: string, opts) {
    const dir = path.join(root, "loss");
    const c = JSON.parse(await Deno.readTextFile(path.join(dir, "case.json"))) as LossCase;
    yield* stored(dir, c);
    const current = tf.getBackend();
    const gb = opts.extra.grad_backend ?? "cpu";
    if (gb === "current" || current === "cpu") {
      yield* endToEnd(root, dir, c, "both");
      return;
    }
    yield* endToEnd(root, dir, c, "items");
    await tf.setBackend("cpu");
    try {
      yield* endToEnd(root, dir, c, "grads", " [cpu backend]");
    } finally {
      await tf.setBackend(current);
    }
  },
};
