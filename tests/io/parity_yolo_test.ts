/**
 * The `yolo/` parity category on a fixture set it has never seen: a renamed checkpoint with a digest-only
 * keys.json passes 417/417; a keys.json with one altered digest fails and names the tensor.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fixture, hasFixture } from "../fixtures.ts";
import { category } from "../../tools/parity/yolo.ts";
import type { CaseResult } from "../../tools/parity/types.ts";

Deno.test({
  name: "parity yolo: unseen layout (renamed checkpoint, digests only, altered digest)",
  ignore: !hasFixture("reference/yolo/seg_n_nc1_sd/keys.json"),
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "parity_yolo_" });
    try {
      const dir = path.join(root, "yolo");
      await Deno.mkdir(path.join(dir, "seg_q_nc1_sd"), { recursive: true });
      await Deno.mkdir(path.join(dir, "seg_r_nc1_sd"), { recursive: true });
      const keys = JSON.parse(await Deno.readTextFile(fixture("reference/yolo/seg_n_nc1_sd/keys.json")));
      await Deno.copyFile(fixture("reference/yolo/seg_n_nc1.pt"), path.join(dir, "seg_q_nc1.pt"));
      await Deno.copyFile(fixture("reference/yolo/seg_n_nc1.pt"), path.join(dir, "seg_r_nc1.pt"));
      // the .npy files are not copied, so only the digests can be used
      await Deno.writeTextFile(path.join(dir, "seg_q_nc1_sd", "keys.json"), JSON.stringify(keys));
      const bad = structuredClone(keys);
      bad[4].sha256_as_float32_le = "0".repeat(64);
      await Deno.writeTextFile(path.join(dir, "seg_r_nc1_sd", "keys.json"), JSON.stringify(bad));
      await Deno.writeTextFile(path.join(dir, "models.json"), JSON.stringify({ seg_q_nc1: { nc: 1 } }));
      const results: CaseResult[] = [];
      for await (const r of category.run(root, { engine: "tfjs", extra: {} })) results.push(r);
      assert.deepEqual(results.map((r) => [r.name, r.verdict]), [["yolo/seg_q_nc1", "PASS"], [
        "yolo/seg_r_nc1",
        "FAIL",
      ]]);
      assert.match(results[0].detail, /^417\/417 tensors identical \(npy 0, sha256 417\)/);
      assert.match(results[1].detail, /^416\/417 tensors identical/);
      assert.ok(results[1].detail.includes(`${keys[4].name}: values differ`));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
