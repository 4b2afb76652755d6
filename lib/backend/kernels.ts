/**
 * The project's tfjs kernels: conv gradients built from fast ops the backend already has.
 *
 * - `Conv2DBackpropFilter` (missing on wasm; pathologically slow on cpu): one conv2d with dilation = stride of the
 *   transposed input with the transposed output gradient; on wasm for stride 1 and small images, one matMul per
 *   filter tap on the flattened padded image (faster there).
 * - `Conv2DBackpropInput` (45–72× slower than torch on wasm): dX as a stride-1 conv2d of the output gradient with
 *   the flipped, in/out-swapped filter; for stride s > 1 one such conv per output phase (s_h·s_w of them, each with
 *   the taps that reach it), interleaved by reshape.
 * - `UnsortedSegmentSum` (missing on wasm; the gradient of `gather`): a `scatterND`, which sums duplicate ids.
 * - `BatchMatMul` on wasm with transposeA/B (10-30× slower than untransposed there, and used by every matMul
 *   gradient): explicit transposes, then tfjs' own kernel.
 *
 * All handle NHWC and NCHW, any strides, 'same' / 'valid' / numeric / explicit pads, any kernel size; dilation 1.
 * Kernel functions call tfjs ops inside `tf.tidy`; ops run inside a kernel are not recorded on the gradient tape.
 */
import * as tf from "@tensorflow/tfjs";

type Pad = "valid" | "same" | number | tf.backend_util.ExplicitPadding;
type Rounding = "floor" | "round" | "ceil" | undefined;

/** Kernel names this module registers, per backend name. */
export const PROJECT_KERNELS: Record<string, string[]> = {
  wasm: ["Conv2DBackpropFilter", "Conv2DBackpropInput", "UnsortedSegmentSum", "Identity", "Slice", "SplitV"],
  cpu: ["Conv2DBackpropFilter"],
};

const builtins = new Map<string, tf.KernelConfig | undefined>();

function asTensor(t: tf.TensorInfo | undefined): tf.Tensor {
  if (!t) throw new Error("kernel input missing");
  return t instanceof tf.Tensor ? t : tf.engine().makeTensorFromTensorInfo(t);
}

function toNhwc(t: tf.Tensor, dataFormat: string): tf.Tensor4D {
  return (dataFormat === "NCHW" ? tf.transpose(t, [0, 2, 3, 1]) : t) as tf.Tensor4D;
}

function nhwcShape(shape: number[], dataFormat: string): [number, number, number, number] {
  const [a, b, c, d] = shape;
  return dataFormat === "NCHW" ? [a, c, d, b] : [a, b, c, d];
}

function strides2(s: number | [number, number]): [number, number] {
  return typeof s === "number" ? [s, s] : s;
}

/**
 * Pad and/or crop rows (axis 1) and columns (axis 2) of NHWC `t` so that output index k holds input index
 * k - before (zeros outside), with `len` entries per axis. Negative `before` crops.
 */
