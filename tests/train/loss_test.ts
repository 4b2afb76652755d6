/** Loss and assigner against ultralytics' stored loss case; CIoU against hand values; gradient vs finite differences. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { readNpy } from "../../lib/io/npy.ts";
import type { NpyArray } from "../../lib/io/npy.ts";
import { ciou, ciouTensor } from "../../lib/train/boxes.ts";
import { gatherRows, type SegBatch, segLoss, type SegPreds } from "../../lib/train/loss.ts";
import { fixture, hasFixture } from "../fixtures.ts";

await initBackend();

const f32 = (a: NpyArray) =>
  a.data instanceof BigInt64Array ? Float32Array.from(a.data, Number) : Float32Array.from(a.data as ArrayLike<number>);
const nums = (a: NpyArray) =>
  a.data instanceof BigInt64Array ? Array.from(a.data, Number) : Array.from(a.data as ArrayLike<number>);

Deno.test("ciou: hand-computed values", () => {
  // identical boxes: IoU 1, no centre distance, no aspect term
  assert.ok(Math.abs(ciou(0, 0, 2, 2, 0, 0, 2, 2) - 1) < 1e-6);
  // [0,0,2,2] vs [1,0,3,2]: IoU = 2/6; enclosing diag^2 = 9+4 = 13; rho^2 = 1; same aspect → CIoU = 1/3 - 1/13
  assert.ok(Math.abs(ciou(0, 0, 2, 2, 1, 0, 3, 2) - (1 / 3 - 1 / 13)) < 1e-6);
  const t = ciouTensor(tf.tensor2d([[0, 0, 2, 2], [1, 0, 3, 2]]), tf.tensor2d([[0, 0, 2, 2], [0, 0, 2, 2]]));
  const v = t.dataSync();
  assert.ok(Math.abs(v[0] - 1) < 1e-5 && Math.abs(v[1] - (1 / 3 - 1 / 13)) < 1e-5);
  t.dispose();
});

Deno.test("gatherRows: gradient equals scatter of dy (no UnsortedSegmentSum)", () => {
  const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const g = tf.grad((t: tf.Tensor) =>
    gatherRows(t as tf.Tensor2D, Int32Array.from([2, 0])).mul([[1, 2], [3, 4]]).sum()
  )(
    x,
  );
  assert.deepEqual(Array.from(g.dataSync()), [3, 4, 0, 0, 1, 2]);
  tf.dispose([x, g]);
});

const LOSS = "reference/loss/case.json";

async function loadCase() {
  const dir = fixture("reference/loss");
  const c = JSON.parse(await Deno.readTextFile(path.join(dir, "case.json")));
  const rd = (n: string) => readNpy(path.join(dir, `${n}.npy`));
  const levelsNp = [await rd("train_level0"), await rd("train_level1"), await rd("train_level2")];
  const mcNp = await rd("train_mc"), protoNp = await rd("train_proto");
  const masks = await rd("batch_masks");
  const batch: SegBatch = {
    cls: nums(await rd("batch_cls")),
    bboxes: f32(await rd("batch_bboxes")),
    batchIdx: nums(await rd("batch_idx")),
    masks: f32(masks),
    masksShape: masks.shape,
  };
  const mk = () => {
    const levels = levelsNp.map((a) =>
      tf.tidy(() => tf.tensor4d(f32(a), a.shape as [number, number, number, number]).transpose([0, 2, 3, 1]))
    ) as tf.Tensor4D[];
    const mc = tf.tidy(() => tf.tensor3d(f32(mcNp), mcNp.shape as [number, number, number]).transpose([0, 2, 1]));
    const proto = tf.tidy(() =>
      tf.tensor4d(f32(protoNp), protoNp.shape as [number, number, number, number]).transpose([0, 2, 3, 1])
    );
    return { levels, mc, proto } as SegPreds;
  };
  return { c, batch, mk, rd };
}

Deno.test({
  name: "segLoss on ultralytics' stored preds: items 1e-4 rel, assigner exact",
  ignore: !hasFixture(LOSS),
  fn: async () => {
    const { c, batch, mk, rd } = await loadCase();
    const before = tf.memory().numTensors;
    const preds = mk();
    const r = segLoss(preds, batch, { strides: [8, 16, 32] });
    const total = r.total.dataSync()[0];
    tf.dispose([r.total, ...preds.levels, preds.mc, preds.proto]);
    assert.equal(tf.memory().numTensors, before);
    for (let i = 0; i < 4; i++) {
      const rel = Math.abs(r.items[i] - c.loss_items[i]) / c.loss_items[i];
      assert.ok(rel <= 1e-4, `item ${i}: ${r.items[i]} vs ${c.loss_items[i]}`);
    }
    assert.ok(Math.abs(total - c.loss_total) / c.loss_total <= 1e-4);
    const fg = nums(await rd("assigner_fg_mask")), idx = nums(await rd("assigner_target_gt_idx"));
    const lab = nums(await rd("assigner_target_labels"));
    let diff = 0;
    for (let i = 0; i < fg.length; i++) {
      if (fg[i] !== r.assign.fgMask[i]) diff++;
      else if (fg[i]) {
        assert.equal(r.assign.targetGtIdx[i], idx[i]);
        assert.equal(r.assign.targetLabels[i], lab[i]);
      }
    }
    assert.ok(diff <= Math.floor(0.005 * c.n_fg), `fg differs at ${diff} anchors`);
  },
});

Deno.test({
  name: "segLoss gradient w.r.t. preds matches central finite differences",
  ignore: !hasFixture(LOSS),
  fn: async () => {
    const { batch, mk } = await loadCase();
    const preds = mk();
    // perturb a handful of entries of one fg-heavy level, mc and proto; float64 is unavailable, so use loose tol
    // targets are detached upstream, so hold the assignment fixed for the finite differences
    const first = segLoss(preds, batch);
    first.total.dispose();
    const lossOf = (p: SegPreds) => tf.tidy(() => segLoss(p, batch, { fixedAssign: first.assign }).total);
    const gradFn = tf.grads((l0: tf.Tensor, mc: tf.Tensor, pr: tf.Tensor) =>
      lossOf({
        levels: [l0 as tf.Tensor4D, preds.levels[1], preds.levels[2]],
        mc: mc as tf.Tensor3D,
        proto: pr as tf.Tensor4D,
      })
    );
    const [g0, gmc, gpr] = gradFn([preds.levels[0], preds.mc, preds.proto]);
    const probe = (t: tf.Tensor, g: tf.Tensor, which: number) => {
      const gd = g.dataSync();
      // pick the entry with the largest |gradient|
      let best = 0;
      for (let i = 0; i < gd.length; i++) if (Math.abs(gd[i]) > Math.abs(gd[best])) best = i;
      const h = 1e-2;
      const evalAt = (delta: number) => {
        const d = t.dataSync().slice();
        d[best] += delta;
        const tt = tf.tensor(d, t.shape);
        const p = { ...preds, levels: [...preds.levels] };
        if (which === 0) p.levels[0] = tt as tf.Tensor4D;
        if (which === 1) p.mc = tt as tf.Tensor3D;
        if (which === 2) p.proto = tt as tf.Tensor4D;
        const l = lossOf(p);
        const v = l.dataSync()[0];
        tf.dispose([l, tt]);
        return v;
      };
      const fd = (evalAt(h) - evalAt(-h)) / (2 * h);
      assert.ok(Math.abs(fd - gd[best]) <= 0.02 * Math.abs(gd[best]) + 1e-3, `fd ${fd} vs grad ${gd[best]}`);
    };
    probe(preds.levels[0], g0, 0);
    probe(preds.mc, gmc, 1);
    probe(preds.proto, gpr, 2);
    tf.dispose([g0, gmc, gpr, ...preds.levels, preds.mc, preds.proto]);
  },
});
