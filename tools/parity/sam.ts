/**
 * Parity category `sam`: Segment Anything / MobileSAM against the reference fixtures (`sam/<model>/<image>/...`):
 * checkpoint parsing (bit-exact vs weights/*.npy and sha256), PIL resize, preprocessing stats, encoder intermediates
 * and embedding, prompt-encoder outputs, decoder outputs (from the fixture embedding and end to end), masks, decoder
 * debug tensors and the automatic mask generator. Everything is driven by index.json / manifest.json / meta.json, so
 * unseen fixture sets of the same layout work. Tolerances from the fixture README.
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory, ParityOptions } from "./types.ts";
import { tf } from "../../lib/backend/mod.ts";
import { type NpyArray, readNpySync, toNumbers } from "../../lib/io/npy.ts";
import { loadNpyFolder, loadSamStateDict, type StateDict } from "../../lib/sam/weights.ts";
import { SamModel } from "../../lib/sam/model.ts";
import { applyCoords, applyImage, postprocessMasks, preprocess, type RgbImage } from "../../lib/sam/transforms.ts";
import { SamAutomaticMaskGenerator } from "../../lib/sam/amg.ts";
import { buildAllLayerPointGrids, generateCropBoxes, rleToMask } from "../../lib/sam/amg_utils.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const TOL = {
  encVit: 1e-4,
  encTiny: 2e-4,
  slice: 2e-4,
  stats: 1e-4,
  coords: 1e-4,
  prompt: 1e-5,
  dec: 1e-4,
  decE2E: 5e-4,
  iou: 1e-4,
  iouE2E: 5e-4,
  maskFrac: 1e-3,
};

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function readJson(p: string): Json {
  return JSON.parse(Deno.readTextFileSync(p));
}

function fmt(x: number): string {
  return x === 0 ? "0" : x.toExponential(2);
}

/** max |a-b| and rel = max|a-b| / max|ref|. */
function errs(out: ArrayLike<number>, ref: ArrayLike<number>): { maxabs: number; rel: number } {
  let m = 0, mr = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(out[i] - ref[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
    const r = Math.abs(ref[i]);
    if (r > mr) mr = r;
  }
  return { maxabs: m, rel: mr > 0 ? m / mr : m };
}

function stats(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

function res(name: string, ok: boolean, detail: string): CaseResult {
  return { name, verdict: ok ? "PASS" : "FAIL", detail };
}

/** Bring an NHWC tensor into the reference layout named by `layout` (NCHW / tokens / NHWC). */
function toLayout(t: tf.Tensor, layout: string, refShape: number[]): tf.Tensor {
  return tf.tidy(() => {
    if (layout.startsWith("NCHW")) return t.transpose([0, 3, 1, 2]);
    if (t.rank === 4 && refShape.length === 3) return t.reshape([t.shape[0], -1, t.shape[3]!]);
    return t.clone();
  });
}

/**
 * Compare a port tensor (already in the reference layout, full size) with a reference file that may be
 * channel-sliced (`desc.channel_slice`, `desc.channel_axis`) and carries `desc.full_stats`.
 */
function compareTensor(name: string, ours: tf.Tensor, refFile: string, tol: number, desc?: Json): CaseResult[] {
  const ref = readNpySync(refFile);
  const out: CaseResult[] = [];
  const sliced = desc?.channel_slice && ref.shape.some((s, i) => s !== ours.shape[i]);
  let cmp = ours;
  if (sliced) {
    const ax = desc.channel_axis as number;
    const begin = ours.shape.map(() => 0);
    const size = ours.shape.slice() as number[];
    begin[ax] = desc.channel_slice[0];
    size[ax] = desc.channel_slice[1] - desc.channel_slice[0];
    cmp = tf.slice(ours, begin, size);
  }
  if (cmp.shape.join(",") !== ref.shape.join(",")) {
    out.push(res(name, false, `shape ${cmp.shape} vs ref ${ref.shape}`));
    if (cmp !== ours) cmp.dispose();
    return out;
  }
  const e = errs(cmp.dataSync() as Float32Array, toNumbers(ref));
  const t = sliced ? Math.max(tol, TOL.slice) : tol;
  out.push(res(name, e.rel <= t, `rel=${fmt(e.rel)} maxabs=${fmt(e.maxabs)} (tol rel ${t}${sliced ? ", slice" : ""})`));
  if (cmp !== ours) cmp.dispose();
  if (sliced && desc.full_stats) {
    const s = stats(ours.dataSync() as Float32Array);
    const fs = desc.full_stats;
    const scale = Math.max(Math.abs(fs.mean), fs.std);
    const dm = Math.abs(s.mean - fs.mean) / scale, ds = Math.abs(s.std - fs.std) / fs.std;
    out.push(
      res(
        `${name}/full_stats`,
        dm <= TOL.stats && ds <= TOL.stats,
        `mean d=${fmt(dm)} std d=${fmt(ds)} (relative to max(|mean|,std) / std; tol ${TOL.stats})`,
      ),
    );
  }
  return out;
}

function nchwToNhwc(a: NpyArray): tf.Tensor4D {
  return tf.tidy(() =>
    tf.tensor4d(toNumbers(a) as Float32Array, a.shape as [number, number, number, number]).transpose([0, 2, 3, 1])
  );
}

async function sha256(data: ArrayBufferView): Promise<string> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(h, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function* checkWeights(name: string, dir: string): AsyncGenerator<CaseResult> {
  const pth = path.join(dir, "model.pth");
  const keysFile = path.join(dir, "weights", "keys.json");
  if (!exists(pth) || !exists(keysFile)) {
    yield { name: `${name}/model.pth`, verdict: "SKIP", detail: "model.pth or weights/keys.json absent" };
    return;
  }
  let sd: StateDict;
  try {
    sd = await loadSamStateDict(pth);
  } catch (e) {
    yield { name: `${name}/model.pth`, verdict: "SKIP", detail: `torch reader unavailable: ${(e as Error).message}` };
    return;
  }
  const keys = readJson(keysFile).keys as { name: string; shape: number[]; dtype: string; sha256: string }[];
  const npy = loadNpyFolder(path.join(dir, "weights"));
  let bad = 0, shaBad = 0, exact = 0, maxd = 0;
  const problems: string[] = [];
  const sameSet = keys.length === sd.size && keys.every((k) => sd.has(k.name));
  for (const k of keys) {
    const t = sd.get(k.name);
    if (!t || t.shape.join(",") !== k.shape.join(",")) {
      bad++;
      problems.push(k.name);
      continue;
    }
    // sha256 over the raw little-endian bytes in the stored dtype
    const raw = k.dtype === "int64" || k.dtype === "torch.int64"
      ? BigInt64Array.from(t.data as ArrayLike<number>, (v) => BigInt(v))
      : t.data;
    if ((await sha256(raw)) !== k.sha256) {
      shaBad++;
      problems.push(`${k.name}(sha)`);
    }
    const n = npy.get(k.name);
    if (n) {
      const e = errs(t.data as ArrayLike<number>, n.data as ArrayLike<number>);
      maxd = Math.max(maxd, e.maxabs);
      if (e.maxabs === 0) exact++;
    }
  }
  yield res(
    `${name}/model.pth`,
    sameSet && bad === 0 && shaBad === 0 && maxd === 0,
    `${sd.size} keys (ref ${keys.length}, same set ${sameSet}), shape mismatches ${bad}, sha256 mismatches ${shaBad}, ` +
      `${exact}/${npy.size} npy tensors bit-exact (max abs diff ${maxd})${
        problems.length ? " " + problems.slice(0, 3) : ""
      }`,
  );
}

function readImage(file: string): RgbImage {
  const a = readNpySync(file);
  return { data: a.data as Uint8Array, height: a.shape[0], width: a.shape[1] };
}

async function* checkImage(
  mname: string,
  model: SamModel,
  dir: string,
  opts: ParityOptions,
): AsyncGenerator<CaseResult> {
  const meta = readJson(path.join(dir, "meta.json"));
  const img = path.basename(dir);
  const N = `sam/${mname}/${img}`;
  const S = model.imgSize;
  const orig = meta.original_size as [number, number];
  const encTol = model.kind === "vit" ? TOL.encVit : TOL.encTiny;
  // resize
  const image = readImage(path.join(dir, "image.npy"));
  const refResized = readImage(path.join(dir, "input_resized.npy"));
  const mine = applyImage(image, S);
  {
    let nd = 0, md = 0;
    const same = mine.height === refResized.height && mine.width === refResized.width;
    if (same) {
      for (let i = 0; i < mine.data.length; i++) {
        const d = Math.abs(mine.data[i] - refResized.data[i]);
        if (d) nd++;
        if (d > md) md = d;
      }
    }
    const frac = nd / refResized.data.length;
    yield res(
      `${N}/input_resized`,
      same && md <= 1 && frac <= 0.01,
      same ? `max abs diff ${md}, differing ${nd} (${fmt(frac)})` : `shape ${mine.height}x${mine.width} vs ref`,
    );
  }
  // preprocessing stats
  const x = preprocess(refResized, S);
  {
    const d = tf.tidy(() => x.transpose([0, 3, 1, 2]).dataSync() as Float32Array);
    const st = stats(d);
    let mn = Infinity, mx = -Infinity;
    for (const v of d) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const r = meta.input_preprocessed_stats;
    const dev = Math.max(
      Math.abs(st.mean - r.mean),
      Math.abs(st.std - r.std),
      Math.abs(mn - r.min),
      Math.abs(mx - r.max),
    );
    yield res(`${N}/input_preprocessed_stats`, dev <= 1e-5, `max dev ${fmt(dev)} (tol 1e-5)`);
  }
  // encoder
  const inter = meta.encoder_intermediates ?? {};
  const results: CaseResult[] = [];
  const t0 = performance.now();
  const emb = model.encoder.forward(x, (name, t) => {
    const desc = inter[name];
    const f = path.join(dir, "encoder", desc?.file ?? `${name}.npy`);
    if (!exists(f)) return;
    const refShape = readNpySync(f).shape;
    const ours = toLayout(t, desc?.layout ?? "NHWC", desc?.full_stats?.shape ?? refShape);
    results.push(...compareTensor(`${N}/encoder/${name}`, ours, f, encTol, desc));
    ours.dispose();
  });
  const encMs = performance.now() - t0;
  x.dispose();
  yield* results;
  {
    const ours = tf.tidy(() => emb.transpose([0, 3, 1, 2]));
    for (const r of compareTensor(`${N}/image_embedding`, ours, path.join(dir, "image_embedding.npy"), encTol)) {
      r.detail += ` [encoder ${encMs.toFixed(0)} ms]`;
      yield r;
    }
    ours.dispose();
  }
  // prompt cases: decoder input = fixture embedding, and end to end from our embedding
  const refEmb = nchwToNhwc(readNpySync(path.join(dir, "image_embedding.npy")));
  for (const pc of meta.prompt_cases ?? []) {
    const cn = `${N}/prompts/${pc.name}`;
    const pd = path.join(dir, "prompts", pc.name);
    const inp = pc.inputs;
    const pts = inp.point_coords ? applyCoords(inp.point_coords.flat(), orig, S) : null;
    const box = inp.box ? applyCoords(inp.box, orig, S) : null;
    if (pts && exists(path.join(pd, "transformed_point_coords.npy"))) {
      const e = errs(pts, toNumbers(readNpySync(path.join(pd, "transformed_point_coords.npy"))));
      yield res(`${cn}/transformed_point_coords`, e.maxabs <= TOL.coords, `maxabs=${fmt(e.maxabs)} px`);
    }
    if (box && exists(path.join(pd, "transformed_box.npy"))) {
      const e = errs(box, toNumbers(readNpySync(path.join(pd, "transformed_box.npy"))));
      yield res(`${cn}/transformed_box`, e.maxabs <= TOL.coords, `maxabs=${fmt(e.maxabs)} px`);
    }
    const points = pts ? { coords: pts, labels: Int32Array.from(inp.point_labels), n: inp.point_labels.length } : null;
    const sparse = model.prompt.sparse(points, box, 1);
    yield* compareTensor(`${cn}/sparse_embeddings`, sparse, path.join(pd, "sparse_embeddings.npy"), TOL.prompt);
    let maskIn: tf.Tensor4D | null = null;
    const miFile = path.join(pd, "mask_input.npy");
    if (exists(miFile)) {
      const mi = readNpySync(miFile);
      maskIn = tf.tensor4d(toNumbers(mi) as Float32Array, [1, mi.shape[1], mi.shape[2], 1]);
    }
    const dense = model.prompt.dense(maskIn);
    maskIn?.dispose();
    if (exists(path.join(pd, "dense_embeddings.npy"))) {
      const ours = tf.tidy(() => dense.transpose([0, 3, 1, 2]));
      yield* compareTensor(
        `${cn}/dense_embeddings`,
        ours,
        path.join(pd, "dense_embeddings.npy"),
        TOL.prompt,
        typeof pc.dense_embeddings === "object" ? pc.dense_embeddings : undefined,
      );
      ours.dispose();
    }
    const multi = !!pc.multimask_output;
    for (
      const [tag, features, tolD, tolI] of [["", refEmb, TOL.dec, TOL.iou], [
        "e2e/",
        emb,
        TOL.decE2E,
        TOL.iouE2E,
      ]] as const
    ) {
      const dec = model.decoder.predictMasks(features, model.prompt.denseImagePe(), sparse, dense, tag === "");
      const [B, h4, w4, nm] = dec.masks.shape;
      const s = multi ? 1 : 0, n = multi ? nm - 1 : 1;
      const sel = tf.tidy(() => dec.masks.slice([0, 0, 0, s], [B, h4, w4, n]));
      const lowNchw = tf.tidy(() => sel.transpose([3, 1, 2, 0]).reshape([n, h4, w4]));
      yield* compareTensor(`${cn}/${tag}low_res_logits`, lowNchw, path.join(pd, "low_res_logits.npy"), tolD);
      lowNchw.dispose();
      const iouAll = dec.iou.dataSync() as Float32Array;
      const iou = iouAll.slice(s, s + n);
      const ie = errs(iou, toNumbers(readNpySync(path.join(pd, "iou_predictions.npy"))));
      yield res(`${cn}/${tag}iou_predictions`, ie.maxabs <= tolI, `maxabs=${fmt(ie.maxabs)} (tol ${tolI})`);
      const full = postprocessMasks(sel as tf.Tensor4D, S, meta.input_size, orig);
      sel.dispose();
      const fullNchw = tf.tidy(() => full.transpose([3, 1, 2, 0]).reshape([n, orig[0], orig[1]]));
      full.dispose();
      const fd = fullNchw.dataSync() as Float32Array;
      const mref = toNumbers(readNpySync(path.join(pd, "masks.npy")));
      const HW = orig[0] * orig[1];
      let worst = 0;
      for (let c = 0; c < n; c++) {
        let nd = 0;
        for (let i = 0; i < HW; i++) if ((fd[c * HW + i] > 0 ? 1 : 0) !== mref[c * HW + i]) nd++;
        worst = Math.max(worst, nd / HW);
      }
      yield res(`${cn}/${tag}masks`, worst <= TOL.maskFrac, `worst differing fraction ${fmt(worst)} (tol 1e-3)`);
      const fr = path.join(pd, "mask_logits_fullres.npy");
      if (exists(fr)) yield* compareTensor(`${cn}/${tag}mask_logits_fullres`, fullNchw, fr, tolD);
      fullNchw.dispose();
      if (dec.debug) {
        const dd = dec.debug;
        const di = pc.decoder_intermediates ?? {};
        const dbg: [string, tf.Tensor, Json][] = [
          ["tokens_out", dd.tokensOut, undefined],
          ["image_tokens_out", dd.imageTokensOut, di.image_tokens_out],
          ["upscaled_embedding", tf.tidy(() => dd.upscaled.transpose([0, 3, 1, 2])), di.upscaled_embedding],
          ["all_iou_pred", dd.allIou, undefined],
        ];
        for (const [nm2, t, desc] of dbg) {
          const f = path.join(pd, "decoder", `${nm2}.npy`);
          if (exists(f)) yield* compareTensor(`${cn}/decoder/${nm2}`, t, f, TOL.dec, desc);
        }
        dbg[2][1].dispose();
        tf.dispose([dd.tokensOut, dd.imageTokensOut, dd.upscaled]);
      }
      tf.dispose([dec.masks, dec.iou]);
    }
    tf.dispose([sparse, dense]);
  }
  refEmb.dispose();
  emb.dispose();
  // automatic mask generator
  for (const f of [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^amg_.*\.json$/.test(n)).sort()) {
    // amg=0 skips the generator checks; amg=TEXT runs only the amg_*.json files whose name contains TEXT
    if (opts.extra.amg === "0") break;
    if (opts.extra.amg && !f.includes(opts.extra.amg)) continue;
    yield* checkAmg(`${N}/${f.replace(/\.json$/, "")}`, model, image, readJson(path.join(dir, f)));
  }
}

function* checkAmg(name: string, model: SamModel, image: RgbImage, ref: Json): Generator<CaseResult> {
  const p = ref.params;
  const params = {
    pointsPerSide: p.points_per_side,
    pointsPerBatch: p.points_per_batch,
    predIouThresh: p.pred_iou_thresh,
    stabilityScoreThresh: p.stability_score_thresh,
    stabilityScoreOffset: p.stability_score_offset,
    boxNmsThresh: p.box_nms_thresh,
    cropNLayers: p.crop_n_layers,
    cropNmsThresh: p.crop_nms_thresh,
    cropOverlapRatio: p.crop_overlap_ratio,
    cropNPointsDownscaleFactor: p.crop_n_points_downscale_factor,
    minMaskRegionArea: p.min_mask_region_area,
  };
  const crops = generateCropBoxes(ref.image_size_hw, params.cropNLayers, params.cropOverlapRatio);
  const cropOk = JSON.stringify(crops.boxes) === JSON.stringify(ref.crop_boxes_xyxy) &&
    JSON.stringify(crops.layerIdxs) === JSON.stringify(ref.crop_layer_idxs);
  yield res(
    `${name}/crop_boxes`,
    cropOk,
    `${crops.boxes.length} boxes ${cropOk ? "exact" : JSON.stringify(crops.boxes)}`,
  );
  const grids = buildAllLayerPointGrids(params.pointsPerSide, params.cropNLayers, params.cropNPointsDownscaleFactor);
  let gerr = 0;
  let gshape = grids.length === ref.point_grids_normalized.length;
  grids.forEach((g, i) => {
    const r = (ref.point_grids_normalized[i] ?? []).flat();
    if (r.length !== g.length) gshape = false;
    else gerr = Math.max(gerr, errs(g, r).maxabs);
  });
  yield res(`${name}/point_grids`, gshape && gerr <= 1e-9, `max abs diff ${fmt(gerr)} (tol 1e-9)`);
  const t0 = performance.now();
  const gen = new SamAutomaticMaskGenerator(model, params);
  const out = gen.generate(image);
  const ms = performance.now() - t0;
  const refMasks = ref.masks as Json[];
  yield res(
    `${name}/num_masks`,
    out.length === refMasks.length,
    `${out.length} vs ref ${refMasks.length} [${ms.toFixed(0)} ms]`,
  );
  if (out.length !== refMasks.length) return;
  let worstIou = 0, worstStab = 0, worstArea = 0, worstBox = 0, worstSeg = 0, orderOk = true;
  for (let i = 0; i < out.length; i++) {
    const o = out[i], r = refMasks[i];
    if (
      Math.abs(o.point_coords[0][0] - r.point_coords[0][0]) > 1e-6 ||
      Math.abs(o.point_coords[0][1] - r.point_coords[0][1]) > 1e-6 ||
      o.crop_box.some((v, k) => v !== r.crop_box[k])
    ) orderOk = false;
    worstIou = Math.max(worstIou, Math.abs(o.predicted_iou - r.predicted_iou));
    worstStab = Math.max(worstStab, Math.abs(o.stability_score - r.stability_score));
    worstArea = Math.max(worstArea, Math.abs(o.area - r.area) / Math.max(1, r.area));
    worstBox = Math.max(worstBox, ...o.bbox.map((v, k) => Math.abs(v - r.bbox[k])));
    const a = rleToMask(o.segmentation), b = rleToMask(r.segmentation);
    let nd = 0;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) nd++;
    worstSeg = Math.max(worstSeg, nd / a.length);
  }
  yield res(`${name}/order`, orderOk, `masks matched by (point_coords, crop_box) in order: ${orderOk}`);
  yield res(
    `${name}/masks`,
    worstIou <= 5e-4 && worstStab <= 2e-3 && worstArea <= 1e-3 && worstBox <= 1 && worstSeg <= 1e-3,
    `iou d=${fmt(worstIou)} stab d=${fmt(worstStab)} area rel=${fmt(worstArea)} bbox d=${worstBox} seg frac=${
      fmt(worstSeg)
    }`,
  );
}

/** Model folders: from index.json, else every sub-folder with a config.json. */
function modelFolders(root: string): { name: string; images: string[] }[] {
  const idx = path.join(root, "index.json");
  if (exists(idx)) {
    const j = readJson(idx);
    return Object.entries(j.models as Record<string, string[]>).map(([name, images]) => ({ name, images }));
  }
  const out: { name: string; images: string[] }[] = [];
  for (const e of Deno.readDirSync(root)) {
    if (!e.isDirectory || !exists(path.join(root, e.name, "config.json"))) continue;
    const man = path.join(root, e.name, "manifest.json");
    const images = exists(man)
      ? readJson(man).images
      : [...Deno.readDirSync(path.join(root, e.name))].filter((d) =>
        d.isDirectory && exists(path.join(root, e.name, d.name, "meta.json"))
      ).map((d) => d.name);
    out.push({ name: e.name, images });
  }
  return out;
}

export const category: ParityCategory = {
  folder: "sam",
  async *run(root: string, opts: ParityOptions): AsyncIterable<CaseResult> {
    const base = path.join(root, "sam");
    // the run is expensive: with a filter that does not mention sam, nothing here is wanted
    if (opts.filter && !opts.filter.includes("sam")) return;
    const only = opts.extra.models?.split(",");
    for (const m of modelFolders(base)) {
      if (only && !only.includes(m.name)) continue;
      const dir = path.join(base, m.name);
      yield* checkWeights(`sam/${m.name}`, dir);
      let model: SamModel;
      try {
        model = await SamModel.load(dir);
      } catch (e) {
        yield { name: `sam/${m.name}`, verdict: "FAIL", detail: `cannot build model: ${(e as Error).message}` };
        continue;
      }
      for (const img of m.images) {
        yield* checkImage(m.name, model, path.join(dir, img), opts);
      }
      model.dispose();
    }
  },
};
