/** The `weights` command: `list` names every registry entry with its official URL; `info` summarises fixtures. */
import assert from "node:assert/strict";
import { fixture, hasFixture } from "../fixtures.ts";
import { command } from "../../cli/weights.ts";
import { findWeights, WEIGHTS } from "../../lib/io/weights.ts";
import { UserError } from "../../lib/util/errors.ts";

async function capture(positional: string[], opts: Record<string, string | number | boolean | undefined> = {}) {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const rc = await command.run({ opts, positional });
    return { rc, out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("weights: registry entries and `weights list`", async () => {
  assert.deepEqual(WEIGHTS.map((w) => w.name), [
    "yolov8n-seg",
    "yolov8s-seg",
    "yolov8m-seg",
    "yolov8l-seg",
    "yolov8x-seg",
    "sam_vit_b",
    "sam_vit_l",
    "sam_vit_h",
    "mobile_sam",
  ]);
  assert.equal(
    findWeights("yolov8s-seg.pt")?.url,
    "https://github.com/ultralytics/assets/releases/download/v8.2.0/yolov8s-seg.pt",
  );
  assert.equal(findWeights("SAM_VIT_H")?.url, "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth");
  assert.equal(findWeights("sam_vit_b_01ec64.pth")?.name, "sam_vit_b");
  const { rc, out } = await capture(["list"]);
  assert.equal(rc, 0);
  for (const w of WEIGHTS) assert.ok(out.includes(w.url), w.url);
  await assert.rejects(() => capture(["frobnicate"]), UserError);
});

Deno.test({
  name: "weights: `weights info` on the pretrained checkpoint and a SAM state_dict",
  ignore: !hasFixture("pretrained/yolov8n-seg-coco.pt") || !hasFixture("reference/sam/vit_tiny/model.pth"),
  fn: async () => {
    const y = await capture(["info", fixture("pretrained/yolov8n-seg-coco.pt")]);
    assert.equal(y.rc, 0);
    assert.match(y.out, /tensors: {2}417 \(351 float16, 66 int64\)/);
    assert.match(y.out, /yolo: {5}YOLOv8n-seg/);
    assert.match(y.out, /nc: {7}80/);
    assert.match(y.out, /names: {4}person, bicycle, car/);
    assert.match(y.out, /model\.0\.conv\.weight\s+float16\s+\[16, 3, 3, 3\]/);
    assert.match(y.out, /397 more/);
    const s = await capture(["info", fixture("reference/sam/vit_tiny/model.pth")], { all: true });
    assert.match(s.out, /tensors: {2}202 \(202 float32\)/);
    assert.match(s.out, /sam: {6}SAM ViT \(width \d+\)/);
    assert.ok(!/more \(all=true/.test(s.out));
  },
});
