/** initBackend: explicit choices, what backendInfo reports, bad options -> UserError, and the kernels it registers. */
import assert from "node:assert/strict";
import { backendInfo, initBackend, tf } from "../../lib/backend/mod.ts";
import { UserError } from "../../lib/util/errors.ts";

Deno.test("initBackend switches between cpu and wasm and reports them; bad options are UserErrors", async () => {
  await assert.rejects(() => initBackend({ backend: "tpu" as "cpu" }), UserError);
  await assert.rejects(() => initBackend({ backend: "wasm", threads: 0 }), UserError);
  const cpu = await initBackend({ backend: "cpu" });
  assert.equal(cpu.name, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  const wasm = await initBackend({ backend: "wasm", threads: 1 });
  assert.deepEqual([wasm.name, wasm.threads, wasm.simd], ["wasm", 1, true]);
  assert.match(wasm.detail, /SIMD, 1 thread/);
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(backendInfo(), wasm);
  for (const k of ["Conv2DBackpropFilter", "Conv2DBackpropInput", "UnsortedSegmentSum"]) {
    assert.ok(tf.getKernel(k, "wasm"), `${k} registered on wasm`);
  }
});
