/** Child process for the resume test: trains and prints "batch <epoch> <i>" after each batch. Args: yaml project name. */
import { train } from "../../lib/train/trainer.ts";

const [data, project, name] = Deno.args;
await train({
  data,
  model: "n",
  epochs: 2,
  imgsz: 64,
  batch: 2,
  project,
  name,
  seed: 3,
  val: false,
  quiet: true,
  onBatch: (e, i) => console.log(`batch ${e} ${i}`),
});
console.log("done");
