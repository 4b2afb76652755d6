/** Locating the shared fixtures (`../shared/fixtures` beside the project, or ANIMESEG_FIXTURES). Tests skip when absent. */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Absolute path of the fixtures folder (may not exist). */
export const FIXTURES: string = Deno.env.get("ANIMESEG_FIXTURES") ?? path.resolve(root, "../shared/fixtures");

/** Project root folder. */
export const ROOT: string = root;

/** Path under the fixtures folder. */
export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

/** True when the given fixture path exists; prints a clear skip message otherwise. */
export function hasFixture(rel: string): boolean {
  try {
    Deno.statSync(fixture(rel));
    return true;
  } catch {
    console.warn(`SKIP: fixture ${fixture(rel)} not found`);
    return false;
  }
}
