/**
 * The `ort` inference engine: runs an exported YOLOv8-seg ONNX graph with onnxruntime-node (CPU, 2 threads) and
 * hands back the same typed arrays as the tfjs engine (pred anchor-major [B, A, 4+nc+32], prototypes HWC), so the
 * project's own post-processing serves both. onnxruntime-node is optional: `ortAvailable()` says whether it loads,
 * and callers fall back to tfjs when it does not.
 */
import { UserError } from "../util/errors.ts";
import type { ForwardArrays } from "../yolo/predict.ts";
import type { Proto } from "../yolo/postprocess.ts";

// deno-lint-ignore no-explicit-any
type OrtModule = any;

let ortModule: OrtModule | null | undefined;
let ortError = "";

/** Load onnxruntime-node once; null (with the reason in `ortLoadError()`) when it is missing or fails to load. */
export async function loadOrt(): Promise<OrtModule | null> {
  if (ortModule !== undefined) return ortModule;
  if (Deno.env.get("ANIMESEG_NO_ORT") === "1") {
    ortError = "disabled by ANIMESEG_NO_ORT=1";
    ortModule = null;
    return null;
  }
  try {
    const name = "onnxruntime-node";
    ortModule = await import(name);
  } catch (e) {
    ortError = (e as Error).message.split("\n")[0];
    ortModule = null;
  }
  return ortModule;
}

/** Why onnxruntime-node did not load (empty when it did or was never tried). */
export function ortLoadError(): string {
  return ortError;
}

/** True when onnxruntime-node loads in this process. */
export async function ortAvailable(): Promise<boolean> {
  return (await loadOrt()) !== null;
}

/** A YOLOv8-seg ONNX session: `runArrays` takes an HWC float batch like the tfjs model path. */
export class OrtSegEngine {
  readonly engine = "ort";
  private constructor(
    // deno-lint-ignore no-explicit-any
    private readonly session: any,
    private readonly ort: OrtModule,
    readonly nc: number,
    readonly names: Record<number, string>,
    readonly file: string,
  ) {}

  /** Open an ONNX file (or bytes) exported by `animeseg export`; `threads` = intra-op threads (default 2). */
  static async open(
    source: string | Uint8Array,
    opts: { nc: number; names?: Record<number, string>; threads?: number },
  ): Promise<OrtSegEngine> {
    const ort = await loadOrt();
    if (!ort) throw new UserError(`onnxruntime-node is not available (${ortLoadError()})`);
    const file = typeof source === "string" ? source : "<onnx bytes>";
    let session;
    try {
      session = await ort.InferenceSession.create(source, {
        intraOpNumThreads: opts.threads ?? 2,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
    } catch (e) {
      throw new UserError(`cannot open ONNX model (${(e as Error).message.split("\n")[0]})`, file);
    }
    const names = opts.names ?? Object.fromEntries(Array.from({ length: opts.nc }, (_, i) => [i, String(i)]));
    return new OrtSegEngine(session, ort, opts.nc, names, file);
  }

  /** Run an HWC float batch [B, H, W, 3] (0..1): pred anchor-major [B, A, C] and per-image HWC prototypes. */
  async runArrays(input: Float32Array, B: number, H: number, W: number): Promise<ForwardArrays> {
    const chw = new Float32Array(B * 3 * H * W);
    const plane = H * W;
    for (let b = 0; b < B; b++) {
      const src = b * plane * 3, dst = b * plane * 3;
      for (let i = 0; i < plane; i++) {
        chw[dst + i] = input[src + i * 3];
        chw[dst + plane + i] = input[src + i * 3 + 1];
        chw[dst + 2 * plane + i] = input[src + i * 3 + 2];
      }
    }
    const feeds = { images: new this.ort.Tensor("float32", chw, [B, 3, H, W]) };
    const out = await this.session.run(feeds);
    const o0 = out.output0, o1 = out.output1;
    const [, C, A] = o0.dims as number[];
    const [, nm, mh, mw] = o1.dims as number[];
    const pc = o0.data as Float32Array;
    const pred = new Float32Array(B * A * C);
    for (let b = 0; b < B; b++) {
      const s = b * C * A;
      for (let c = 0; c < C; c++) {
        const row = s + c * A;
        for (let a = 0; a < A; a++) pred[s + a * C + c] = pc[row + a];
      }
    }
    const pr = o1.data as Float32Array;
    const protos: Proto[] = [];
    const per = nm * mh * mw;
    for (let b = 0; b < B; b++) {
      const hwc = new Float32Array(per);
      const base = b * per, hw = mh * mw;
      for (let c = 0; c < nm; c++) {
        const src = base + c * hw;
        for (let i = 0; i < hw; i++) hwc[i * nm + c] = pr[src + i];
      }
      protos.push({ data: hwc, h: mh, w: mw, c: nm });
    }
    o0.dispose?.();
    o1.dispose?.();
    return { pred, A, C, protos };
  }

  /** Release the session. */
  async dispose(): Promise<void> {
    await this.session.release?.();
  }
}
