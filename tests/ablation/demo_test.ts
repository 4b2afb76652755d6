/**
 * The README's main job at a reduced budget (`demo quick=true`): killed with SIGKILL after its first finished run and
 * started again, it resumes (the finished run is skipped) and renders the report, which headless Chromium opens from
 * disk with no network, no script errors and drawn plots.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { ROOT } from "../fixtures.ts";
import { checkPage, findChromium } from "../../lib/report/browser_check.ts";

const RUN = path.join(ROOT, "runs", "ablation", "demo-quick");

async function waitFor(file: string, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    try {
      await Deno.stat(file);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return false;
}

Deno.test({
  name: "demo quick: SIGKILL mid-way, restart resumes, report renders offline",
  ignore: Deno.env.get("ANIMESEG_SKIP_DEMO") === "1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await Deno.remove(RUN, { recursive: true }).catch(() => {});
    const cmd = (report: boolean) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "cli/main.ts", "demo", "quick=true", `report=${report}`],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      });
    const first = cmd(false).spawn();
    const finished = await waitFor(path.join(RUN, "simple", "seed0", "result-none.json"), 600_000);
    first.kill("SIGKILL");
    await first.output();
    assert.ok(finished, "the first run finished a training + evaluation before the kill");
    const second = await cmd(true).output();
    const log = new TextDecoder().decode(second.stdout) + new TextDecoder().decode(second.stderr);
    assert.equal(second.code, 0, log.slice(-2000));
    assert.match(log, /simple seed 0: finished earlier, skipped/);
    const summary = JSON.parse(await Deno.readTextFile(path.join(RUN, "summary.json")));
    assert.ok(summary.rows.some((r: { status: string }) => r.status === "done"));
    const index = path.join(ROOT, "runs", "report", "index.html");
    if (!(await findChromium())) {
      console.warn("SKIP: chromium not found; report page check skipped");
      return;
    }
    const page = await checkPage(index);
    assert.deepEqual(page.scriptErrors, []);
    assert.deepEqual(page.networkRefs, []);
    assert.match(page.dom, /data-key="mask.mAP50-95"/);
    const abl = path.join(ROOT, "runs", "report", "notebooks", "06_ablation.html");
    try {
      await Deno.stat(abl);
    } catch {
      console.warn("SKIP: no Jupyter: the ablation notebook was run as a script, no HTML page to check");
      return;
    }
    const p = await checkPage(abl);
    assert.deepEqual(p.scriptErrors, []);
    assert.deepEqual(p.networkRefs, []);
    assert.ok(p.plots >= 3);
    assert.equal(p.drawnPlots, p.plots, "every plot container holds drawn SVG");
  },
});
