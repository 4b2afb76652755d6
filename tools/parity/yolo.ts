/**
 * Parity category `yolo/`: every `<stem>.pt` that has a `<stem>_sd/keys.json` is loaded with the project's torch
 * reader (as ultralytics does: `ema` else `model`) and every state-dict tensor is compared bit-for-bit with its
 * `.npy` dump when present, else with `sha256_as_float32_le` / `sha256_raw_le`. `<stem>_state_dict.pt` (a plain
 * `torch.save(state_dict)`) is checked the same way when present. One line per file.
 */
import * as path from "node:path";
import type { CaseResult, ParityCategory } from "./types.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { loadStateDict, loadUltralyticsCheckpoint, type StateDict } from "../../lib/io/torch.ts";
import { dataBitEqual, float32Bytes, sha256Hex, storedBytes } from "../../lib/io/tensor_bytes.ts";
import { exists } from "../../lib/util/fs.ts";

/** One reference tensor: name, shape, dtype, and where its expected bits are (an .npy and/or digests). */
export interface RefKey {
  name: string;
  shape: number[];
  dtype: string;
  /** absolute path of the .npy dump, when there is one */
  npy?: string;
  /** SHA-256 of the values as little-endian float32 (float tensors) */
  sha256AsFloat32?: string;
  /** SHA-256 of the raw stored little-endian bytes */
  sha256Raw?: string;
}

/** Result of comparing a state_dict with reference keys. */
export interface KeyComparison {
  total: number;
  identical: number;
  viaNpy: number;
  viaHash: number;
  /** human-readable problems (first few) */
  problems: string[];
  /** true when the state_dict has exactly the reference names in the reference order */
  orderOk: boolean;
}

/**
 * Read a keys.json in either layout: the YOLO list (`[{name, shape, dtype, file, sha256_raw_le,
 * sha256_as_float32_le}]`) or the SAM object (`{count, keys: [{name, shape, dtype, sha256, npy}]}`).
 */
export async function readRefKeys(keysJson: string): Promise<RefKey[]> {
  const dir = path.dirname(keysJson);
  const raw = JSON.parse(await Deno.readTextFile(keysJson));
  const list: Record<string, unknown>[] = Array.isArray(raw) ? raw : raw.keys;
  if (!Array.isArray(list)) throw new Error(`${keysJson}: neither a list nor {keys: [...]}`);
  const out: RefKey[] = [];
  for (const k of list) {
    const name = String(k.name);
    let npy: string | undefined;
    if (typeof k.file === "string") npy = path.join(dir, k.file);
    else if (k.npy === true) npy = path.join(dir, `${name}.npy`);
    if (npy) {
      try {
        await Deno.stat(npy);
      } catch {
        npy = undefined;
      }
    }
    out.push({
      name,
      shape: (k.shape as number[]).map(Number),
      dtype: String(k.dtype),
      npy,
      sha256AsFloat32: typeof k.sha256_as_float32_le === "string" ? k.sha256_as_float32_le : undefined,
      sha256Raw: typeof k.sha256_raw_le === "string"
        ? k.sha256_raw_le
        : typeof k.sha256 === "string"
        ? k.sha256
        : undefined,
    });
  }
  return out;
}