function padOrCrop(t: tf.Tensor4D, beforeH: number, lenH: number, beforeW: number, lenW: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const pt = Math.max(0, beforeH), pl = Math.max(0, beforeW);
  const pb = Math.max(0, lenH - (h + beforeH)), pr = Math.max(0, lenW - (w + beforeW));
  let out = t;
  if (pt || pb || pl || pr) out = tf.pad(out, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
  const st = Math.max(0, -beforeH), sl = Math.max(0, -beforeW);
  if (st || sl || out.shape[1] !== lenH || out.shape[2] !== lenW) {
    out = tf.slice(out, [0, st, sl, 0], [n, lenH, lenW, c]);
  }
  return out;
}

/**
 * Rows `rows` of the 2-D tensor `t` ([R, C] -> [rows.length, C]) as a 0/1 selection matMul: exact, and ~50x
 * faster on wasm than `tf.gather` / `tf.reverse` (both slow element-wise kernels there).
 */
function selectRows(t: tf.Tensor2D, rows: number[]): tf.Tensor2D {
  const r = t.shape[0];
  const sel = new Float32Array(rows.length * r);
  rows.forEach((src, i) => (sel[i * r + src] = 1));
  return tf.matMul(tf.tensor2d(sel, [rows.length, r]), t);
}

/** dW [kh, kw, ci, co] of conv2d(x [n,h,w,ci], W) given dy [n,ho,wo,co] (NHWC, dilation 1). */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape,
      strides2(strides),
      1,
      pad,
      dimRoundingMode,
      false,
      "channelsLast",
    );
    const [kh, kw, ci, co] = filterShape;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    const [ho, wo] = [info.outHeight, info.outWidth];
    const needH = (ho - 1) * sh + kh, needW = (wo - 1) * sw + kw;
    const n = x.shape[0];
    if (tf.getBackend() === "cpu" || sh > 1 || sw > 1 || n * ho * wo > 80 * 80) {
      // cpu, and on wasm strided or large-image convs (measured faster there than the per-tap matMuls below):
      // out[c, p, q, o] = sum_{n,i,j} xp[n, p + i*sh, q + j*sw, c] dy[n, i, j, o], a conv with dilation = stride
      const xc = padOrCrop(x, info.padInfo.top, needH, info.padInfo.left, needW);
      const xt = tf.transpose(xc, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, needH, needW, n]
      const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [ho, wo, n, co]
      return tf.transpose(tf.conv2d(xt, f, 1, "valid", "NHWC", [sh, sw]), [1, 2, 0, 3]) as tf.Tensor4D;
    }
    // wasm, stride 1, up to 80x80 outputs (YOLOv8's deeper layers; 1.3-1.6x faster than the conv above there):
    // dW[p, q] = sum_k xp_flat[k, :]^T dy_shift_pq[k, :] over the flattened padded image (k = n, r, s),
    // where dy_shift_pq is dy placed at (r + p, s + q) on the padded canvas. On the flattened canvas that shift is a
    // plain row offset p*W' + q, so each tap is a contiguous slice (fast) and one plain matMul (wasm's strided
    // slices and transposed matMuls are 10-30x slower than these).
    const xp = padOrCrop(x, info.padInfo.top, needH, info.padInfo.left, needW);
    const k = n * needH * needW;
    const xT = tf.reshape(tf.transpose(xp, [3, 0, 1, 2]), [ci, k]);
    const off = (kh - 1) * needW + (kw - 1);
    const d0 = tf.reshape(tf.pad(dy, [[0, 0], [0, needH - ho], [0, needW - wo], [0, 0]]), [k, co]);
    const dext = off > 0 ? tf.pad(d0, [[off, 0], [0, 0]]) : d0;
    const taps: tf.Tensor[] = [];
    for (let p = 0; p < kh; p++) {
      for (let q = 0; q < kw; q++) {
        const shift = p * needW + q;
        taps.push(tf.matMul(xT, off > 0 ? tf.slice(dext, [off - shift, 0], [k, co]) : dext));
      }
    }
    return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), [kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/** dX [n, h, w, ci] (shape `inputShape`) of conv2d(x, W [kh,kw,ci,co]) given dy [n,ho,wo,co] (NHWC, dilation 1). */
export function conv2dInputGrad(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape,
      strides2(strides),
      1,
      pad,
      dimRoundingMode,
      false,
      "channelsLast",
    );
    const [kh, kw, ci, co] = filter.shape;
    const [n, h, w] = inputShape;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    const [ho, wo] = [info.outHeight, info.outWidth];
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
      const m = n * ho * wo;
      const wt = tf.transpose(tf.reshape(filter, [ci, co])); // [co, ci]: avoid wasm's slow transposed matMul
      const g = tf.matMul(tf.reshape(dy, [m, co]), wt).reshape([n, ho, wo, ci]);
      return padOrCrop(g as tf.Tensor4D, -info.padInfo.top, h, -info.padInfo.left, w);
    }
    if (sh > 1 || sw > 1) {
      return stridedInputGrad([n, h, w, ci], dy, filter, sh, sw, info.padInfo.top, info.padInfo.left);
    }
    // dx[r] = sum_p dy[r + top - p] W[p]  ==  valid conv of dy (shifted by kh-1-top) with the flipped filter.
    const dyp = padOrCrop(dy, kh - 1 - info.padInfo.top, h + kh - 1, kw - 1 - info.padInfo.left, w + kw - 1);
    // flipped filter: reversing both spatial axes = reversing the flattened kh*kw index
    const flipped = selectRows(
      tf.reshape(filter, [kh * kw, ci * co]),
      Array.from({ length: kh * kw }, (_, i) => kh * kw - 1 - i),
    );
    const wf = tf.transpose(tf.reshape(flipped, [kh, kw, ci, co]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, co, ci]
    return tf.conv2d(dyp, wf, 1, "valid");
  });
}

