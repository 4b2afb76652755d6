/**
 * SamAutomaticMaskGenerator in tfjs: a point grid per crop layer, points_per_batch decoder batches, predicted-IoU and
 * stability filters, near-crop-edge filter, box NMS per crop, crop NMS, optional small-region removal; outputs COCO
 * uncompressed RLE records in the reference's order and fields.
 */
import { tf } from "../backend/mod.ts";
import type { SamModel } from "./model.ts";
import { SamPredictor } from "./predictor.ts";
import { applyCoords, type RgbImage } from "./transforms.ts";
import {
  areaFromRle,
  buildAllLayerPointGrids,
  generateCropBoxes,
  maskToBox,
  maskToRle,
  nms,
  removeSmallRegions,
  type Rle,
  rleToMask,
  stabilityScore,
} from "./amg_utils.ts";

/** SamAutomaticMaskGenerator parameters (reference defaults). */
export interface AmgParams {
  pointsPerSide: number;
  pointsPerBatch: number;
  predIouThresh: number;
  stabilityScoreThresh: number;
  stabilityScoreOffset: number;
  boxNmsThresh: number;
  cropNLayers: number;
  cropNmsThresh: number;
  cropOverlapRatio: number;
  cropNPointsDownscaleFactor: number;
  minMaskRegionArea: number;
}

/** The reference defaults (points_per_side 32, points_per_batch 64, 0.88, 0.95, 1.0, 0.7, 0, 0.7, 512/1500, 1, 0). */
export const AMG_DEFAULTS: AmgParams = {
  pointsPerSide: 32,
  pointsPerBatch: 64,
  predIouThresh: 0.88,
  stabilityScoreThresh: 0.95,
  stabilityScoreOffset: 1.0,
  boxNmsThresh: 0.7,
  cropNLayers: 0,
  cropNmsThresh: 0.7,
  cropOverlapRatio: 512 / 1500,
  cropNPointsDownscaleFactor: 1,
  minMaskRegionArea: 0,
};

/** One generated mask, fields as in the reference's `uncompressed_rle` output (bbox/crop_box xywh). */
export interface AmgMask {
  segmentation: Rle;
  area: number;
  bbox: [number, number, number, number];
  predicted_iou: number;
  stability_score: number;
  point_coords: [number, number][];
  crop_box: [number, number, number, number];
}

interface Rec {
  rle: Rle;
  box: [number, number, number, number]; // xyxy in original image
  iou: number;
  stab: number;
  point: [number, number];
  crop: number[];
}

/** Chunk of masks upsampled at once (bounds memory; results are identical to one batch). */
const UPSAMPLE_CHUNK = 8;
/** Prompts per decoder call inside one points_per_batch batch. */
const DECODER_CHUNK = 16;

/** Automatic mask generator bound to a model. */
export class SamAutomaticMaskGenerator {
  readonly params: AmgParams;
  readonly predictor: SamPredictor;
  readonly pointGrids: Float64Array[];

  constructor(model: SamModel, params: Partial<AmgParams> = {}) {
    this.params = { ...AMG_DEFAULTS, ...params };
    this.predictor = new SamPredictor(model);
    const p = this.params;
    this.pointGrids = buildAllLayerPointGrids(p.pointsPerSide, p.cropNLayers, p.cropNPointsDownscaleFactor);
  }

