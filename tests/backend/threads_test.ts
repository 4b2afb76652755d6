/**
 * Two wasm threads (the tfjs-backend-wasm pthread patch), in a child process because the pthread workers keep a
 * process alive: the backend reports 2 threads and a conv forward + gradients equal the 1-thread results.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../fixtures.ts";

const SCRIPT = `
import { initBackend, tf } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "lib/backend/mod.ts")).href)};
const info = await initBackend({ backend: "wasm" });
const x = tf.randomUniform([1, 24, 24, 16], -1, 1, "float32", 1);
const w = tf.randomUniform([3, 3, 16, 16], -1, 1, "float32", 2);
const f = (a, b) => tf.sum(tf.square(tf.conv2d(a, b, 2, "same")));
const [dx, dw] = tf.grads(f)([x, w]);
const y = f(x, w);
const out = { threads: info.threads, y: (await y.data())[0], dx: Array.from(await dx.data()), dw: Array.from(await dw.data()) };
console.log(JSON.stringify(out));
Deno.exit(0);
`;

async function run(
  threads: number,
): Promise<{ threads: number; y: number; dx: number[]; dw: number[]; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "animeseg-threads-" });
  const file = path.join(dir, "probe.ts");
  await Deno.writeTextFile(file, SCRIPT);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", path.join(ROOT, "deno.json"), file],
      env: { ANIMESEG_THREADS: String(threads), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
    return { ...JSON.parse(line), stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wasm with ANIMESEG_THREADS=2 starts 2 threads and computes what 1 thread computes", async () => {
  const [one, two] = [await run(1), await run(2)];
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2, `threads did not start: ${two.stderr}`);
  assert.ok(Math.abs(one.y - two.y) <= 1e-3 * Math.abs(one.y), `${one.y} vs ${two.y}`);
  for (const k of ["dx", "dw"] as const) {
    const e = Math.max(...one[k].map((v, i) => Math.abs(v - two[k][i])));
    assert.ok(e <= 1e-3, `${k}: max |diff| ${e}`);
  }
});
