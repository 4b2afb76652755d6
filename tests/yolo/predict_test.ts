/**
 * Tests of the predict pipeline (lib/yolo/predict.ts), its output writers (lib/yolo/outputs.ts) and the predict
 * command's helpers: hand-made outputs, and the real COCO checkpoint on
 * coco128-seg person images (skipped when the checkpoint or the model loader is absent).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { decodeRle } from "../../lib/data/rle.ts";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { predict, type Prediction, type RgbImage } from "../../lib/yolo/predict.ts";
import { cocoResults, cutout, decodeImageFile, yoloTxt } from "../../lib/yolo/outputs.ts";
import { resolveSources, runDir } from "../../cli/predict.ts";
import sharp from "sharp";

/** A hand-made prediction on a 4x6 image: one instance whose mask is the 2x3 rectangle rows 1-2, cols 2-4. */
function handPrediction(): { img: RgbImage; pred: Prediction } {
  const h = 4, w = 6;
  const data = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) data.set([p, 100, 200], p * 3);
  const mask = new Uint8Array(h * w);
  for (let y = 1; y <= 2; y++) for (let x = 2; x <= 4; x++) mask[y * w + x] = 1;
  return {
    img: { data, height: h, width: w, channels: 3 },
    pred: {
      n: 1,
      boxes: new Float32Array([2, 1, 5, 3]),
      conf: new Float32Array([0.875]),
      cls: new Int32Array([3]),
      masks: [mask],
      names: { 3: "girl" },
      origHW: [h, w],
      inputHW: [32, 32],
      speed: { preprocess: 0, inference: 0, postprocess: 0 },
    },
  };
}

Deno.test("outputs: YOLO txt polygon, COCO RLE record and RGBA cut-out of a hand-made instance", async () => {
  const { img, pred } = handPrediction();
  // cv2 outer contour of the rectangle: corners (2,1) (2,2) (4,2) (4,1), normalised by w=6, h=4
  const line = yoloTxt(pred).trim().split(" ");
  assert.equal(line[0], "3");
  const xy = line.slice(1).map(Number);
  assert.equal(xy.length, 8);
  const pts = new Set<string>();
  for (let k = 0; k < 8; k += 2) pts.add(`${Math.round(xy[k] * 6)},${Math.round(xy[k + 1] * 4)}`);
  assert.deepEqual([...pts].sort(), ["2,1", "2,2", "4,1", "4,2"]);
  const [rec] = cocoResults(pred, 7);
  assert.deepEqual(rec.bbox, [2, 1, 3, 2]);
  assert.equal(rec.score, 0.875);
  assert.deepEqual(rec.segmentation.size, [4, 6]);
  const back = decodeRle({ size: [4, 6], counts: rleCounts(rec.segmentation.counts) });
  assert.deepEqual(Array.from(back), Array.from(pred.masks[0]));
  const png = await cutout(img, pred, 0);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [3, 2, 4]);
  // pixel (x=2, y=1) of the image is index 8 → first cut-out pixel (8, 100, 200, 255)
  assert.deepEqual(Array.from(data.subarray(0, 4)), [8, 100, 200, 255]);
});

/** Decode the compressed COCO counts string (pycocotools rleFrString), independently of lib/data/rle.ts. */
function rleCounts(s: string): number[] {
  const cnts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++, k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (cnts.length > 2) x += cnts[cnts.length - 2];
    cnts.push(x);
  }
  return cnts;
}

