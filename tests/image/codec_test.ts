/**
 * Decoding with OpenCV imread(IMREAD_COLOR) semantics: 16-bit (high byte), grey+alpha, EXIF orientation, WebP;
 * bad input (corrupt, truncated, not an image, missing) -> UserError naming the file; encode round trips.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import sharp from "sharp";
import { decodeImage, decodeRgba, encodeJpeg, encodePng, writeImage } from "../../lib/image/mod.ts";
import { UserError } from "../../lib/util/errors.ts";
import { encodePng16 } from "./png16.ts";

const dir = await Deno.makeTempDir({ prefix: "animeseg-codec-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const u8 = (b: ArrayLike<number>) => Uint8Array.from(b);

Deno.test("16-bit grey PNG -> high byte, replicated to RGB", async () => {
  const s = Uint16Array.from([0, 255, 256, 511, 12345, 40000, 65280, 65535]);
  const img = await decodeImage(encodePng16(s, 2, 4, 1));
  assert.deepEqual([img.height, img.width, img.channels], [2, 4, 3]);
  const hi = [0, 0, 1, 1, 48, 156, 255, 255]; // floor(v / 256) by hand
  assert.deepEqual(img.data, u8(hi.flatMap((v) => [v, v, v])));
});

Deno.test("16-bit RGBA PNG -> alpha dropped without compositing (RGB) / kept (RGBA), high bytes", async () => {
  const s = Uint16Array.from([1000, 2000, 3000, 0, 65535, 32768, 256, 65535]);
  const png = encodePng16(s, 1, 2, 4);
  assert.deepEqual((await decodeImage(png)).data, u8([3, 7, 11, 255, 128, 1]));
  assert.deepEqual((await decodeRgba(png)).data, u8([3, 7, 11, 0, 255, 128, 1, 255]));
});

Deno.test("grey+alpha 8-bit PNG -> grey replicated, alpha dropped", async () => {
  const png = await sharp(u8([10, 0, 20, 255, 30, 128]), { raw: { width: 3, height: 1, channels: 2 } }).png()
    .toBuffer();
  assert.deepEqual((await decodeImage(png)).data, u8([10, 10, 10, 20, 20, 20, 30, 30, 30]));
  assert.deepEqual((await decodeRgba(png)).data, u8([10, 10, 10, 0, 20, 20, 20, 255, 30, 30, 30, 128]));
});

Deno.test("EXIF orientation 6 (rotate 90 degrees clockwise) is applied", async () => {
  const H = 2, W = 3;
  const rgb = u8(Array.from({ length: H * W * 3 }, (_, i) => i * 10));
  const png = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).withMetadata({ orientation: 6 }).png()
    .toBuffer();
  const img = await decodeImage(png);
  assert.deepEqual([img.height, img.width], [W, H]);
  // clockwise: out[r][c] = in[H-1-c][r]
  for (let r = 0; r < W; r++) {
    for (let c = 0; c < H; c++) {
      for (let k = 0; k < 3; k++) assert.equal(img.data[(r * H + c) * 3 + k], rgb[((H - 1 - c) * W + r) * 3 + k]);
    }
  }
  // JPEG: top half black, bottom half white, orientation 8 (90 degrees counter-clockwise) -> white on the right
  const blocks = u8(Array.from({ length: 16 * 16 * 3 }, (_, i) => (Math.floor(i / 48) >= 8 ? 255 : 0)));
  const jpg = await sharp(blocks, { raw: { width: 16, height: 16, channels: 3 } }).withMetadata({ orientation: 8 })
    .jpeg({ quality: 100 }).toBuffer();
  const j = await decodeImage(jpg);
  assert.ok(j.data[(4 * 16 + 2) * 3] < 20 && j.data[(4 * 16 + 13) * 3] > 235, "rotation of the JPEG");
});

Deno.test("WebP lossless and PNG RGB decode exactly; encodePng/encodeJpeg/writeImage round trip", async () => {
  const img = {
    data: u8(Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256)),
    height: 5,
    width: 4,
    channels: 3 as const,
  };
  const webp = await sharp(img.data, { raw: { width: 4, height: 5, channels: 3 } }).webp({ lossless: true }).toBuffer();
  assert.deepEqual((await decodeImage(webp)).data, img.data);
  assert.deepEqual((await decodeImage(await encodePng(img))).data, img.data);
  const flat = { ...img, data: new Uint8Array(img.data.length).fill(90) };
  const j = await decodeImage(await encodeJpeg(flat));
  assert.ok(j.data.every((v) => Math.abs(v - 90) <= 2));
  const f = path.join(dir, "out.png");
  await writeImage(f, img);
  assert.deepEqual((await decodeImage(f)).data, img.data);
  await assert.rejects(() => writeImage(path.join(dir, "out.bmp"), img), UserError);
});

Deno.test("corrupt, truncated, non-image and missing files -> UserError naming the file", async () => {
  const good = await encodePng({ data: new Uint8Array(32 * 32 * 3).fill(50), height: 32, width: 32, channels: 3 });
  const jpg = await encodeJpeg({ data: new Uint8Array(32 * 32 * 3).fill(50), height: 32, width: 32, channels: 3 });
  const files: Record<string, Uint8Array> = {
    "truncated.png": good.subarray(0, Math.floor(good.length / 2)),
    "truncated.jpg": jpg.subarray(0, jpg.length - 40),
    "garbage.png": u8(Array.from({ length: 300 }, (_, i) => (i * 73) % 256)),
    "notes.txt": new TextEncoder().encode("this is not an image\n"),
    "empty.jpg": new Uint8Array(),
  };
  for (const [name, bytes] of Object.entries(files)) {
    const f = path.join(dir, name);
    await Deno.writeFile(f, bytes);
    for (const decode of [decodeImage, decodeRgba]) {
      await assert.rejects(() => decode(f), (e: unknown) => {
        assert.ok(e instanceof UserError, `${name}: ${e}`);
        assert.ok(e.message.includes(f), `${name}: message should name the file: ${e.message}`);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      });
    }
  }
  await assert.rejects(
    () => decodeImage(path.join(dir, "missing.png")),
    /missing\.png: cannot read image: file not found/,
  );
});
