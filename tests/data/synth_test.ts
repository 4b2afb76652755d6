import assert from "node:assert/strict";
import * as path from "node:path";
import sharp from "sharp";
import { composeItem, synthConfig, synthesize } from "../../lib/data/synth.ts";
import { readSkytnt } from "../../lib/data/skytnt.ts";
import { readYoloDataset } from "../../lib/data/yolo.ts";
import { readCocoJson, segmentationToMask } from "../../lib/data/coco.ts";
import { maskIou, rasterizePolygons } from "../../lib/data/mask.ts";
import { fixture, hasFixture } from "../fixtures.ts";
import type { RawImage } from "../../lib/data/image_io.ts";

const SKY = "skytnt_sample";

function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(path.join(dir, rel))) {
    const r = path.join(rel, e.name);
    if (e.isDirectory) out.push(...listFiles(dir, r));
    else if (!r.startsWith(".parts/job.json")) out.push(r);
  }
  return out.sort();
}

Deno.test({
  name: "synth reinforced/instances on skytnt_sample: written polygons match visible alpha (IoU), COCO RLE exact",
  ignore: !hasFixture(SKY),
  fn: async () => {
    const out = Deno.makeTempDirSync();
    // 640 px, the study's size: at small sizes the zero-width bridges between occlusion-split parts weigh more
    const S = 640, N = 6;
    const config = synthConfig("reinforced", { imgsz: S });
    const job = { src: fixture(SKY), out, n: N, seed: 11, config };
    const res = await synthesize(job);
    const ds = readYoloDataset(res.yaml, "train");
    assert.equal(ds.items.length, N);
    const coco = await readCocoJson(res.coco);
    const lay = readSkytnt(fixture(SKY));
    const cache = new Map<string, RawImage>();
    const ious: number[] = [];
    for (let i = 0; i < N; i++) {
      const comp = await composeItem(job, i, lay, cache, new Set());
      const item = ds.items[i];
      assert.equal(item.instances.length, comp.instances.length);
      const anns = coco.annotations.filter((a) => a.image_id === i + 1);
      assert.equal(anns.length, comp.instances.length);
      comp.instances.forEach((ins, k) => {
        // ultralytics: denormalise, int32, fillPoly
        const px = item.instances[k].polygon.map((v) => v * S);
        const m = rasterizePolygons([px], S, S);
        ious.push(maskIou(m, ins.mask));
        // COCO JSON carries the exact visible mask
        assert.deepEqual(segmentationToMask(anns[k].segmentation, S, S), ins.mask);
        // no kept instance is below 25 % visible is checked by construction in compose; area field is the pixel count
        assert.equal(anns[k].area, ins.mask.reduce((s, v) => s + v, 0));
      });
    }
    const mean = ious.reduce((a, b) => a + b, 0) / ious.length;
    const min = Math.min(...ious);
    console.log(`instances ${ious.length}, mean IoU ${mean.toFixed(4)}, min ${min.toFixed(4)}, dropped ${res.dropped}`);
    assert.ok(ious.length >= 8);
    assert.ok(mean >= 0.98, `mean IoU ${mean}`);
    assert.ok(min >= 0.95, `min IoU ${min}`);
    Deno.removeSync(out, { recursive: true });
  },
});