  /** Generate masks for an RGB image. */
  generate(img: RgbImage): AmgMask[] {
    const p = this.params;
    const { boxes: crops, layerIdxs } = generateCropBoxes([img.height, img.width], p.cropNLayers, p.cropOverlapRatio);
    let recs: Rec[] = [];
    for (let c = 0; c < crops.length; c++) recs.push(...this.processCrop(img, crops[c], layerIdxs[c]));
    if (crops.length > 1) {
      const bx = recs.flatMap((r) => r.box);
      const sc = recs.map((r) => 1 / ((r.crop[2] - r.crop[0]) * (r.crop[3] - r.crop[1])));
      recs = nms(bx, sc, p.cropNmsThresh).map((i) => recs[i]);
    }
    if (p.minMaskRegionArea > 0) recs = this.postprocessSmallRegions(recs, Math.max(p.boxNmsThresh, p.cropNmsThresh));
    return recs.map((r) => ({
      segmentation: r.rle,
      area: areaFromRle(r.rle),
      bbox: [r.box[0], r.box[1], r.box[2] - r.box[0], r.box[3] - r.box[1]],
      predicted_iou: r.iou,
      stability_score: r.stab,
      point_coords: [r.point],
      crop_box: [r.crop[0], r.crop[1], r.crop[2] - r.crop[0], r.crop[3] - r.crop[1]],
    }));
  }

  private processCrop(img: RgbImage, crop: number[], layer: number): Rec[] {
    const p = this.params;
    const [x0, y0, x1, y1] = crop;
    const cw = x1 - x0, ch = y1 - y0;
    const cropped = new Uint8Array(cw * ch * 3);
    for (let y = 0; y < ch; y++) {
      cropped.set(img.data.subarray(((y + y0) * img.width + x0) * 3, ((y + y0) * img.width + x1) * 3), y * cw * 3);
    }
    this.predictor.setImage({ data: cropped, height: ch, width: cw });
    const grid = this.pointGrids[layer];
    const nPts = grid.length / 2;
    const pts = new Float64Array(grid.length);
    for (let i = 0; i < nPts; i++) {
      pts[i * 2] = grid[i * 2] * cw;
      pts[i * 2 + 1] = grid[i * 2 + 1] * ch;
    }
    let recs: Rec[] = [];
    for (let s = 0; s < nPts; s += p.pointsPerBatch) {
      const B = Math.min(p.pointsPerBatch, nPts - s);
      recs.push(...this.processBatch(pts.subarray(s * 2, (s + B) * 2), [ch, cw], crop, [img.height, img.width]));
    }
    this.predictor.reset();
    const keep = nms(recs.flatMap((r) => r.box), recs.map((r) => r.iou), p.boxNmsThresh);
    recs = keep.map((i) => recs[i]);
    for (const r of recs) {
      r.box = [r.box[0] + x0, r.box[1] + y0, r.box[2] + x0, r.box[3] + y0];
      r.point = [r.point[0] + x0, r.point[1] + y0];
    }
    return recs;
  }

  private processBatch(points: Float64Array, imHW: [number, number], crop: number[], origHW: [number, number]): Rec[] {
    const p = this.params;
    const B = points.length / 2;
    const S = this.predictor.model.imgSize;
    const coords = applyCoords(points, imHW, S);
    const labels = new Int32Array(B).fill(1);
    // decoder in sub-batches (bounds wasm memory; every prompt is independent, so results are identical)
    const lows: tf.Tensor4D[] = [], ious: tf.Tensor2D[] = [];
    for (let s = 0; s < B; s += DECODER_CHUNK) {
      const b = Math.min(DECODER_CHUNK, B - s);
      const r = this.predictor.predictTorch(
        b,
        { coords: coords.subarray(s * 2, (s + b) * 2), labels: labels.subarray(s, s + b), n: 1 },
        null,
        null,
        true,
      );
      lows.push(r.lowRes);
      ious.push(r.iou);
    }
    const lowRes = lows.length === 1 ? lows[0] : tf.concat(lows, 0);
    const iou = ious.length === 1 ? ious[0] : tf.concat(ious, 0);
    if (lows.length > 1) tf.dispose([...lows, ...ious]);
    const [, h4, w4, C] = lowRes.shape;
    const iouD = iou.dataSync() as Float32Array;
    const kept: number[] = [];
    for (let i = 0; i < B * C; i++) if (!(p.predIouThresh > 0) || iouD[i] > p.predIouThresh) kept.push(i);
    const flat = tf.tidy(() => lowRes.transpose([0, 3, 1, 2]).reshape([B * C, h4, w4, 1]));
    lowRes.dispose();
    iou.dispose();
    const [H, W] = imHW;
    const recs: Rec[] = [];
    const thr = this.predictor.model.maskThreshold;
    for (let s = 0; s < kept.length; s += UPSAMPLE_CHUNK) {
      const idx = kept.slice(s, s + UPSAMPLE_CHUNK);
      const full = tf.tidy(() => this.predictor.upscale(tf.gather(flat, tf.tensor1d(idx, "int32")) as tf.Tensor4D));
      const fd = full.dataSync() as Float32Array;
      full.dispose();
      for (let k = 0; k < idx.length; k++) {
        const logits = fd.subarray(k * H * W, (k + 1) * H * W);
        const stab = stabilityScore(logits, thr, p.stabilityScoreOffset);
        if (p.stabilityScoreThresh > 0 && !(stab >= p.stabilityScoreThresh)) continue;
        const mask = new Uint8Array(H * W);
        for (let i = 0; i < H * W; i++) mask[i] = logits[i] > thr ? 1 : 0;
        const box = maskToBox(mask, H, W);
        if (nearCropEdge(box, crop, origHW)) continue;
        const full = uncropMask(mask, crop, origHW);
        const pi = Math.floor(idx[k] / C);
        recs.push({
          rle: maskToRle(full, origHW[0], origHW[1]),
          box,
          iou: iouD[idx[k]],
          stab,
          point: [points[pi * 2], points[pi * 2 + 1]],
          crop,
        });
      }
    }
    flat.dispose();
    return recs;
  }

