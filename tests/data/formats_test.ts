import assert from "node:assert/strict";
import * as path from "node:path";
import sharp from "sharp";
import {
  imageToLabelPath,
  parseYoloLabel,
  readYoloDataset,
  writeDataYaml,
  writeYoloLabel,
} from "../../lib/data/yolo.ts";
import { cocoToYolo, readCocoJson, readCocoResults, segmentationToRle } from "../../lib/data/coco.ts";
import { loadForeground, loadPair, readSkytnt } from "../../lib/data/skytnt.ts";
import { maskToPolygons, rasterizePolygons } from "../../lib/data/mask.ts";
import { decodeRle, encodeRle, rleFromString, rleToString } from "../../lib/data/rle.ts";
import { UserError } from "../../lib/util/errors.ts";
import { fixture, hasFixture } from "../fixtures.ts";

/** Holes filled: foreground plus background not 4-connected to the outside (independent of maskToPolygons). */
function fillHoles(m: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(m.length).fill(1);
  const st: number[] = [];
  for (let x = 0; x < w; x++) st.push(x, (h - 1) * w + x);
  for (let y = 0; y < h; y++) st.push(y * w, y * w + w - 1);
  while (st.length) {
    const p = st.pop()!;
    if (m[p] || !out[p]) continue;
    out[p] = 0;
    const x = p % w, y = (p - x) / w;
    if (x > 0) st.push(p - 1);
    if (x < w - 1) st.push(p + 1);
    if (y > 0) st.push(p - w);
    if (y < h - 1) st.push(p + w);
  }
  return out;
}

Deno.test({
  name: "YOLO: coco128-seg loads like ultralytics (126 labelled, 2 unlabelled, 929 polygons, 261 person lines)",
  ignore: !hasFixture("coco128-seg"),
  fn: () => {
    const ds = readYoloDataset(fixture("coco128-seg", "coco128-seg.yaml"), "train");
    assert.equal(ds.names.length, 80);
    assert.equal(ds.names[0], "person");
    assert.equal(ds.items.length, 128);
    assert.equal(ds.missingLabels, 2);
    const n = ds.items.reduce((s, it) => s + it.instances.length, 0);
    assert.equal(n, 929);
    const orphan = parseYoloLabel(
      Deno.readTextFileSync(fixture("coco128-seg/labels/train2017/000000000656.txt")),
      "x",
    ).length + parseYoloLabel(Deno.readTextFileSync(fixture("coco128-seg/labels/train2017/000000000659.txt")), "x")
      .length;
    assert.equal(orphan, 12);
    const person = ds.items.reduce((s, it) => s + it.instances.filter((i) => i.cls === 0).length, 0);
    // README: 261 person lines in all files; the orphans hold the rest
    const orphanPerson = ["656", "659"].map((k) =>
      parseYoloLabel(Deno.readTextFileSync(fixture(`coco128-seg/labels/train2017/000000000${k}.txt`)), "x")
        .filter((i) => i.cls === 0).length
    ).reduce((a, b) => a + b, 0);
    assert.equal(person + orphanPerson, 261);
    assert.equal(
      imageToLabelPath("/d/images/train2017/a.b.jpg"),
      "/d/labels/train2017/a.b.txt",
    );
  },
});

Deno.test({
  name: "YOLO <-> mask <-> COCO RLE round trips are exact on coco128-seg (first 24 images)",
  ignore: !hasFixture("coco128-seg"),
  fn: async () => {
    const ds = readYoloDataset(fixture("coco128-seg", "coco128-seg.yaml"), "train");
    let checked = 0;
    for (const it of ds.items.slice(0, 24)) {
      const meta = await sharp(it.imageFile).metadata();
      const w = meta.width!, h = meta.height!;
      for (const ins of it.instances) {
        const px = ins.polygon.map((v, i) => v * (i % 2 ? h : w));
        const mask = rasterizePolygons([px], h, w);
        const rle = encodeRle(mask, h, w);
        const back = decodeRle(rleFromString(rleToString(rle), h, w));
        assert.deepEqual(back, mask);
        // mask -> outer contours -> joined polygon -> mask equals the mask with holes filled
        const polys = maskToPolygons(mask, h, w);
        const refill = rasterizePolygons(polys, h, w);
        const filled = fillHoles(mask, h, w);
        if (polys.length === 1) assert.deepEqual(refill, filled);
        // YOLO text round trip (6 decimals) stays within 1e-6 of the polygon
        const txt = Deno.makeTempFileSync();
        await writeYoloLabel(txt, [ins]);
        const again = parseYoloLabel(Deno.readTextFileSync(txt), txt)[0];
        Deno.removeSync(txt);
        for (let k = 0; k < px.length; k++) assert.ok(Math.abs(again.polygon[k] - ins.polygon[k]) <= 5.1e-7);
        checked++;
      }
    }
    assert.ok(checked > 100, `checked ${checked}`);
  },
});

