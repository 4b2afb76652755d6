/** Small file-system helpers shared across modules. */

/** True when `p` exists (file or folder). */
export async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Read and parse a JSON file, or null when it is missing or not valid JSON. */
export async function readJsonOrNull<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as T;
  } catch {
    return null;
  }
}

/** True when `p` exists (synchronous). */
export function existsSync(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
