/**
 * Parity category `metrics`: every case of `metrics/` (box/mask IoU per image, validator tp matrices, the
 * concatenated statistics and `ap_per_class` outputs) against `lib/metrics`, with the README tolerances
 * (IoU ≤ 1e-6, tp exact, P/R/F1/AP ≤ 1e-6, curves ≤ 1e-5). Images are discovered from the `img<i>_*` files.
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory } from "./types.ts";
import { type NpyArray, readNpy } from "../../lib/io/npy.ts";
import { boxIou, maskIou, type MaskStack } from "../../lib/metrics/iou.ts";
import { IOU_THRESHOLDS, matchPredictions } from "../../lib/metrics/match.ts";
import { apPerClass, npMean } from "../../lib/metrics/ap.ts";
import { exists } from "../../lib/util/fs.ts";

function nums(a: NpyArray): number[] {
  return Array.from(a.data as ArrayLike<number | bigint>, Number);
}

function maxAbs(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) return Infinity;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    m = Math.max(m, Math.abs(ours[i] - ref[i]) || (ours[i] === ref[i] ? 0 : Infinity));
  }
  return m;
}

function close(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tol: number): CaseResult {
  const e = maxAbs(ours, ref);
  const shape = ours.length === ref.length ? "" : ` (length ${ours.length} vs ${ref.length})`;
  return { name, verdict: e <= tol ? "PASS" : "FAIL", detail: `maxabs=${e.toExponential(2)} (tol ${tol})${shape}` };
}

function exact(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>): CaseResult {
  let diff = ours.length === ref.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(ours.length, ref.length); i++) if (ours[i] !== ref[i]) diff++;
  return {
    name,
    verdict: diff === 0 ? "PASS" : "FAIL",
    detail: diff === 0
      ? `exact (${ref.length} values)`
      : `${diff} of ${ref.length} differ (lengths ${ours.length}/${ref.length})`,
  };
}

function stack(a: NpyArray): MaskStack {
  const [n, h, w] = a.shape;
  return { n, h, w, data: a.data as Uint8Array };
}

export const category: ParityCategory = {
  folder: "metrics",
  async *run(root) {
    const dir = path.join(root, "metrics");
    const rd = (name: string) => readNpy(path.join(dir, `${name}.npy`));
    let thresholds: ArrayLike<number> = IOU_THRESHOLDS;
    const casesFile = path.join(dir, "cases.json");
    let cases: Record<string, unknown> = {};
    if (await exists(casesFile)) {
      cases = JSON.parse(await Deno.readTextFile(casesFile));
      if (Array.isArray(cases.iou_thresholds)) {
        yield close("metrics/iou_thresholds", IOU_THRESHOLDS, cases.iou_thresholds as number[], 0);
        thresholds = Float32Array.from(cases.iou_thresholds as number[]);
      }
    }
    const imgs: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = /^img(\d+)_gt_cls\.npy$/.exec(e.name);
      if (m) imgs.push(Number(m[1]));
    }
    imgs.sort((a, b) => a - b);
    const stats = {
      box: { tp: [] as number[], conf: [] as number[], cls: [] as number[], target: [] as number[] },
      mask: { tp: [] as number[], conf: [] as number[], cls: [] as number[], target: [] as number[] },
    };
    const nT = thresholds.length;
    for (const i of imgs) {
      const p = `img${i}`;
      const gtCls = nums(await rd(`${p}_gt_cls`)), predCls = nums(await rd(`${p}_pred_cls`));
      const conf = nums(await rd(`${p}_pred_conf`));
      const gtBoxes = nums(await rd(`${p}_gt_boxes`)), predBoxes = nums(await rd(`${p}_pred_boxes`));
      const gtMasks = stack(await rd(`${p}_gt_masks`)), predMasks = stack(await rd(`${p}_pred_masks`));
      const bIou = boxIou(gtBoxes, predBoxes);
      const mIou = maskIou(gtMasks, predMasks);
      if (await exists(path.join(dir, `${p}_box_iou.npy`))) {
        yield close(`metrics/${p}/box_iou`, bIou, nums(await rd(`${p}_box_iou`)), 1e-6);
      }
      if (await exists(path.join(dir, `${p}_mask_iou.npy`))) {
        yield close(`metrics/${p}/mask_iou`, mIou, nums(await rd(`${p}_mask_iou`)), 1e-6);
      }
      for (const [task, iou] of [["box", bIou], ["mask", mIou]] as const) {
        // the validator matches only when the image has both predictions and ground truth
        const tp = gtCls.length && predCls.length
          ? matchPredictions(predCls, gtCls, iou, thresholds)
          : new Uint8Array(predCls.length * nT);
        const refFile = `${p}_tp_${task}`;
        if (await exists(path.join(dir, `${refFile}.npy`))) {
          yield exact(`metrics/${p}/tp_${task}`, tp, nums(await rd(refFile)));
        }
        // ultralytics appends an image's stats unless it has neither predictions nor ground truth
        if (predCls.length || gtCls.length) {
          const s = stats[task];
          s.tp.push(...tp);
          s.conf.push(...conf);
          s.cls.push(...predCls);
          s.target.push(...gtCls);
        }
      }
    }
    for (const task of ["box", "mask"] as const) {
      const pre = `ap_${task}`;
      if (!(await exists(path.join(dir, `${pre}_in_tp.npy`)))) continue;
      const inTp = nums(await rd(`${pre}_in_tp`)), inConf = nums(await rd(`${pre}_in_conf`));
      const inCls = nums(await rd(`${pre}_in_pred_cls`)), inTarget = nums(await rd(`${pre}_in_target_cls`));
      if (imgs.length) {
        const s = stats[task];
        yield exact(`metrics/${task}/stats_tp`, s.tp, inTp);
        yield exact(`metrics/${task}/stats_conf_cls_target`, [...s.conf, ...s.cls, ...s.target], [
          ...inConf,
          ...inCls,
          ...inTarget,
        ]);
      }
      const res = apPerClass(inTp, inConf, inCls, inTarget, nT, true);
      const n = `metrics/${task}/ap_per_class`;
      yield exact(`${n}/unique_classes`, res.uniqueClasses, nums(await rd(`${pre}_unique_classes`)));
      for (const k of ["p", "r", "f1", "tp", "fp"] as const) {
        yield close(`${n}/${k}`, res[k], nums(await rd(`${pre}_${k}`)), 1e-6);
      }
      yield close(`${n}/ap`, res.ap.flatMap((a) => [...a]), nums(await rd(`${pre}_ap`)), 1e-6);
      for (const [k, ours] of [["p_curve", res.pCurve], ["r_curve", res.rCurve], ["f1_curve", res.f1Curve]] as const) {
        yield close(`${n}/${k}`, ours.flatMap((a) => [...a]), nums(await rd(`${pre}_${k}`)), 1e-5);
      }
      const pv = await rd(`${pre}_prec_values`);
      if (pv.shape.length === 2 && pv.shape[0] > 0) {
        yield close(`${n}/prec_values`, res.precValues.flatMap((a) => [...a]), nums(pv), 1e-5);
      }
      const exp = (cases.ap_per_class as Record<string, Record<string, unknown>> | undefined)?.[task];
      if (exp && typeof exp.mAP50 === "number") {
        const all = res.ap.flatMap((a) => [...a]);
        yield close(
          `${n}/mAP50,mAP50-95,mP,mR`,
          [
            npMean(res.ap.map((a) => a[0])),
            npMean(all),
            npMean(res.p),
            npMean(res.r),
          ],
          [exp.mAP50 as number, exp.mAP50_95 as number, exp.mP as number, exp.mR as number],
          1e-6,
        );
      }
    }
  },
};