Deno.test("predict command: sources from folder and glob, numbered run folders", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    for (const f of ["a.jpg", "b.png", "notes.txt", "sub/c.jpg"]) {
      await Deno.mkdir(path.dirname(path.join(tmp, f)), { recursive: true });
      await Deno.writeTextFile(path.join(tmp, f), "x");
    }
    assert.deepEqual(resolveSources(tmp).map((p) => path.relative(tmp, p)), ["a.jpg", "b.png", "sub/c.jpg"]);
    assert.deepEqual(resolveSources(path.join(tmp, "*.jpg")).map((p) => path.relative(tmp, p)), ["a.jpg"]);
    assert.deepEqual(resolveSources(path.join(tmp, "**/*.jpg")).map((p) => path.relative(tmp, p)), [
      "a.jpg",
      "sub/c.jpg",
    ]);
    assert.throws(() => resolveSources(path.join(tmp, "notes.txt")), /not an image/);
    assert.throws(() => resolveSources(path.join(tmp, "*.webp")), /no images found/);
    assert.equal(runDir(tmp, "predict", false), path.join(tmp, "predict"));
    await Deno.mkdir(path.join(tmp, "predict"));
    assert.equal(runDir(tmp, "predict", false), path.join(tmp, "predict2"));
    assert.equal(runDir(tmp, "predict", true), path.join(tmp, "predict"));
    await assert.rejects(() => decodeImageFile(path.join(tmp, "a.jpg")), /a\.jpg: cannot decode image/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

const CKPT = "pretrained/yolov8n-seg-coco.pt";
const haveLoader = await Deno.stat(new URL("../../lib/yolo/load.ts", import.meta.url)).then(() => true, () => false);
if (!haveLoader) console.warn("SKIP: lib/yolo/load.ts not present yet");
const canRun = haveLoader && hasFixture(CKPT) && hasFixture("coco128-seg/labels/train2017");

/** coco128-seg images with labelled persons: file, and person boxes xyxy in pixels from the label polygons. */
async function personImages(max: number): Promise<{ file: string; boxes: number[][] }[]> {
  const lblDir = fixture("coco128-seg", "labels", "train2017");
  const names = [...Deno.readDirSync(lblDir)].map((e) => e.name).filter((n) => n.endsWith(".txt")).sort();
  const out: { file: string; boxes: number[][] }[] = [];
  for (const n of names) {
    const file = fixture("coco128-seg", "images", "train2017", n.replace(/\.txt$/, ".jpg"));
    const polys = (await Deno.readTextFile(path.join(lblDir, n))).split("\n").map((l) => l.trim().split(/\s+/))
      .filter((p) => p[0] === "0" && p.length >= 7).map((p) => p.slice(1).map(Number));
    if (!polys.length) continue;
    const meta = await sharp(file).metadata();
    const w = meta.width!, h = meta.height!;
    // keep images whose persons are not tiny (> 2% of the image), so the check is about segmentation, not recall
    const boxes = polys.map((q) => {
      const xs = q.filter((_, i) => i % 2 === 0), ys = q.filter((_, i) => i % 2 === 1);
      return [Math.min(...xs) * w, Math.min(...ys) * h, Math.max(...xs) * w, Math.max(...ys) * h];
    }).filter((b) => (b[2] - b[0]) * (b[3] - b[1]) > 0.02 * w * h);
    if (boxes.length) out.push({ file, boxes });
    if (out.length >= max) break;
  }
  return out;
}

function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

Deno.test({
  name: "predict (real COCO checkpoint): person detections match labelled persons; masks inside boxes; no leaks",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend();
    const { loadYoloModel } = await import("../../lib/yolo/load.ts");
    const model = await loadYoloModel(fixture(CKPT), { verbose: false });
    try {
      const imgs = await personImages(10);
      assert.ok(imgs.length >= 8, `only ${imgs.length} person images found`);
      let hits = 0;
      const decoded: RgbImage[] = [];
      for (const im of imgs) decoded.push(await decodeImageFile(im.file));
      const preds = await predict(model, decoded, { imgsz: 640, conf: 0.25, classes: [0], batch: 2 });
      for (let k = 0; k < imgs.length; k++) {
        const p = preds[k];
        assert.deepEqual(p.origHW, [decoded[k].height, decoded[k].width]);
        const ok = imgs[k].boxes.some((g) => {
          for (let i = 0; i < p.n; i++) {
            if (p.cls[i] === 0 && iou(p.boxes.subarray(i * 4, i * 4 + 4), g) >= 0.5) return true;
          }
          return false;
        });
        if (ok) hits++;
        // every mask lies inside its box, up to one proto cell (4 input px) of bilinear spill, in original pixels
        const [h, w] = p.origHW;
        const m = 4 / Math.min(p.inputHW[0] / h, p.inputHW[1] / w) + 1;
        for (let i = 0; i < p.n; i++) {
          const [x1, y1, x2, y2] = p.boxes.subarray(i * 4, i * 4 + 4);
          let area = 0, outside = 0;
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) {
              if (!p.masks[i][y * w + x]) continue;
              area++;
              if (x < x1 - m || x > x2 + m || y < y1 - m || y > y2 + m) outside++;
            }
          }
          assert.ok(area > 0 && outside === 0, `image ${k} instance ${i}: area ${area}, ${outside} px outside box`);
        }
      }
      console.log(`person detections with IoU >= 0.5: ${hits}/${imgs.length} images`);
      assert.ok(hits >= Math.ceil(0.7 * imgs.length), `${hits}/${imgs.length}`);

      // retina masks agree with the default path (same detections, masks from full-res logits)
      const [a] = await predict(model, [decoded[0]], { imgsz: 320 });
      const [b] = await predict(model, [decoded[0]], { imgsz: 320, retinaMasks: true });
      assert.equal(a.n, b.n);
      for (let i = 0; i < a.n; i++) {
        let inter = 0, uni = 0;
        for (let q = 0; q < a.masks[i].length; q++) {
          inter += a.masks[i][q] & b.masks[i][q], uni += a.masks[i][q] | b.masks[i][q];
        }
        assert.ok(inter / uni > 0.85, `retina vs default mask IoU ${inter / uni}`);
      }

      // memory: 20 predictions do not grow the tensor count (after one warm-up call)
      const small: RgbImage = decoded[0];
      await predict(model, [small], { imgsz: 160 });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 20; i++) await predict(model, [small], { imgsz: 160 });
      assert.equal(tf.memory().numTensors, before);
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  name: "predict command: writes overlays, labels, COCO JSON, crops, masks; a re-run skips finished images",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { command } = await import("../../cli/predict.ts");
    const { parseCommandArgs } = await import("../../lib/cli/args.ts");
    await initBackend();
    const tmp = await Deno.makeTempDir();
    const src = fixture("coco128-seg", "images", "train2017");
    const argv = [
      `source=${src}/00000000003*.jpg`,
      `model=${fixture(CKPT)}`,
      "imgsz=320",
      "batch=2",
      `project=${tmp}`,
      "exist_ok=true",
      "quiet=true",
      "save_txt",
      "save_coco",
      "save_crop",
      "save_masks",
    ];
    try {
      // (tensor counts are checked in the predict test; YoloSegModel.dispose itself is not under test here)
      assert.equal(await command.run(parseCommandArgs(command, argv)), 0);
      const dir = path.join(tmp, "predict");
      const stemsDone = ["000000000030", "000000000034", "000000000036"];
      for (const s of stemsDone) {
        await Deno.stat(path.join(dir, `${s}.jpg`));
        const txt = await Deno.readTextFile(path.join(dir, "labels", `${s}.txt`));
        for (const line of txt.trim().split("\n").filter((l) => l)) {
          const v = line.split(" ").map(Number);
          assert.ok(Number.isInteger(v[0]) && v.length >= 7 && v.length % 2 === 1, line.slice(0, 80));
          assert.ok(v.slice(1).every((x) => x >= 0 && x <= 1));
        }
      }
      const coco = JSON.parse(await Deno.readTextFile(path.join(dir, "predictions.json")));
      assert.ok(coco.length >= 3 && coco.every((r: { image_id: number }) => [30, 34, 36].includes(r.image_id)));
      const crops = [...Deno.readDirSync(path.join(dir, "crops"))].length;
      const masks = [...Deno.readDirSync(path.join(dir, "masks"))].length;
      assert.ok(crops >= 1 && masks === coco.length);
      // second run into the same folder: nothing to do, predictions.json unchanged
      const t0 = performance.now();
      assert.equal(await command.run(parseCommandArgs(command, argv)), 0);
      assert.ok(performance.now() - t0 < 2000);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(path.join(dir, "predictions.json"))), coco);
      // bad input: a UserError, no crash
      await assert.rejects(
        () => command.run(parseCommandArgs(command, [...argv.slice(0, 2), "classes=a,b"])),
        /classes/,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
