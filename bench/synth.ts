/**
 * Synthesis speed: images/s for the study's "reinforced" set at 640 px (instances labels, JPEG) with 1 and 2 workers,
 * on the shared SkyTNT sample when present (real cut-outs, up to 768 px) else on the built-in generated data.
 * Usage: deno run -A bench/synth.ts [n=24] [imgsz=640]
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { synthConfig, synthesize } from "../lib/data/synth.ts";
import { ensureBuiltinData } from "../lib/data/builtin.ts";

const arg = (k: string, d: number) => Number(Deno.args.find((a) => a.startsWith(`${k}=`))?.split("=")[1] ?? d);
const n = arg("n", 24), imgsz = arg("imgsz", 640);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sky = Deno.env.get("ANIMESEG_FIXTURES") ?? path.resolve(root, "../shared/fixtures");
let src = path.join(sky, "skytnt_sample");
try {
  Deno.statSync(path.join(src, "fg"));
} catch {
  src = await ensureBuiltinData(path.join(root, "data/builtin"), { seed: 0 });
}
console.log(
  `source: ${src}\nreinforced, ${imgsz} px, instances labels, ${n} images, ${navigator.hardwareConcurrency} cores`,
);
const rates: number[] = [];
for (const workers of [1, 2]) {
  const out = Deno.makeTempDirSync({ prefix: "animeseg_bench_synth_" });
  const t0 = performance.now();
  const r = await synthesize({ src, out, n, seed: 123, config: synthConfig("reinforced", { imgsz }), workers });
  const s = (performance.now() - t0) / 1000;
  rates.push(n / s);
  console.log(
    `workers=${workers}: ${(n / s).toFixed(2)} images/s (${
      s.toFixed(1)
    } s, ${r.instances} instances, ${r.dropped} dropped)`,
  );
  Deno.removeSync(out, { recursive: true });
}
console.log(`speed-up with 2 workers: ${(rates[1] / rates[0]).toFixed(2)}x`);