/**
 * Filter taps that reach output phase `a` (output index r = s*u + a) along one axis: dx_a[u] = sum_t dyp[u + t] K[t]
 * with dyp[k] = dy[k + dmin] and tap t using filter index p = a + top - s*(dmin + t). Returns dmin and the p list.
 */
function phaseTaps(a: number, s: number, top: number, k: number): { dmin: number; taps: number[] } {
  const ps: number[] = [];
  for (let p = k - 1; p >= 0; p--) if ((((a + top - p) % s) + s) % s === 0) ps.push(p); // d increases as p drops
  return { dmin: ps.length ? (a + top - ps[0]) / s : 0, taps: ps };
}

/**
 * dX for stride > 1 without spreading dy with zeros: one stride-1 conv per output phase (a, b) with the filter taps
 * that reach it (s_h*s_w convs with kh*kw taps in total), then the phases are interleaved by reshape/transpose.
 */
function stridedInputGrad(
  [n, h, w, ci]: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  sh: number,
  sw: number,
  top: number,
  left: number,
): tf.Tensor4D {
  const [kh, kw, , co] = filter.shape;
  const U = Math.ceil(h / sh), V = Math.ceil(w / sw);
  const wt = tf.reshape(tf.transpose(filter, [0, 1, 3, 2]), [kh * kw, co * ci]) as tf.Tensor2D; // taps x (co, ci)
  const rows: tf.Tensor[] = [];
  for (let a = 0; a < sh; a++) {
    const ra = phaseTaps(a, sh, top, kh);
    const cols: tf.Tensor[] = [];
    for (let b = 0; b < sw; b++) {
      const cb = phaseTaps(b, sw, left, kw);
      if (!ra.taps.length || !cb.taps.length) {
        cols.push(tf.zeros([n, U, V, ci]));
        continue;
      }
      // sub-filter [T_a, T_b, co, ci]: gather the taps (in the order of increasing offset)
      const flat = ra.taps.flatMap((p) => cb.taps.map((q) => p * kw + q));
      const sub = tf.reshape(selectRows(wt, flat), [ra.taps.length, cb.taps.length, co, ci]) as tf.Tensor4D;
      const dyp = padOrCrop(dy, -ra.dmin, U + ra.taps.length - 1, -cb.dmin, V + cb.taps.length - 1);
      cols.push(tf.conv2d(dyp, sub, 1, "valid"));
    }
    rows.push(tf.stack(cols, 3)); // [n, U, V, sw, ci]
  }
  const full = tf.reshape(tf.stack(rows, 2), [n, U * sh, V * sw, ci]); // [n, U, sh, V, sw, ci] -> interleaved
  return (U * sh === h && V * sw === w ? full : tf.slice(full, [0, 0, 0, 0], [n, h, w, ci])) as tf.Tensor4D;
}

function filterKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: "Conv2DBackpropFilter",
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as {
        strides: [number, number];
        pad: Pad;
        dataFormat: string;
        dimRoundingMode?: Rounding;
        filterShape: [number, number, number, number];
      };
      return tf.tidy(() => {
        const x = toNhwc(asTensor(inputs.x), a.dataFormat);
        const dy = toNhwc(asTensor(inputs.dy), a.dataFormat);
        return conv2dFilterGrad(x, dy, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
      });
    },
  };
}

function inputKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: "Conv2DBackpropInput",
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as {
        strides: [number, number];
        pad: Pad;
        dataFormat: string;
        dimRoundingMode?: Rounding;
        inputShape: [number, number, number, number];
      };
      return tf.tidy(() => {
        const dy = toNhwc(asTensor(inputs.dy), a.dataFormat);
        const shape = nhwcShape(a.inputShape, a.dataFormat);
        const dx = conv2dInputGrad(
          shape,
          dy,
          asTensor(inputs.filter) as tf.Tensor4D,
          a.strides,
          a.pad,
          a.dimRoundingMode,
        );
        return a.dataFormat === "NCHW" ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
      });
    },
  };
}

function segmentSumKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: "UnsortedSegmentSum",
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      return tf.tidy(() => {
        const x = asTensor(inputs.x);
        const ids = asTensor(inputs.segmentIds);
        const rest = x.shape.slice(ids.rank);
        const m = ids.size;
        const idx = tf.reshape(tf.cast(ids, "int32"), [m, 1]);
        const upd = tf.reshape(x, [m, ...rest]);
        return tf.scatterND(idx, upd, [numSegments, ...rest]);
      });
    },
  };
}

/**
 * wasm `BatchMatMul` with transposeA/transposeB: transpose explicitly (fast) and run tfjs' kernel untransposed; its
 * transposed path is 10-30x slower. Wraps the built-in, so it must be registered after the backend started.
 */
function batchMatMulKernel(builtin: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: "BatchMatMul",
    backendName: builtin.backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const a = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!a.transposeA && !a.transposeB) return builtin.kernelFunc({ inputs, attrs, backend });
      let out: tf.TensorInfo | tf.TensorInfo[] = [];
      tf.tidy(() => {
        const swap = (t: tf.TensorInfo | undefined) => {
          const x = asTensor(t);
          return tf.transpose(
            x,
            [...x.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)),
          );
        };
        const ta = a.transposeA ? swap(inputs.a) : inputs.a!;
        const tb = a.transposeB ? swap(inputs.b) : inputs.b!;
        const plain = { ...attrs, transposeA: false, transposeB: false };
        out = builtin.kernelFunc({ inputs: { a: ta, b: tb }, attrs: plain, backend });
      });
      return out;
    },
  };
}

