/** Converting decoded images to model input tensors (NHWC float32 in [0, 1]). */
import { tf } from "../backend/mod.ts";
import type { Image8 } from "./types.ts";

const INV255 = Float32Array.from({ length: 256 }, (_, v) => v / 255); // float32(v / 255), as torch's img / 255

/** Stack same-size 3-channel uint8 images to a float32 tensor [B, H, W, 3] with values v / 255. */
export function imagesToTensor(images: Image8[]): tf.Tensor4D {
  if (images.length === 0) throw new RangeError("imagesToTensor: no images");
  const { height: h, width: w } = images[0];
  const n = h * w * 3;
  const out = new Float32Array(images.length * n);
  images.forEach((img, b) => {
    if (img.height !== h || img.width !== w || img.channels !== 3) {
      throw new RangeError(
        `imagesToTensor: image ${b} is ${img.height}x${img.width}x${img.channels}, expected ${h}x${w}x3`,
      );
    }
    const d = img.data, o = b * n;
    for (let i = 0; i < n; i++) out[o + i] = INV255[d[i]];
  });
  return tf.tensor4d(out, [images.length, h, w, 3], "float32");
}
