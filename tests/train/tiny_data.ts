/** A tiny synthetic YOLO-seg dataset (coloured rectangles and triangles on grey) written to a folder, for trainer tests. */
import * as path from "node:path";
import { encodePngRaw } from "../../lib/data/image_io.ts";

/** Write `n` images of size×size with 1–2 shapes each; returns the dataset YAML path. */
export async function makeTinyDataset(dir: string, n = 6, size = 64, seed = 1): Promise<string> {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const split of ["train", "val"]) {
    await Deno.mkdir(path.join(dir, "images", split), { recursive: true });
    await Deno.mkdir(path.join(dir, "labels", split), { recursive: true });
    for (let k = 0; k < n; k++) {
      const data = new Uint8Array(size * size * 4);
      for (let i = 0; i < size * size; i++) data.set([128, 128, 128, 255], i * 4);
      const lines: string[] = [];
      const shapes = 1 + (k % 2);
      for (let j = 0; j < shapes; j++) {
        const w = Math.floor(size * (0.25 + 0.3 * rnd())), h = Math.floor(size * (0.25 + 0.3 * rnd()));
        const x0 = Math.floor(rnd() * (size - w)), y0 = Math.floor(rnd() * (size - h));
        const cls = j % 2;
        const col = cls ? [220, 40, 40] : [40, 40, 220];
        for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data.set([...col, 255], (y * size + x) * 4);
        const p = [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h].map((v) => (v / size).toFixed(5));
        lines.push(`${cls} ${p.join(" ")}`);
      }
      const png = await encodePngRaw({ data, width: size, height: size, channels: 4 });
      await Deno.writeFile(path.join(dir, "images", split, `im${k}.png`), png);
      await Deno.writeTextFile(path.join(dir, "labels", split, `im${k}.txt`), lines.join("\n") + "\n");
    }
  }
  const yaml = path.join(dir, "tiny.yaml");
  await Deno.writeTextFile(yaml, `path: ${dir}\ntrain: images/train\nval: images/val\nnames:\n  0: blue\n  1: red\n`);
  return yaml;
}
