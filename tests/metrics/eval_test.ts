/** `evaluatePredictionDir`: external YOLO txt predictions scored against a dataset split (hand-computed cases). */
import assert from "node:assert/strict";
import * as path from "node:path";
import sharp from "sharp";
import { evaluatePredictionDir, parsePredictionText } from "../../lib/metrics/evaluate.ts";
import { UserError } from "../../lib/util/errors.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("parsePredictionText: odd count → trailing conf; malformed lines name file:line", () => {
  const p = parsePredictionText("1 0.1 0.1 0.5 0.1 0.5 0.5 0.75\n0 0.1 0.1 0.5 0.1 0.5 0.5\n", "p.txt");
  assert.deepEqual(p.map((x) => [x.cls, x.conf, x.polygon.length]), [[1, 0.75, 6], [0, 1, 6]]);
  assert.throws(
    () => parsePredictionText("0 0.1 x 0.2\n", "p.txt"),
    (e: Error) => e instanceof UserError && /p\.txt:1/.test(e.message),
  );
});

Deno.test("evaluatePredictionDir: GT copied as predictions scores AP 0.995; a class swap and a missing file count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "animeseg_eval_" });
  for (const d of ["images", "labels", "pred"]) await Deno.mkdir(path.join(dir, d));
  const raw = new Uint8Array(40 * 40 * 3);
  for (const n of ["a", "b", "c"]) {
    await sharp(raw, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(
      path.join(dir, "images", `${n}.png`),
    );
  }
  const sq = "0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75";
  await Deno.writeTextFile(path.join(dir, "labels", "a.txt"), `0 ${sq}\n`);
  await Deno.writeTextFile(path.join(dir, "labels", "b.txt"), `1 ${sq}\n`);
  await Deno.writeTextFile(path.join(dir, "labels", "c.txt"), `1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n`);
  await Deno.writeTextFile(path.join(dir, "data.yaml"), "path: .\ntrain: images\nval: images\nnames: [a, b]\n");
  await Deno.writeTextFile(path.join(dir, "pred", "a.txt"), `0 ${sq} 0.9\n`);
  await Deno.writeTextFile(path.join(dir, "pred", "b.txt"), `1 ${sq} 0.8\n`);
  // c.txt missing: its class-1 object is missed
  const r = await evaluatePredictionDir(path.join(dir, "data.yaml"), "val", path.join(dir, "pred"));
  assert.equal(r.images, 3);
  assert.equal(r.instances, 3);
  assert.equal(r.missingPredictions, 1);
  close(r.perClass[0].box.mAP50, 0.995);
  close(r.perClass[0].mask["mAP50-95"], 0.995);
  close(r.perClass[1].box.mAP50, 0.75); // one of two found, no false positive
  close(r.box.mAP50, (0.995 + 0.75) / 2);
  await Deno.remove(dir, { recursive: true });
});