  private postprocessSmallRegions(recs: Rec[], nmsThresh: number): Rec[] {
    if (recs.length === 0) return recs;
    const minA = this.params.minMaskRegionArea;
    const masks: Uint8Array[] = [];
    const scores: number[] = [];
    const boxes: number[] = [];
    for (const r of recs) {
      const [h, w] = r.rle.size;
      let m = rleToMask(r.rle);
      let changed: boolean;
      [m, changed] = removeSmallRegions(m, h, w, minA, "holes");
      let unchanged = !changed;
      [m, changed] = removeSmallRegions(m, h, w, minA, "islands");
      unchanged = unchanged && !changed;
      masks.push(m);
      scores.push(unchanged ? 1 : 0);
      boxes.push(...maskToBox(m, h, w));
    }
    const keep = nms(boxes, scores, nmsThresh);
    return keep.map((i) => {
      const r = recs[i];
      if (scores[i] === 0) {
        const [h, w] = r.rle.size;
        return { ...r, rle: maskToRle(masks[i], h, w), box: boxes.slice(i * 4, i * 4 + 4) as Rec["box"] };
      }
      return r;
    });
  }
}

/** is_box_near_crop_edge (atol 20): box in crop coordinates, near a crop edge that is not an image edge. */
export function nearCropEdge(box: number[], crop: number[], origHW: [number, number], atol = 20): boolean {
  const orig = [0, 0, origHW[1], origHW[0]];
  const ub = [box[0] + crop[0], box[1] + crop[1], box[2] + crop[0], box[3] + crop[1]];
  for (let i = 0; i < 4; i++) {
    const nearCrop = Math.abs(ub[i] - crop[i]) <= atol;
    const nearImg = Math.abs(ub[i] - orig[i]) <= atol;
    if (nearCrop && !nearImg) return true;
  }
  return false;
}

/** uncrop_masks: place a crop-sized mask into the full image (zero elsewhere). */
export function uncropMask(mask: Uint8Array, crop: number[], origHW: [number, number]): Uint8Array {
  const [x0, y0, x1, y1] = crop;
  const [H, W] = origHW;
  if (x0 === 0 && y0 === 0 && x1 === W && y1 === H) return mask;
  const cw = x1 - x0, ch = y1 - y0;
  const out = new Uint8Array(H * W);
  for (let y = 0; y < ch; y++) out.set(mask.subarray(y * cw, (y + 1) * cw), (y + y0) * W + x0);
  return out;
}