Deno.test("YOLO: malformed label lines give file:line errors; data.yaml written is read back", async () => {
  assert.throws(
    () => parseYoloLabel("0 0.1 0.2 0.3\n", "a.txt"),
    (e: Error) => e instanceof UserError && /a\.txt:1/.test(e.message),
  );
  assert.throws(() => parseYoloLabel("0 0.1 0.1 0.2 0.2 0.3 0.1\nx 0.1 0.1 0.2 0.2 0.3 0.1", "b.txt"), /b\.txt:2/);
  assert.throws(() => parseYoloLabel("0 0.1 0.1 0.2 nan 0.3 0.1", "c.txt"), /c\.txt:1.*not a number/);
  assert.throws(() => parseYoloLabel("3 0.1 0.1 0.2 0.2 0.3 0.1", "d.txt", 2), /out of range/);
  const dir = Deno.makeTempDirSync();
  await Deno.mkdir(path.join(dir, "images/train"), { recursive: true });
  await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).png().toFile(
    path.join(dir, "images/train/a.png"),
  );
  await writeYoloLabel(path.join(dir, "labels/train/a.txt"), [{
    cls: 0,
    polygon: new Float32Array([0, 0, 1, 0, 1, 1]),
  }]);
  await writeDataYaml(path.join(dir, "data.yaml"), { root: dir, train: "images/train", names: ["character"] });
  const ds = readYoloDataset(path.join(dir, "data.yaml"), "val");
  assert.deepEqual(ds.names, ["character"]);
  assert.equal(ds.items.length, 1);
  assert.deepEqual(Array.from(ds.items[0].instances[0].polygon), [0, 0, 1, 0, 1, 1]);
  Deno.writeTextFileSync(path.join(dir, "labels/train/a.txt"), "0 0.5\n");
  assert.throws(() => readYoloDataset(path.join(dir, "data.yaml")), /a\.txt:1/);
  assert.equal(readYoloDataset(path.join(dir, "data.yaml"), "train", { skipBad: true }).bad, 1);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test({
  name: "COCO: counts of expected.json, person conversion (crowd skipped), bad JSON errors",
  ignore: !hasFixture("coco_json_sample"),
  fn: async () => {
    const dir = fixture("coco_json_sample");
    const exp = JSON.parse(Deno.readTextFileSync(`${dir}/expected.json`));
    const coco = await readCocoJson(`${dir}/${exp.annotation_file}`);
    assert.equal(coco.images.length, exp.num_images);
    assert.equal(coco.annotations.length, exp.num_annotations);
    const person = coco.categories.find((c) => c.name === "person")!.id;
    const pa = coco.annotations.filter((a) => a.category_id === person);
    assert.equal(pa.length, exp.num_person_annotations);
    assert.equal(pa.filter((a) => a.iscrowd).length, exp.num_person_crowd_annotations);
    assert.deepEqual(
      coco.annotations.filter((a) => a.iscrowd).map((a) => a.id).sort(),
      exp.crowd_annotation_ids.sort(),
    );
    // every GT segmentation decodes to an RLE that sums to h*w
    const ims = new Map(coco.images.map((i) => [i.id, i]));
    for (const a of coco.annotations) {
      const im = ims.get(a.image_id)!;
      const r = segmentationToRle(a.segmentation, im.height, im.width);
      assert.equal(r.counts.reduce((s, c) => s + c, 0), im.height * im.width);
    }
    const results = await readCocoResults(`${dir}/instances_val2014_fakesegm_sample20_results.json`);
    assert.equal(results.length, 259);
    const out = Deno.makeTempDirSync();
    const st = await cocoToYolo(`${dir}/${exp.annotation_file}`, `${dir}/images`, out, { names: ["character"] });
    assert.equal(st.crowdSkipped, exp.num_person_crowd_annotations);
    assert.equal(st.instances + st.emptySkipped, exp.num_person_annotations - exp.num_person_crowd_annotations);
    const ds = readYoloDataset(st.yaml, "train");
    assert.equal(ds.items.reduce((s, it) => s + it.instances.length, 0), st.instances);
    assert.equal(ds.items.length, new Set(pa.map((a) => a.image_id)).size);
    const lim = await cocoToYolo(`${dir}/${exp.annotation_file}`, `${dir}/images`, `${out}/lim`, { limit: 3, seed: 1 });
    assert.equal(lim.images, 3);
    // bad inputs
    const bad = `${out}/bad.json`;
    Deno.writeTextFileSync(bad, JSON.stringify({ images: [], annotations: [{ id: 1, image_id: 1 }], categories: [] }));
    await assert.rejects(() => readCocoJson(bad), /bad\.json: annotations\[0\] missing number 'category_id'/);
    Deno.writeTextFileSync(bad, "{");
    await assert.rejects(() => readCocoJson(bad), /bad\.json: malformed JSON/);
    Deno.removeSync(out, { recursive: true });
  },
});

Deno.test({
  name: "SkyTNT: fixture layout, RGBA cut-outs, masks thresholded; no-alpha and size mismatch are errors",
  ignore: !hasFixture("skytnt_sample"),
  fn: async () => {
    const lay = readSkytnt(fixture("skytnt_sample"));
    assert.equal(lay.fg.length, 31);
    assert.equal(lay.bg.length, 11);
    assert.equal(lay.pairs.length, 13);
    const fg = await loadForeground(lay.fg[0]);
    assert.equal(fg.channels, 4);
    const p = await loadPair(lay.pairs[0]);
    const frac = p.mask.reduce((s, v) => s + v, 0) / p.mask.length;
    assert.ok(frac > 0.01 && frac < 0.95);
    const dir = Deno.makeTempDirSync();
    await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } }).png().toFile(`${dir}/rgb.png`);
    await assert.rejects(() => loadForeground(`${dir}/rgb.png`), /rgb\.png: foreground has no alpha/);
    await sharp({ create: { width: 9, height: 8, channels: 3, background: "#fff" } }).jpeg().toFile(`${dir}/m.jpg`);
    await assert.rejects(() => loadPair({ image: lay.pairs[0].image, mask: `${dir}/m.jpg` }), /differs from its image/);
    Deno.writeTextFileSync(`${dir}/broken.png`, "not a png");
    await assert.rejects(() => loadForeground(`${dir}/broken.png`), /broken\.png: unreadable image/);
    Deno.removeSync(dir, { recursive: true });
  },
});
