/** Tests of lib/yolo/postprocess.ts: hand-computed tiny cases and parity with ultralytics' reference outputs. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { readNpy } from "../../lib/io/npy.ts";
import {
  bilinearTaps,
  maskLogits,
  nonMaxSuppression,
  processMask,
  processMaskNative,
  protoFromCHW,
  pyRound,
  scaleBoxes,
  toAnchorMajor,
} from "../../lib/yolo/postprocess.ts";
import { unpackBits } from "../../tools/parity/postprocess.ts";

/** Build an anchor-major pred [A, 4+nc+nm] from rows {xywh, scores, coefs}. */
function pred(rows: { b: number[]; s: number[]; m?: number[] }[]): Float32Array {
  const C = 4 + rows[0].s.length + (rows[0].m?.length ?? 0);
  const out = new Float32Array(rows.length * C);
  rows.forEach((r, a) => out.set([...r.b, ...r.s, ...(r.m ?? [])], a * C));
  return out;
}

Deno.test("nms: two overlapping boxes of one class keep the higher score", () => {
  // box A xyxy (0,0,10,10), box B (2,0,12,10): inter 80, union 120, IoU 0.667
  const p = pred([{ b: [5, 5, 10, 10], s: [0.6, 0.1] }, { b: [7, 5, 10, 10], s: [0.9, 0.1] }]);
  const d = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 2 });
  assert.equal(d.n, 1);
  assert.deepEqual(Array.from(d.boxes), [2, 0, 12, 10]);
  assert.equal(d.conf[0], Math.fround(0.9));
  assert.equal(d.cls[0], 0);
  // IoU 0.667 is below 0.7: both kept, descending score
  const d2 = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.7, nc: 2 });
  assert.equal(d2.n, 2);
  assert.deepEqual(Array.from(d2.conf), [Math.fround(0.9), Math.fround(0.6)]);
});

Deno.test("nms: class-aware keeps overlapping boxes of different classes, agnostic does not", () => {
  const p = pred([{ b: [5, 5, 10, 10], s: [0.6, 0.1] }, { b: [6, 5, 10, 10], s: [0.1, 0.8] }]);
  const aware = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 2 });
  assert.equal(aware.n, 2);
  assert.deepEqual(Array.from(aware.cls), [1, 0]);
  assert.deepEqual(Array.from(aware.boxes.subarray(0, 4)), [1, 0, 11, 10]); // offsets are not in the output
  const agn = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 2, agnostic: true });
  assert.equal(agn.n, 1);
  assert.equal(agn.cls[0], 1);
  const only0 = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 2, classes: [0] });
  assert.equal(only0.n, 1);
  assert.equal(only0.cls[0], 0);
});

Deno.test("nms: maxDet, zero candidates, ties keep input order, coefficients follow", () => {
  const rows = [0, 1, 2, 3].map((i) => ({ b: [20 * i + 5, 5, 10, 10], s: [0.5], m: [i, -i] }));
  const p = pred(rows);
  const d = nonMaxSuppression(p, 4, { conf: 0.25, iou: 0.5, nc: 1, maxDet: 2 });
  assert.equal(d.n, 2);
  assert.equal(d.nm, 2);
  assert.deepEqual(Array.from(d.boxes), [0, 0, 10, 10, 20, 0, 30, 10]); // equal scores: stable order
  assert.deepEqual(Array.from(d.coefs), [0, -0, 1, -1]);
  const none = nonMaxSuppression(p, 4, { conf: 0.5, iou: 0.5, nc: 1 }); // score must be > conf
  assert.equal(none.n, 0);
  assert.equal(none.boxes.length, 0);
});

Deno.test("nms: multi-label gives one candidate per class above conf", () => {
  const p = pred([{ b: [5, 5, 10, 10], s: [0.5, 0.7, 0.1] }, { b: [50, 50, 10, 10], s: [0.7, 0.3, 0.6] }]);
  const d = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 3, multiLabel: true });
  // candidates (anchor, class): (0,0).5 (0,1).7 (1,0).7 (1,1).3 (1,2).6; ties .7 keep candidate order
  assert.deepEqual(Array.from(d.cls), [1, 0, 2, 0, 1]);
  assert.deepEqual(Array.from(d.conf), [0.7, 0.7, 0.6, 0.5, 0.3].map(Math.fround));
  const single = nonMaxSuppression(p, 2, { conf: 0.25, iou: 0.5, nc: 3 });
  assert.deepEqual(Array.from(single.cls), [1, 0]);
});

