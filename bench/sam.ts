/**
 * SAM latency: image encoder (ms per image) and mask decoder (one point prompt with upsampling to the image; 16 box
 * prompts in one batch) for the fixture models, and for MobileSAM / ViT-B when their checkpoints are in the weights
 * cache (`mobile_sam.pt`, `sam_vit_b_01ec64.pth`). Without them, `mobile_sam_shapes` / `vit_b_shapes` time the official
 * architectures with random weights (latency does not depend on the values). Random-weight rows time arithmetic only.
 *
 *   deno run -A bench/sam.ts [iters=3] [fixtures=DIR] [models=vit_tiny,mobilesam_tiny,mobile_sam,sam_vit_b,...]
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend, tf } from "../lib/backend/mod.ts";
import { SamModel } from "../lib/sam/model.ts";
import { SamPredictor } from "../lib/sam/predictor.ts";
import { cacheDir } from "../lib/io/download.ts";
import { type SamArch, syntheticSamStateDict } from "../lib/sam/synthetic.ts";

const kv: Record<string, string> = {};
for (const a of Deno.args) {
  const m = /^-{0,2}([\w-]+)=(.*)$/.exec(a);
  if (m) kv[m[1]] = m[2];
}
const iters = Number(kv.iters ?? 3);
const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = kv.fixtures ?? path.resolve(here, "../../shared/fixtures/reference/sam");
const cache = cacheDir();
const candidates: Record<string, string> = {
  vit_tiny: path.join(fixtures, "vit_tiny"),
  mobilesam_tiny: path.join(fixtures, "mobilesam_tiny"),
  mobile_sam: path.join(cache, "mobile_sam.pt"),
  sam_vit_b: path.join(cache, "sam_vit_b_01ec64.pth"),
};
const synthetic: Record<string, SamArch> = { mobile_sam_shapes: "mobile_sam", vit_b_shapes: "vit_b" };
const wanted = (kv.models ?? [...Object.keys(candidates), ...Object.keys(synthetic)].join(",")).split(",");

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A deterministic 480x640 RGB test pattern (gradients + blocks). */
function testImage(h = 480, w = 640) {
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      data[o] = (x * 255) / w;
      data[o + 1] = (y * 255) / h;
      data[o + 2] = ((x >> 6) + (y >> 6)) % 2 ? 200 : 40;
    }
  }
  return { data, height: h, width: w };
}

const info = await initBackend();
console.log(`backend ${info.name} (${info.detail}); iters ${iters}; image 480x640`);
console.log("model            encoder ms   1 point ms   16 boxes ms   weights");
const img = testImage();
for (const name of wanted) {
  const file = candidates[name];
  const arch = synthetic[name];
  if (arch) {
    // only when the real checkpoint of that architecture is absent
    const real = arch === "mobile_sam" ? candidates.mobile_sam : candidates.sam_vit_b;
    if (exists(real) && !kv.models) continue;
  } else if (!file || !exists(file)) {
    console.log(`${name.padEnd(16)} (not found: ${file ?? "unknown model"})`);
    continue;
  }
  const model = arch ? new SamModel(syntheticSamStateDict(arch)) : await SamModel.load(file);
  const p = new SamPredictor(model);
  const enc: number[] = [], pt: number[] = [], bx: number[] = [];
  const boxes: number[] = [];
  for (let i = 0; i < 16; i++) boxes.push(20 + i * 10, 30 + i * 5, 300 + i * 15, 400 + i * 4);
  for (let it = 0; it <= iters; it++) {
    let t = performance.now();
    p.setImage(img);
    await p.features!.data();
    const e = performance.now() - t;
    t = performance.now();
    p.predict({ points: [[320, 240]], labels: [1] });
    const d = performance.now() - t;
    t = performance.now();
    p.predictBoxes(boxes, { batch: 16 });
    const b = performance.now() - t;
    if (it === 0) continue; // warm-up
    enc.push(e);
    pt.push(d);
    bx.push(b);
  }
  const kind = name.endsWith("_tiny")
    ? "fixture (random init)"
    : arch
    ? "official shapes, random values"
    : "official checkpoint";
  console.log(
    `${name.padEnd(16)} ${median(enc).toFixed(0).padStart(10)} ${median(pt).toFixed(0).padStart(12)} ${
      median(bx).toFixed(0).padStart(13)
    }   ${kind}`,
  );
  p.reset();
  model.dispose();
}
console.log(`tensors alive: ${tf.memory().numTensors}`);
