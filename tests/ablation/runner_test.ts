/** Ablation runner, summary and config: resume, mean/sd over seeds, CSV/Markdown/JSON agreement, config errors. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { loadAblationConfig, PRESETS } from "../../lib/ablation/config.ts";
import { type AblationSteps, runAblation } from "../../lib/ablation/runner.ts";
import { meanSd } from "../../lib/ablation/summary.ts";
import { parseCsv } from "../../lib/ablation/view.ts";
import { UserError } from "../../lib/util/errors.ts";

function fakeSteps(calls: string[], score: (variant: string, seed: number) => number): AblationSteps {
  return {
    buildDatasets(_cfg, dir) {
      calls.push("data");
      return Promise.resolve({
        simple: path.join(dir, "simple.yaml"),
        reinforced: path.join(dir, "reinforced.yaml"),
        reinforcedPerson: null,
        test: path.join(dir, "test.yaml"),
      });
    },
    train(a) {
      calls.push(`train ${path.basename(a.data)} ${a.seed}`);
      return Promise.resolve({ weights: `${a.data}#${a.seed}`, runDir: a.runDir, seconds: 1 });
    },
    evaluate(a) {
      calls.push(`eval ${a.weights} ${a.refine} ${a.classMap}`);
      const [data, seed] = a.weights.split("#");
      const v = score(path.basename(data), Number(seed ?? 0));
      const b = { P: v, R: v, mAP50: v, "mAP50-95": v / 2 };
      return Promise.resolve({
        native: { box: b, mask: b },
        proto: { box: b, mask: { ...b, "mAP50-95": v / 4 } },
        engine: "fake",
        seconds: 0,
      });
    },
    environment: () => Promise.resolve({ backend: "test", commit: "abc" }),
  };
}

Deno.test("ablation: runs every variant x seed, skips unavailable rows, resumes without redoing finished runs", async () => {
  const root = await Deno.makeTempDir();
  try {
    const cfg = structuredClone(PRESETS.demo);
    cfg.name = "t";
    cfg.seeds = [0, 1];
    cfg.model.weights = "coco.pt";
    const calls: string[] = [];
    const scores: Record<string, number[]> = {
      "simple.yaml": [0.2, 0.4],
      "reinforced.yaml": [0.5, 0.7],
      "coco.pt": [0.1],
    };
    const res = await runAblation(cfg, fakeSteps(calls, (d, s) => scores[d][s] ?? 0), { root, log: () => {} });
    // pretrained evaluated once with the person class mapped; two trained variants x 2 seeds
    assert.deepEqual(calls.filter((c) => c.startsWith("train")).length, 4);
    assert.ok(calls.includes("eval coco.pt none 0"));
    const rows = res.rows.filter((r) => r.refine === "none");
    const simple = rows.find((r) => r.variant === "simple")!;
    const ms = meanSd([0.2, 0.4]);
    assert.ok(Math.abs(simple.mean["mask.mAP50"] - 0.3) < 1e-12);
    assert.ok(Math.abs(simple.sd["mask.mAP50"] - Math.sqrt(0.02)) < 1e-12);
    assert.ok(Math.abs(ms.sd - 0.1414213562373095) < 1e-12);
    assert.ok(Math.abs(simple.mean["proto.mask.mAP50-95"] - 0.075) < 1e-12);
    const person = rows.find((r) => r.kind === "reinforced+person")!;
    assert.equal(person.status, "skipped");
    assert.match(person.reason!, /COCO person/);
    // without SAM weights the refinement rows are left out, and the summary says so
    assert.deepEqual(res.rows.filter((r) => r.refine !== "none"), []);
    assert.match(
      await Deno.readTextFile(path.join(res.dir, "summary.md")),
      /Note: refinement rows \(vote, box\) left out/,
    );
    // second run: nothing trained or evaluated again
    const calls2: string[] = [];
    const res2 = await runAblation(cfg, fakeSteps(calls2, () => 0), { root, log: () => {} });
    assert.deepEqual(calls2, ["data"]);
    assert.deepEqual(res2.rows.map((r) => r.mean["mask.mAP50"]), res.rows.map((r) => r.mean["mask.mAP50"]));
    // CSV, Markdown and JSON carry the same numbers
    const dir = res.dir;
    const csv = parseCsv(await Deno.readTextFile(path.join(dir, "summary.csv")));
    const md = await Deno.readTextFile(path.join(dir, "summary.md"));
    const json = JSON.parse(await Deno.readTextFile(path.join(dir, "summary.json")));
    const csvSimple = csv.find((r) => r.variant === "simple" && r.refine === "none")!;
    assert.equal(csvSimple["mask.mAP50 mean"], 0.3);
    assert.equal(csvSimple["mask.mAP50 sd"], 0.1414);
    assert.ok(md.includes("[0.3000 ± 0.1414](simple/)"));
    assert.equal(
      json.rows.find((r: { variant: string }) => r.variant === "simple").mean["mask.mAP50"],
      simple.mean["mask.mAP50"],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ablation config: presets, file over a preset, and one-line errors naming the file", async () => {
  const cfg = await loadAblationConfig("demo", { seeds: [3, 4, 5] });
  assert.deepEqual(cfg.seeds, [3, 4, 5]);
  assert.equal(cfg.model.scale, "n");
  const dir = await Deno.makeTempDir();
  try {
    const f = path.join(dir, "a.yaml");
    await Deno.writeTextFile(f, "preset: study\nname: mine\ntrain: { epochs: 3 }\n");
    const c = await loadAblationConfig(f);
    assert.equal(c.preset, "custom");
    assert.equal(c.model.scale, "m");
    assert.equal(c.train.epochs, 3);
    await Deno.writeTextFile(f, "train: { epoch: 3 }\n");
    await assert.rejects(
      () => loadAblationConfig(f),
      (e: Error) => e instanceof UserError && e.message.includes(f) && /train\.epoch/.test(e.message),
    );
    await Deno.writeTextFile(f, "seeds: [a]\n");
    await assert.rejects(() => loadAblationConfig(f), UserError);
    await Deno.writeTextFile(f, "name: [unclosed\n");
    await assert.rejects(() => loadAblationConfig(f), (e: Error) => e instanceof UserError && /YAML/.test(e.message));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