Deno.test("scaleBoxes and pyRound follow ultralytics (half-to-even, clip)", () => {
  assert.equal(pyRound(2.5), 2);
  assert.equal(pyRound(3.5), 4);
  assert.ok(Object.is(pyRound(-0.5), 0) && Object.is(pyRound(-0.1), 0));
  // orig 100x200 (h, w) letterboxed to 128x256 with gain 1.28, pad x 0, pad y round((128-128)/2-0.1)=0
  // input 160x256: gain min(1.6, 1.28)=1.28, pad y = round((160-128)/2 - 0.1) = 16
  const b = scaleBoxes([160, 256], new Float32Array([12.8, 16, 256, 160 - 16 + 50]), [100, 200]);
  assert.ok(Math.abs(b[0] - 10) < 1e-5 && b[1] === 0 && b[2] === 200 && b[3] === 100);
});

Deno.test("bilinear taps match torch align_corners=False by hand", () => {
  const t = bilinearTaps(2, 4); // src = 0.5*(d+0.5)-0.5 → -0.25(→0), 0.25, 0.75, 1.25
  assert.deepEqual(Array.from(t.i0), [0, 0, 0, 1]);
  assert.deepEqual(Array.from(t.i1), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(t.l1), [0, 0.25, 0.75, 0.25]);
});