Deno.test({
  name: "synth: same seed gives identical files with 1 and 2 workers; resume redoes only what is missing",
  ignore: !hasFixture(SKY),
  fn: async () => {
    const a = Deno.makeTempDirSync(), b = Deno.makeTempDirSync();
    const config = synthConfig("reinforced", { imgsz: 128 });
    await synthesize({ src: fixture(SKY), out: a, n: 4, seed: 5, config });
    await synthesize({ src: fixture(SKY), out: b, n: 4, seed: 5, config, workers: 2 });
    const fa = listFiles(a), fb = listFiles(b);
    assert.deepEqual(fa, fb);
    for (const f of fa) {
      if (f.endsWith("data.yaml")) continue; // holds its own absolute path
      assert.deepEqual(Deno.readFileSync(path.join(a, f)), Deno.readFileSync(path.join(b, f)), f);
    }
    // resume: remove one image's record and image; a rerun regenerates exactly it
    Deno.removeSync(path.join(b, ".parts", "synth_000002.json"));
    Deno.removeSync(path.join(b, "images", "train", "synth_000002.jpg"));
    const r = await synthesize({ src: fixture(SKY), out: b, n: 4, seed: 5, config });
    assert.equal(r.resumed, 3);
    assert.deepEqual(
      Deno.readFileSync(path.join(a, "images/train/synth_000002.jpg")),
      Deno.readFileSync(path.join(b, "images/train/synth_000002.jpg")),
    );
    // the same folder with another seed is refused rather than mixed
    await assert.rejects(
      () => synthesize({ src: fixture(SKY), out: b, n: 4, seed: 99, config }),
      /different synthesis job/,
    );
    // a different seed gives different pixels
    const c = Deno.makeTempDirSync();
    await synthesize({ src: fixture(SKY), out: c, n: 1, seed: 6, config });
    assert.notDeepEqual(
      Deno.readFileSync(path.join(a, "images/train/synth_000000.jpg")),
      Deno.readFileSync(path.join(c, "images/train/synth_000000.jpg")),
    );
    for (const d of [a, b, c]) Deno.removeSync(d, { recursive: true });
  },
});

Deno.test({
  name: "synth union mode: instances are the connected regions of the painted union; simple has one character",
  ignore: !hasFixture(SKY),
  fn: async () => {
    const out = Deno.makeTempDirSync();
    const lay = readSkytnt(fixture(SKY));
    const job = {
      src: fixture(SKY),
      out,
      n: 3,
      seed: 2,
      config: synthConfig("reinforced", { imgsz: 160, labels: "union" }),
    };
    for (let i = 0; i < 3; i++) {
      const comp = await composeItem(job, i, lay, new Map(), new Set());
      // regions are disjoint and not 8-adjacent to each other
      const owner = new Int32Array(160 * 160).fill(-1);
      comp.instances.forEach((ins, k) =>
        ins.mask.forEach((v, p) => {
          if (v) {
            assert.equal(owner[p], -1);
            owner[p] = k;
          }
        })
      );
      for (let y = 0; y < 159; y++) {
        for (let x = 0; x < 159; x++) {
          const p = y * 160 + x;
          for (const q of [p + 1, p + 160, p + 161]) {
            if (owner[p] >= 0 && owner[q] >= 0) assert.equal(owner[p], owner[q]);
          }
        }
      }
    }
    const simple = { ...job, config: synthConfig("simple", { imgsz: 160 }) };
    for (let i = 0; i < 3; i++) {
      const comp = await composeItem(simple, i, lay, new Map(), new Set());
      assert.equal(comp.instances.length, 1);
    }
    Deno.removeSync(out, { recursive: true });
  },
});

Deno.test("synth: a foreground without alpha is an error naming it; --skip-bad skips and counts it", async () => {
  const src = Deno.makeTempDirSync();
  await Deno.mkdir(`${src}/fg`);
  await Deno.mkdir(`${src}/bg`);
  await sharp({ create: { width: 20, height: 30, channels: 3, background: "#f00" } }).png().toFile(`${src}/fg/a.png`);
  await sharp({ create: { width: 20, height: 30, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: { create: { width: 10, height: 20, channels: 4, background: "#0f0" } }, left: 5, top: 5 }])
    .png().toFile(`${src}/fg/b.png`);
  await sharp({ create: { width: 40, height: 40, channels: 3, background: "#00f" } }).jpeg().toFile(`${src}/bg/x.jpg`);
  const out = Deno.makeTempDirSync();
  const config = synthConfig("simple", { imgsz: 64 });
  let err: Error | null = null;
  for (let seed = 0; seed < 6 && !err; seed++) {
    try {
      await synthesize({ src, out: `${out}/s${seed}`, n: 2, seed, config });
    } catch (e) {
      err = e as Error;
    }
  }
  assert.ok(err && /a\.png: foreground has no alpha/.test(err.message), String(err));
  const r = await synthesize({ src, out: `${out}/ok`, n: 4, seed: 0, config, skipBad: true });
  assert.equal(r.images, 4);
  assert.equal(r.instances, 4);
  Deno.removeSync(src, { recursive: true });
  Deno.removeSync(out, { recursive: true });
});
