/**
 * The predict preprocessing end to end against ultralytics' stored tensors: decode real COCO JPEGs (vs OpenCV
 * imread), letterbox, stack to [B,H,W,3] / 255 (vs `input.npy`, NCHW) — README tolerance 1/255 + 1e-7.
 */
import assert from "node:assert/strict";
import { fixture, hasFixture } from "../fixtures.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { initBackend, tf } from "../../lib/backend/mod.ts";
import { decodeImage, imagesToTensor, letterbox } from "../../lib/image/mod.ts";

const CASE = "reference/forward/f3_batch2_sq256";
const IMAGES = ["000000000308.jpg", "000000000360.jpg"];
const COCO = "coco128-seg/images/train2017";

Deno.test({
  name: "decode COCO JPEGs + letterbox 256 square + /255 equals f3_batch2_sq256/input.npy",
  ignore: !hasFixture(`${CASE}/input.npy`) || !hasFixture(`${COCO}/${IMAGES[0]}`),
  fn: async () => {
    await initBackend({ backend: "wasm", threads: 1 });
    const boxed = [];
    for (let b = 0; b < IMAGES.length; b++) {
      const img = await decodeImage(fixture(COCO, IMAGES[b]));
      const orig = await readNpy(fixture(CASE, `orig_${b}.npy`));
      assert.deepEqual([img.height, img.width, 3], orig.shape);
      let worst = 0;
      for (let i = 0; i < img.data.length; i++) {
        worst = Math.max(worst, Math.abs(img.data[i] - (orig.data[i] as number)));
      }
      console.log(`${IMAGES[b]}: decode vs OpenCV max |diff| ${worst}`);
      assert.ok(worst <= 3, `${IMAGES[b]}: JPEG decode differs from OpenCV by ${worst} levels`);
      boxed.push(letterbox(img, { newShape: 256 }).image);
    }
    const ref = await readNpy(fixture(CASE, "input.npy")); // [B, 3, H, W]
    const x = imagesToTensor(boxed);
    const nchw = tf.transpose(x, [0, 3, 1, 2]);
    assert.deepEqual(nchw.shape, ref.shape);
    const got = await nchw.data();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - (ref.data[i] as number)));
    console.log(`input tensor max |diff| ${worst}`);
    assert.ok(worst <= 1 / 255 + 1e-7, `input tensor max |diff| ${worst}`);
    tf.dispose([x, nchw]);
  },
});