Deno.test("processMask crops with x1 <= col < x2 and upsamples cropped logits", () => {
  // proto 2x4 (1 channel), logits = coef*proto; input 4x8 (ratio 0.5)
  const proto = protoFromCHW(new Float32Array([1, 1, 1, 1, 1, 1, 1, 1]), 1, 2, 4);
  const coefs = new Float32Array([2]);
  // box (2, 0, 5, 4) → proto (1, 0, 2.5, 2): cols 1, 2 kept, rows 0, 1
  const m = processMask(proto, coefs, new Float32Array([2, 0, 5, 4]), 1, [4, 8], false);
  assert.deepEqual(Array.from(m), [0, 1, 1, 0, 0, 1, 1, 0]);
  const up = processMask(proto, coefs, new Float32Array([2, 0, 5, 4]), 1, [4, 8], true);
  // along x: src cols for out 0..7 = 0(clamped), 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25; source [0,2,2,0] → >0
  // where a tap with weight > 0 lands on cols 1/2: out 1..6 positive, out 0 (src 0 exactly) and 7 (cols 3) not
  for (let y = 0; y < 4; y++) assert.deepEqual(Array.from(up.subarray(y * 8, y * 8 + 8)), [0, 1, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(Array.from(maskLogits(proto, coefs)), [2, 2, 2, 2, 2, 2, 2, 2]);
});

Deno.test("processMaskNative removes padding, resizes and crops with native boxes", () => {
  // proto 4x4, orig 2x4 (h, w): gain min(2, 1) = 1, pad_h = 1 → rows 1..3 kept, resized 2x4 → 2x4 (identity)
  const chw = new Float32Array(16).fill(-1);
  chw.set([1, 2, 3, 4], 4); // row 1
  chw.set([5, 6, -7, 8], 8); // row 2
  const proto = protoFromCHW(chw, 1, 4, 4);
  const m = processMaskNative(proto, new Float32Array([1]), new Float32Array([1, 0, 4, 2]), 1, [2, 4]);
  assert.deepEqual(Array.from(m), [0, 1, 1, 1, 0, 1, 0, 1]);
});

const REF = "reference";
const hasRef = hasFixture(`${REF}/postprocess/cases.json`);

Deno.test({
  name: "parity: NMS and masks equal ultralytics on the public reference cases",
  ignore: !hasRef,
  fn: async () => {
    const cases = JSON.parse(await Deno.readTextFile(fixture(REF, "postprocess", "cases.json")));
    let checked = 0, masksChecked = 0;
    for (const [caseName, variants] of Object.entries(cases) as [string, Record<string, unknown>[]][]) {
      const fdir = fixture(REF, "forward", caseName);
      const p = await readNpy(path.join(fdir, "eval_pred.npy"));
      const [B, C, A] = p.shape;
      const am = toAnchorMajor(p.data as Float32Array, B, C, A);
      const pr = await readNpy(path.join(fdir, "eval_proto.npy"));
      const [, nm, mh, mw] = pr.shape;
      for (let k = 0; k < variants.length; k++) {
        const v = variants[k] as {
          conf_thres: number;
          iou_thres: number;
          classes: number[] | null;
          agnostic: boolean;
          multi_label: boolean;
          max_det: number;
          nc: number;
          mask_shapes?: Record<string, number[]>;
        };
        for (let b = 0; b < B; b++) {
          const ref = await readNpy(fixture(REF, "postprocess", caseName, `nms${k}_dets_${b}.npy`));
          const r = ref.data as Float32Array;
          const cols = ref.shape[1];
          const d = nonMaxSuppression(am.subarray(b * A * C, (b + 1) * A * C), A, {
            conf: v.conf_thres,
            iou: v.iou_thres,
            nc: v.nc,
            classes: v.classes,
            agnostic: v.agnostic,
            multiLabel: v.multi_label,
            maxDet: v.max_det,
          });
          assert.equal(d.n, ref.shape[0], `${caseName} nms${k} image ${b}: count`);
          for (let i = 0; i < d.n; i++) {
            assert.equal(d.cls[i], r[i * cols + 5]);
            assert.ok(Math.abs(d.conf[i] - r[i * cols + 4]) <= 1e-6);
            for (let q = 0; q < 4; q++) assert.ok(Math.abs(d.boxes[i * 4 + q] - r[i * cols + q]) <= 1e-3);
            for (let q = 0; q < nm; q++) assert.ok(Math.abs(d.coefs[i * nm + q] - r[i * cols + 6 + q]) <= 1e-5);
          }
          checked++;
          if (!v.mask_shapes) continue;
          const proto = protoFromCHW((pr.data as Float32Array).subarray(b * nm * mh * mw), nm, mh, mw);
          const [m, H, W] = v.mask_shapes[`input_${b}`];
          const [, oh, ow] = v.mask_shapes[`native_${b}`];
          const ours = processMask(proto, d.coefs, d.boxes, m, [H, W], true);
          const refM = unpackBits(
            (await readNpy(fixture(REF, "postprocess", caseName, `nms${k}_masks_input_packbits_${b}.npy`)))
              .data as Uint8Array,
            m,
            H,
            W,
          );
          const nb = scaleBoxes([H, W], d.boxes.subarray(0, m * 4), [oh, ow]);
          const refNb = (await readNpy(fixture(REF, "postprocess", caseName, `nms${k}_boxes_native_${b}.npy`)))
            .data as Float32Array;
          for (let q = 0; q < nb.length; q++) assert.ok(Math.abs(nb[q] - refNb[q]) <= 1e-3);
          const native = processMaskNative(proto, d.coefs, nb, m, [oh, ow]);
          const refN = unpackBits(
            (await readNpy(fixture(REF, "postprocess", caseName, `nms${k}_masks_native_packbits_${b}.npy`)))
              .data as Uint8Array,
            m,
            oh,
            ow,
          );
          for (
            const [a, bb, hw] of [[ours, refM, H * W], [native, refN, oh * ow]] as [Uint8Array, Uint8Array, number][]
          ) {
            for (let i = 0; i < m; i++) {
              let dis = 0, area = 0;
              for (let q = i * hw; q < (i + 1) * hw; q++) dis += a[q] !== bb[q] ? 1 : 0, area += bb[q];
              assert.ok(dis <= 0.002 * area, `${caseName} mask ${i}: ${dis} of ${area} pixels differ`);
            }
            masksChecked++;
          }
        }
      }
    }
    assert.ok(checked >= 10 && masksChecked >= 6, `checked ${checked} NMS results, ${masksChecked} mask sets`);
  },
});
