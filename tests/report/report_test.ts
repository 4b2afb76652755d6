/** The offline report: index + notebook pages render in headless Chromium with no network, no script errors, drawn plots; the table agrees with the CSV. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PRESETS } from "../../lib/ablation/config.ts";
import { type AblationSteps, runAblation } from "../../lib/ablation/runner.ts";
import { parseCsv } from "../../lib/ablation/view.ts";
import { buildReport } from "../../lib/report/build.ts";
import { checkPage, findChromium } from "../../lib/report/browser_check.ts";

const chromium = await findChromium();
if (!chromium) console.warn("SKIP: chromium not found; report rendering tests skipped");

Deno.test({
  name: "browser check catches script errors and empty plot containers",
  ignore: !chromium,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const f = path.join(dir, "bad.html");
      await Deno.writeTextFile(
        f,
        `<html><body><div class="animeseg-plot"></div><script>missingFn();</script></body></html>`,
      );
      const r = await checkPage(f);
      assert.equal(r.ok, false);
      assert.equal(r.plots, 1);
      assert.equal(r.drawnPlots, 0);
      assert.ok(r.scriptErrors.some((e) => e.includes("missingFn")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function constantSteps(): AblationSteps {
  let k = 0;
  return {
    buildDatasets: (_c, d) =>
      Promise.resolve({
        simple: `${d}/s.yaml`,
        reinforced: `${d}/r.yaml`,
        reinforcedPerson: null,
        test: `${d}/t.yaml`,
      }),
    train: (a) => Promise.resolve({ weights: a.data, runDir: a.runDir, seconds: 0 }),
    evaluate: () => {
      const v = 0.1 + 0.05 * (k++ % 3);
      const b = { P: v, R: v, mAP50: v, "mAP50-95": v / 2 };
      return Promise.resolve({ native: { box: b, mask: b }, proto: { box: b, mask: b }, engine: "fake", seconds: 0 });
    },
    environment: () => Promise.resolve({ backend: "test", commit: "test" }),
  };
}

Deno.test({
  name: "report: index and ablation notebook render offline with drawn plots; table = notebook = CSV",
  ignore: !chromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir();
    try {
      const cfg = structuredClone(PRESETS.demo);
      cfg.name = "report-test";
      const { dir } = await runAblation(cfg, constantSteps(), { root, log: () => {} });
      const out = path.join(root, "report");
      const res = await buildReport({ outDir: out, ablationDir: dir, notebooks: ["06_ablation"] });
      assert.ok(res.notebooks.every((n) => n.ok), "ablation notebook executed");
      const index = await checkPage(res.index);
      assert.deepEqual(index.scriptErrors, []);
      assert.deepEqual(index.networkRefs, []);
      const csv = parseCsv(await Deno.readTextFile(path.join(dir, "summary.csv")));
      const cellsOf = (html: string) => [...html.matchAll(/data-key="([^"]+)">([^<]+)</g)].map((m) => [m[1], m[2]]);
      const indexCells = cellsOf(index.dom);
      const expected = csv.filter((r) => r["mask.mAP50 mean"] !== "n/a").flatMap((r) =>
        Object.keys(r).filter((k) => k.endsWith(" mean") && r[k] !== "n/a").map((k) => {
          const key = k.slice(0, -5);
          const f = (v: unknown) => typeof v === "number" ? v.toFixed(4) : String(v);
          return [key, `${f(r[k])} ± ${f(r[`${key} sd`])}`];
        })
      );
      assert.deepEqual(indexCells, expected, "index table equals summary.csv");
      if (res.notebooks[0].html) {
        const page = await checkPage(path.join(out, "notebooks", res.notebooks[0].html));
        assert.deepEqual(page.scriptErrors, []);
        assert.deepEqual(page.networkRefs, []);
        assert.ok(page.plots >= 3, `plots found: ${page.plots}`);
        assert.equal(page.drawnPlots, page.plots, "every plot container holds drawn SVG");
        for (const [, text] of expected) assert.ok(page.dom.includes(text), `notebook table shows ${text}`);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
