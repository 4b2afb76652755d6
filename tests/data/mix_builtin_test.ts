import assert from "node:assert/strict";
import * as path from "node:path";
import { buildDemoDatasets, ensureBuiltinData } from "../../lib/data/builtin.ts";
import { mixDatasets } from "../../lib/data/mix.ts";
import { loadForeground, readSkytnt } from "../../lib/data/skytnt.ts";
import { readYoloDataset } from "../../lib/data/yolo.ts";
import { joinPolygons, maskToPolygonsWithHoles, rasterizePolygons } from "../../lib/data/mask.ts";
import { parseParts } from "../../cli/data.ts";
import { fixture, hasFixture } from "../fixtures.ts";

Deno.test("built-in data: SkyTNT layout with real alpha cut-outs; same seed gives the same bytes", async () => {
  const a = Deno.makeTempDirSync(), b = Deno.makeTempDirSync();
  await ensureBuiltinData(a, { seed: 4, nFg: 3, nBg: 2 });
  await ensureBuiltinData(b, { seed: 4, nFg: 3, nBg: 2 });
  const lay = readSkytnt(a);
  assert.equal(lay.fg.length, 3);
  assert.equal(lay.bg.length, 2);
  for (const f of lay.fg) {
    const img = await loadForeground(f);
    let opaque = 0;
    for (let i = 3; i < img.data.length; i += 4) if (img.data[i] > 127) opaque++;
    const frac = opaque / (img.width * img.height);
    assert.ok(frac > 0.2 && frac < 0.95, `opaque fraction ${frac}`);
    assert.deepEqual(Deno.readFileSync(f), Deno.readFileSync(path.join(b, "fg", path.basename(f))));
  }
  Deno.removeSync(a, { recursive: true });
  Deno.removeSync(b, { recursive: true });
});

Deno.test("holes survive the joined polygon: ring and ring-with-island masks are reproduced exactly", () => {
  const S = 16;
  const m = new Uint8Array(S * S);
  for (let y = 2; y < 14; y++) for (let x = 2; x < 14; x++) m[y * S + x] = 1;
  for (let y = 5; y < 11; y++) for (let x = 5; x < 11; x++) m[y * S + x] = 0; // 6x6 hole
  const ring = rasterizePolygons([joinPolygons(maskToPolygonsWithHoles(m, S, S))], S, S);
  // only the bridge line between outer and hole contours may add pixels inside the hole
  let extra = 0, missing = 0;
  for (let i = 0; i < m.length; i++) {
    if (ring[i] && !m[i]) extra++;
    if (!ring[i] && m[i]) missing++;
  }
  assert.equal(missing, 0);
  assert.ok(extra <= 0, `extra ${extra}`);
  m[7 * S + 7] =
    m[7 * S + 8] =
    m[8 * S + 7] =
    m[8 * S + 8] =
      1; // an island in the hole
  const polys = maskToPolygonsWithHoles(m, S, S);
  assert.equal(polys.length, 3);
  const again = rasterizePolygons([joinPolygons(polys)], S, S);
  let diff = 0;
  for (let i = 0; i < m.length; i++) if (again[i] !== m[i]) diff++;
  assert.ok(diff <= 3, `diff ${diff} (bridge pixels only)`);
});

Deno.test({
  name: "demo datasets + mix: class mapping, counts, manifest of origins",
  ignore: !hasFixture("coco128-seg"),
  fn: async () => {
    const out = Deno.makeTempDirSync();
    const sets = await buildDemoDatasets(out, {
      seed: 1,
      nTrain: 4,
      nTest: 2,
      imgsz: 96,
      cocoPersonYaml: fixture("coco128-seg/coco128-seg.yaml"),
      nPerson: 5,
    });
    assert.equal(readYoloDataset(sets.simple).items.length, 4);
    assert.ok(readYoloDataset(sets.simple).items.every((it) => it.instances.length === 1));
    assert.equal(readYoloDataset(sets.test).items.length, 2);
    const mixed = readYoloDataset(sets.reinforcedPerson!);
    assert.deepEqual(mixed.names, ["character"]);
    assert.equal(mixed.items.length, 4 + 5);
    assert.ok(mixed.items.every((it) => it.instances.every((i) => i.cls === 0)));
    const manifest = Deno.readTextFileSync(path.join(out, "reinforced_person", "manifest.csv")).trim().split("\n");
    assert.equal(manifest.length, 1 + 9);
    assert.equal(manifest.filter((l) => l.includes(",coco_person,")).length, 5);
    // person instances carried over equal the person lines of the chosen coco128 label files
    const person = mixed.items.filter((it) => path.basename(it.imageFile).startsWith("coco_person_"));
    let want = 0;
    for (const l of manifest.filter((l) => l.includes(",coco_person,"))) {
      const label = l.split(",")[3];
      want += Deno.readTextFileSync(label).split("\n").filter((x) => x.startsWith("0 ")).length;
    }
    assert.equal(person.reduce((s, it) => s + it.instances.length, 0), want);
    // ratios and parse of CLI part specs
    const parts = parseParts(`a:${sets.simple}:2,b:${sets.test}:0.5,c:x.yaml:3:0>0+2>0`);
    assert.deepEqual(parts.map((p) => [p.name, p.count, p.ratio]), [["a", 2, undefined], ["b", undefined, 0.5], [
      "c",
      3,
      undefined,
    ]]);
    assert.deepEqual(parts[2].classMap, { 0: 0, 2: 0 });
    const r = await mixDatasets(path.join(out, "m2"), parts.slice(0, 2), { seed: 2, total: 4 });
    assert.deepEqual(r.perPart.a.images, 2);
    assert.deepEqual(r.perPart.b.images, 2);
    Deno.removeSync(out, { recursive: true });
  },
});
