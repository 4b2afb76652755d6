/** Atomic file writes: write to a temporary name in the same folder, then rename, so no half-written file is left. */
import * as path from "node:path";

/** Write bytes or text to `file` atomically, creating the parent folder. */
export async function writeFileAtomic(file: string, content: Uint8Array | string): Promise<void> {
  await Deno.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof content === "string") await Deno.writeTextFile(tmp, content);
    else await Deno.writeFile(tmp, content);
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Write a value as pretty JSON atomically. */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}
