import assert from "node:assert/strict";
import { command } from "../../cli/data.ts";
import { parseCommandArgs } from "../../lib/cli/args.ts";
import { readYoloDataset } from "../../lib/data/yolo.ts";
import { UserError } from "../../lib/util/errors.ts";
import { fixture, hasFixture } from "../fixtures.ts";

Deno.test({
  name: "cli data synth (key=value and --key value) then stats writes a grid; bad subcommand is a UserError",
  ignore: !hasFixture("skytnt_sample"),
  fn: async () => {
    const out = Deno.makeTempDirSync();
    const args = parseCommandArgs(command, [
      "synth",
      "mode=simple",
      `src=${fixture("skytnt_sample")}`,
      "--out",
      `${out}/s`,
      "n=3",
      "seed=1",
      "imgsz=96",
      "labels=union",
    ]);
    assert.equal(await command.run(args), 0);
    const ds = readYoloDataset(`${out}/s/data.yaml`);
    assert.equal(ds.items.length, 3);
    assert.equal(
      await command.run(parseCommandArgs(command, ["stats", `data=${out}/s/data.yaml`, `grid=${out}/g.png`])),
      0,
    );
    assert.ok(Deno.statSync(`${out}/g.png`).size > 1000);
    await assert.rejects(() => command.run(parseCommandArgs(command, ["nope"])), UserError);
    assert.throws(() => parseCommandArgs(command, ["synth", "labels=both"]), /not one of/);
    Deno.removeSync(out, { recursive: true });
  },
});