/** Compare every tensor of `sd` with the reference bit-for-bit (npy first, else float32 / raw SHA-256). */
export async function compareWithRefKeys(sd: StateDict, keys: RefKey[]): Promise<KeyComparison> {
  const problems: string[] = [];
  let identical = 0, viaNpy = 0, viaHash = 0;
  const names = [...sd.keys()];
  const orderOk = names.length === keys.length && keys.every((k, i) => names[i] === k.name);
  if (!orderOk) {
    const extra = names.filter((n) => !keys.some((k) => k.name === n));
    problems.push(
      `names/order differ from the reference (${names.length} vs ${keys.length}; extra: ${
        extra.slice(0, 3).join(", ")
      })`,
    );
  }
  for (const k of keys) {
    const t = sd.get(k.name);
    if (!t) {
      problems.push(`${k.name}: missing`);
      continue;
    }
    if (t.shape.length !== k.shape.length || t.shape.some((d, i) => d !== k.shape[i])) {
      problems.push(`${k.name}: shape [${t.shape}] vs [${k.shape}]`);
      continue;
    }
    if (t.dtype !== k.dtype) {
      problems.push(`${k.name}: dtype ${t.dtype} vs ${k.dtype}`);
      continue;
    }
    let same: boolean;
    if (k.npy) {
      const ref = await readNpy(k.npy);
      same = ref.shape.length === t.shape.length && dataBitEqual(t.data, ref.data);
      viaNpy++;
    } else if (k.sha256AsFloat32 && float32Bytes(t)) {
      same = sha256Hex(float32Bytes(t)!) === k.sha256AsFloat32;
      viaHash++;
    } else if (k.sha256Raw) {
      same = sha256Hex(storedBytes(t)) === k.sha256Raw;
      viaHash++;
    } else {
      problems.push(`${k.name}: no .npy and no digest in the reference`);
      continue;
    }
    if (same) identical++;
    else problems.push(`${k.name}: values differ`);
  }
  return { total: keys.length, identical, viaNpy, viaHash, problems, orderOk };
}

function verdictOf(c: KeyComparison): "PASS" | "FAIL" {
  return c.identical === c.total && c.orderOk && c.problems.length === 0 ? "PASS" : "FAIL";
}

function summary(c: KeyComparison, ms: number, extra = ""): string {
  const how = `npy ${c.viaNpy}, sha256 ${c.viaHash}`;
  const probs = c.problems.length ? `; ${c.problems.slice(0, 3).join("; ")}` : "";
  return `${c.identical}/${c.total} tensors identical (${how}), load ${ms.toFixed(0)} ms${extra}${probs}`;
}

/** The `yolo/` parity category. */
export const category: ParityCategory = {
  folder: "yolo",
  async *run(root: string): AsyncIterable<CaseResult> {
    const dir = path.join(root, "yolo");
    const files: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".pt") && !e.name.endsWith("_state_dict.pt")) files.push(e.name);
    }
    files.sort();
    let models: Record<string, { nc?: number }> = {};
    if (await exists(path.join(dir, "models.json"))) {
      models = JSON.parse(await Deno.readTextFile(path.join(dir, "models.json")));
    }
    for (const f of files) {
      const stem = f.slice(0, -3);
      const keysJson = path.join(dir, `${stem}_sd`, "keys.json");
      if (!await exists(keysJson)) continue;
      const keys = await readRefKeys(keysJson);
      try {
        const t0 = performance.now();
        const ck = await loadUltralyticsCheckpoint(path.join(dir, f));
        const ms = performance.now() - t0;
        const c = await compareWithRefKeys(ck.stateDict, keys);
        const refNc = models[stem]?.nc;
        if (refNc !== undefined && refNc !== ck.nc) c.problems.push(`nc ${ck.nc} vs models.json ${refNc}`);
        yield {
          name: `yolo/${stem}`,
          verdict: verdictOf(c),
          detail: summary(c, ms, `, nc ${ck.nc}, from '${ck.source}'`),
        };
      } catch (e) {
        yield { name: `yolo/${stem}`, verdict: "FAIL", detail: `error: ${(e as Error).message}` };
      }
      const plain = path.join(dir, `${stem}_state_dict.pt`);
      if (await exists(plain)) {
        try {
          const t0 = performance.now();
          const sd = await loadStateDict(plain);
          const ms = performance.now() - t0;
          const c = await compareWithRefKeys(sd, keys);
          yield { name: `yolo/${stem}_state_dict`, verdict: verdictOf(c), detail: summary(c, ms) };
        } catch (e) {
          yield { name: `yolo/${stem}_state_dict`, verdict: "FAIL", detail: `error: ${(e as Error).message}` };
        }
      }
    }
  },
};
