/** Refinement evaluation: the in-memory scorer gives ultralytics' perfect-prediction AP; every method runs end to end. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { evaluateInstances } from "../../lib/metrics/evaluate.ts";
import { readYoloDataset } from "../../lib/data/yolo.ts";
import { labelsFromItem } from "../../lib/dataset/labels.ts";
import { rasterizePolygons } from "../../lib/data/mask.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { evaluateRefinement } from "../../lib/refine/evaluate.ts";

const COCO = "coco128-seg/coco128-seg.yaml";

Deno.test({
  name: "evaluateInstances: ground truth given back as predictions scores mAP50-95 0.995 (ultralytics' ceiling)",
  ignore: !hasFixture(COCO),
  fn: async () => {
    const yaml = fixture(COCO);
    const ds = readYoloDataset(yaml, "val");
    const byFile = new Map(ds.items.map((it) => [it.imageFile, it]));
    const r = await evaluateInstances(yaml, "val", async (file) => {
      const lab = labelsFromItem(byFile.get(file)!);
      const img = await decodeImage(file);
      const { height: h, width: w } = img;
      const px = lab.polygons.map((q) => Float32Array.from(q, (v, j) => v * (j % 2 ? h : w)));
      const boxes = px.flatMap((q) => {
        let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
        for (let i = 0; i < q.length; i += 2) {
          x1 = Math.min(x1, q[i]), x2 = Math.max(x2, q[i]), y1 = Math.min(y1, q[i + 1]), y2 = Math.max(y2, q[i + 1]);
        }
        return [x1, y1, x2, y2];
      });
      return {
        n: px.length,
        boxes: Float32Array.from(boxes),
        conf: new Float32Array(px.length).fill(0.9),
        cls: Int32Array.from(lab.cls),
        masks: px.map((q) => rasterizePolygons([q], h, w, 1)),
      };
    }, { limit: 6 });
    assert.equal(r.images, 6);
    assert.ok(Math.abs(r.box["mAP50-95"] - 0.995) < 1e-9, `box ${r.box["mAP50-95"]}`);
    assert.ok(Math.abs(r.mask["mAP50-95"] - 0.995) < 1e-9, `mask ${r.mask["mAP50-95"]}`);
  },
});

Deno.test({
  name: "evaluateRefinement runs none / vote / box with the fixture SAM (random weights: structure only)",
  ignore: !hasFixture(COCO) || !hasFixture("reference/sam/vit_tiny") || !hasFixture("pretrained/yolov8n-seg-coco.pt"),
  fn: async () => {
    await initBackend();
    const { loadYoloModel } = await import("../../lib/yolo/load.ts");
    const { SamModel } = await import("../../lib/sam/model.ts");
    const model = await loadYoloModel(fixture("pretrained/yolov8n-seg-coco.pt"), { verbose: false });
    const sam = await SamModel.load(path.join(fixture("reference/sam/vit_tiny"), "model.pth"));
    try {
      for (const method of ["none", "vote", "box"] as const) {
        const r = await evaluateRefinement(model, sam, fixture(COCO), "val", method, {
          imgsz: 320,
          limit: 1,
          classes: [0],
          refine: { amg: { pointsPerSide: 4, cropNLayers: 0 } },
        });
        assert.equal(r.images, 1);
        assert.equal(r.method, method);
        for (const v of [r.box["mAP50-95"], r.mask["mAP50-95"], r.msPerImage.predict]) assert.ok(Number.isFinite(v));
        if (method === "none") assert.equal(r.msPerImage.refine < 50, true);
      }
    } finally {
      sam.dispose();
      model.dispose();
    }
  },
});