interface WasmLike {
  incRef(dataId: unknown): void;
  readSync(dataId: unknown): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * wasm `Identity` sharing the input's buffer (as the cpu backend does) instead of copying it: the engine clones every
 * tensor it saves for the backward pass, ~2000 full copies per YOLOv8n-seg training step. Buffers are never written
 * in place (kernels write fresh outputs; variable assignment swaps buffers), so sharing is safe.
 */
function identityKernel(): tf.KernelConfig {
  return {
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x!;
      if (x.dtype === "string") return builtins.get("wasm/Identity")!.kernelFunc({ inputs, backend, attrs: {} });
      (backend as unknown as WasmLike).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}

/**
 * Slice of a numeric tensor on wasm: contiguous ranges copied at once; otherwise the rows of the innermost sliced run
 * are copied with plain element loops (tfjs' wasm Slice makes a typed-array view per row: ~40 ms for a channel slice of
 * a 4x80x80x64 tensor; this is several times faster).
 */
function sliceWasm(backend: WasmLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const rank = x.shape.length;
  const out = backend.makeOutput(size, x.dtype);
  const xv = backend.readSync(x.dataId);
  const ov = backend.typedArrayFromHeap(out);
  if (ov.length === 0) return out;
  // merge trailing axes that are taken whole into one contiguous run
  let run = 1, axis = rank - 1;
  while (axis > 0 && begin[axis] === 0 && size[axis] === x.shape[axis]) run *= x.shape[axis--];
  const inner = size[axis] * run; // elements copied per row
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * x.shape[i + 1];
  const base0 = begin[axis] * strides[axis];
  const outer = size.slice(0, axis);
  const rows = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(axis).fill(0);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    let off = base0;
    for (let i = 0; i < axis; i++) off += (begin[i] + idx[i]) * strides[i];
    if (inner >= 64) {
      ov.set(xv.subarray(off, off + inner), o);
      o += inner;
    } else {
      for (let e = 0; e < inner; e++) ov[o++] = xv[off + e];
    }
    for (let i = axis - 1; i >= 0; i--) {
      if (++idx[i] < outer[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

function sliceKernel(): tf.KernelConfig {
  return {
    kernelName: "Slice",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const x = inputs.x!;
      const a = attrs as unknown as { begin: number | number[]; size: number | number[] };
      if (x.dtype === "string") return builtins.get("wasm/Slice")!.kernelFunc({ inputs, attrs, backend });
      const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, a.begin, a.size);
      return sliceWasm(backend as unknown as WasmLike, x, begin, size);
    },
  };
}

function splitVKernel(): tf.KernelConfig {
  return {
    kernelName: "SplitV",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const x = inputs.x!;
      const a = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
      if (x.dtype === "string") return builtins.get("wasm/SplitV")!.kernelFunc({ inputs, attrs, backend });
      const axis = tf.util.parseAxisParam(a.axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, a.numOrSizeSplits, axis);
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((s) => {
        const size = x.shape.slice();
        size[axis] = s;
        const piece = sliceWasm(backend as unknown as WasmLike, x, begin.slice(), size);
        begin[axis] += s;
        return piece;
      });
    },
  };
}

function register(config: tf.KernelConfig): void {
  const key = `${config.backendName}/${config.kernelName}`;
  if (!builtins.has(key)) builtins.set(key, tf.getKernel(config.kernelName, config.backendName));
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

/** Register the project's kernels (see PROJECT_KERNELS) for `backendName` ('wasm' or 'cpu'; others: no-op). */
export function registerProjectKernels(backendName: string): void {
  for (const name of PROJECT_KERNELS[backendName] ?? []) {
    if (name === "Conv2DBackpropFilter") register(filterKernel(backendName));
    else if (name === "Conv2DBackpropInput") register(inputKernel(backendName));
    else if (name === "UnsortedSegmentSum") register(segmentSumKernel(backendName));
    else if (name === "Identity" && backendName === "wasm") register(identityKernel());
    else if (name === "Slice" && backendName === "wasm") register(sliceKernel());
    else if (name === "SplitV" && backendName === "wasm") register(splitVKernel());
  }
}

/** Register the wasm kernels that wrap tfjs' own (BatchMatMul); call once the wasm backend is initialised. */
export function registerWasmWrappers(): void {
  const key = "wasm/BatchMatMul";
  const builtin = builtins.get(key) ?? tf.getKernel("BatchMatMul", "wasm");
  if (!builtin || builtins.has(key)) return; // absent, or already wrapped
  register(batchMatMulKernel(builtin));
}

/** Put back the kernels tfjs shipped for `backendName` (or remove ours where tfjs had none). For comparisons. */
export function restoreBuiltinKernels(backendName: string): void {
  for (const [key, cfg] of builtins) {
    const [b, name] = key.split("/");
    if (b !== backendName) continue;
    if (tf.getKernel(name, b)) tf.unregisterKernel(name, b);
    if (cfg) {
      tf.registerKernel(cfg);
      // wasm kernels bind their wasm function in setupFunc, which runs at backend init: run it if that is past
      const live = (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend> }).registry[b];
      if (live && cfg.setupFunc) cfg.setupFunc(live);
    }
    builtins.delete(key);
  }
}
