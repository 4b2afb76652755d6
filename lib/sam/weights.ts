/**
 * SAM checkpoint loading: a state_dict as a name → tensor map, from a torch `.pth`/`.pt` (through the project's torch
 * reader `lib/io/torch.ts` when present) or from a fixture `weights/` folder (`keys.json` + one `.npy` per tensor).
 */
import * as path from "node:path";
import { parseNpy, toNumbers } from "../io/npy.ts";
import { UserError } from "../util/errors.ts";

/** One state_dict entry: PyTorch shape, dtype name and data (float tensors as Float32Array). */
export interface StateEntry {
  shape: number[];
  dtype: string;
  data: Float32Array | Float64Array | Uint8Array | Int32Array;
}

/** A state_dict: key → tensor, in file order. */
export type StateDict = Map<string, StateEntry>;

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Read a fixture-style `weights/` folder (`keys.json` + `<name>.npy`); tensors without an `.npy` are omitted. */
export function loadNpyFolder(dir: string): StateDict {
  const keysFile = path.join(dir, "keys.json");
  let keys: { keys: { name: string; shape: number[]; dtype: string; npy: boolean }[] };
  try {
    keys = JSON.parse(Deno.readTextFileSync(keysFile));
  } catch (e) {
    throw new UserError(`cannot read weight index (${(e as Error).message})`, keysFile);
  }
  const out: StateDict = new Map();
  for (const k of keys.keys) {
    if (!k.npy) continue;
    const f = path.join(dir, `${k.name}.npy`);
    const a = parseNpy(Deno.readFileSync(f), f);
    const data = toNumbers(a);
    out.set(k.name, {
      shape: a.shape,
      dtype: a.dtype,
      data: data instanceof Float64Array && a.dtype !== "<i8" ? Float32Array.from(data) : data,
    });
  }
  return out;
}

/**
 * Load a SAM state_dict from `file`: a `.pth`/`.pt` checkpoint (via `lib/io/torch.ts` `loadStateDict`), a weights
 * folder with `keys.json`, or a model folder containing `model.pth` / `weights/`.
 */
export async function loadSamStateDict(file: string): Promise<StateDict> {
  let target = file;
  const st = (() => {
    try {
      return Deno.statSync(file);
    } catch {
      throw new UserError("no such file or folder", file);
    }
  })();
  if (st.isDirectory) {
    if (exists(path.join(file, "keys.json"))) return loadNpyFolder(file);
    const pth = path.join(file, "model.pth");
    const torchAvailable = await torchReader();
    if (exists(pth) && torchAvailable) target = pth;
    else if (exists(path.join(file, "weights", "keys.json"))) return loadNpyFolder(path.join(file, "weights"));
    else target = pth;
  }
  const reader = await torchReader();
  if (!reader) throw new UserError("reading torch checkpoints needs lib/io/torch.ts (not available)", target);
  const sd = await reader(target);
  const out: StateDict = new Map();
  for (const [k, v] of sd) {
    let data = v.data as StateEntry["data"] | BigInt64Array;
    if (data instanceof BigInt64Array) data = Float64Array.from(data, (x) => Number(x));
    else if (!(data instanceof Float32Array || data instanceof Uint8Array || data instanceof Int32Array)) {
      data = Float32Array.from(data as ArrayLike<number>);
    }
    out.set(k, { shape: [...v.shape], dtype: String(v.dtype), data: data as StateEntry["data"] });
  }
  return out;
}

type TorchLoader = (
  file: string,
) => Promise<Map<string, { shape: number[]; dtype: unknown; data: ArrayLike<number> | BigInt64Array }>>;
let torchLoader: TorchLoader | null | undefined;

async function torchReader(): Promise<TorchLoader | null> {
  if (torchLoader !== undefined) return torchLoader;
  const url = new URL("../io/torch.ts", import.meta.url);
  try {
    Deno.statSync(url);
    const mod = await import(url.href);
    const fn = mod.loadStateDict as TorchLoader | undefined;
    torchLoader = fn
      ? async (f: string) => {
        const r = await fn(f);
        return r instanceof Map ? r : new Map(Object.entries(r));
      }
      : null;
  } catch {
    torchLoader = null;
  }
  return torchLoader;
}

/** Fetch a tensor or throw a UserError naming the missing key. */
export function need(sd: StateDict, key: string): StateEntry {
  const e = sd.get(key);
  if (!e) throw new UserError(`SAM checkpoint lacks tensor '${key}'`);
  return e;
}

/** Float32 view of a state entry. */
export function f32(e: StateEntry): Float32Array {
  return e.data instanceof Float32Array ? e.data : Float32Array.from(e.data as ArrayLike<number>);
}
