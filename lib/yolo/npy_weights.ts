/**
 * Reads a state dict dumped as one `.npy` per tensor plus `keys.json` ({name, shape, dtype, file}, state-dict order),
 * the layout of the reference fixtures' `yolo/<model>_sd/` folders. float16 is widened to float32 exactly.
 */
import * as path from "node:path";
import { NpyError, readNpy } from "../io/npy.ts";
import { UserError } from "../util/errors.ts";
import type { StateDict } from "./state_dict.ts";

interface KeyEntry {
  name: string;
  shape: number[];
  dtype: string;
  file: string;
}

/** Load `dir/keys.json` and its `.npy` files into a StateDict (float tensors as float32, int64 kept). */
export async function loadNpyStateDict(dir: string): Promise<StateDict> {
  const keysFile = path.join(dir, "keys.json");
  let keys: KeyEntry[];
  try {
    keys = JSON.parse(await Deno.readTextFile(keysFile));
  } catch (e) {
    throw new UserError(`cannot read state-dict index (${(e as Error).message})`, keysFile);
  }
  if (!Array.isArray(keys)) throw new UserError("expected a JSON list of {name, shape, dtype, file}", keysFile);
  const sd: StateDict = new Map();
  for (const k of keys) {
    if (typeof k?.name !== "string" || typeof k?.file !== "string") {
      throw new UserError("entry without name/file", keysFile);
    }
    const f = path.join(dir, k.file);
    try {
      const a = await readNpy(f);
      const want = k.shape.reduce((x, y) => x * y, 1);
      if (a.data.length !== want) throw new UserError(`has ${a.data.length} values, keys.json says ${want}`, f);
      const dtype = a.dtype === "<i8" ? "int64" as const : "float32" as const;
      sd.set(k.name, { shape: [...k.shape], dtype, data: a.data as Float32Array | BigInt64Array });
    } catch (e) {
      if (e instanceof NpyError) throw new UserError(e.message);
      throw e;
    }
  }
  return sd;
}
