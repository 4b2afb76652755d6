/**
 * A Python pickle (protocols 0-5) interpreter that is safe by construction: opcodes become plain data and nothing
 * named by the stream is ever imported or called. GLOBAL / STACK_GLOBAL / INST / OBJ give inert `PickleGlobal` and
 * `PickleObject` records; REDUCE / NEWOBJ / BUILD on them build inert records, except a short whitelist of classes
 * that are interpreted as data (OrderedDict, set, frozenset, slice, bytearray, `_codecs.encode`, torch.Size,
 * numpy scalars, and torch's tensor rebuild functions, which become `TorchTensorRef` records handed to a hook).
 * Malformed or truncated streams raise `PickleError`.
 */

/** Raised for a malformed, truncated or unsupported pickle stream. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** An inert reference to a Python global (`module.Name`); never resolved. */
export class PickleGlobal {
  constructor(readonly $class: string) {}
}

/**
 * An inert object: what Python would have built by calling `$class` with `args` (REDUCE/NEWOBJ/INST/OBJ), then
 * `__setstate__`-ing `state` (BUILD). `items`/`list` collect SETITEM(S)/APPEND(S) aimed at it; `callee` is set when
 * the called value was not a global (e.g. the result of another call).
 */
export class PickleObject {
  state: unknown = undefined;
  items?: Map<unknown, unknown>;
  list?: unknown[];
  kwargs?: Map<unknown, unknown>;
  callee?: unknown;
  constructor(readonly $class: string, readonly args: unknown[]) {}
}

/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` as data. `offset` is in elements. */
export interface TorchTensorRef {
  $class: "torch.Tensor";
  storage: unknown;
  offset: number;
  shape: number[];
  stride: number[];
  requiresGrad: boolean;
  /** `_rebuild_tensor_v3` only: the element type (a global such as `torch.float16`) over an untyped storage */
  dtype?: string;
}

/** Hooks that turn persistent ids and tensor references into the caller's own data (never anything callable). */
export interface PickleOptions {
  /** value for a PERSID/BINPERSID id (torch: `('storage', StorageClass, key, location, numel)`); default: a record */
  persistentLoad?: (pid: unknown) => unknown;
  /** replaces a `TorchTensorRef` with the caller's tensor value; default: the ref itself */
  rebuildTensor?: (ref: TorchTensorRef) => unknown;
  /** name used in error messages */
  name?: string;
}

// Python 2 module names that Python 3's unpickler maps (fix_imports) for the globals we interpret.
const MODULE_ALIASES: Record<string, string> = { "__builtin__": "builtins", "copy_reg": "copyreg" };

const NUMPY_SCALAR_TYPES: Record<string, [number, (dv: DataView, le: boolean) => number | bigint]> = {
  f8: [8, (dv, le) => dv.getFloat64(0, le)],
  f4: [4, (dv, le) => dv.getFloat32(0, le)],
  f2: [2, (dv, le) => halfBits(dv.getUint16(0, le))],
  i8: [8, (dv, le) => dv.getBigInt64(0, le)],
  u8: [8, (dv, le) => dv.getBigUint64(0, le)],
  i4: [4, (dv, le) => dv.getInt32(0, le)],
  u4: [4, (dv, le) => dv.getUint32(0, le)],
  i2: [2, (dv, le) => dv.getInt16(0, le)],
  u2: [2, (dv, le) => dv.getUint16(0, le)],
  i1: [1, (dv) => dv.getInt8(0)],
  u1: [1, (dv) => dv.getUint8(0)],
  b1: [1, (dv) => dv.getUint8(0)],
};

function halfBits(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function shrinkInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function toInt(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  throw new PickleError(`${what}: expected an integer, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return `list/tuple(${v.length})`;
  if (v instanceof PickleGlobal) return `global ${v.$class}`;
  if (v instanceof PickleObject) return `object ${v.$class}`;
  if (v instanceof Map) return "dict";
  return typeof v;
}

/** Interpret the whitelisted callables as data; `undefined` means "not whitelisted". */
function callWhitelisted(name: string, args: unknown[], opts: PickleOptions): { value: unknown } | undefined {
  switch (name) {
    case "collections.OrderedDict":
    case "builtins.dict": {
      const m = new Map<unknown, unknown>();
      const src = args[0];
      if (Array.isArray(src)) {
        for (const kv of src) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
      } else if (src instanceof Map) { for (const [k, v] of src) m.set(k, v); }
      return { value: m };
    }
    case "collections.defaultdict":
      // defaultdict(factory): the factory is dropped, the items arrive via SETITEMS
      return { value: new Map() };
    case "copyreg._reconstructor":
    case "copyreg.__newobj__":
    case "copyreg.__newobj_ex__": {
      // object.__new__(cls) spelled out by protocols 0/1 and by __reduce_ex__: an inert instance of cls
      const cls = args[0];
      if (!(cls instanceof PickleGlobal)) return undefined;
      const inner = callWhitelisted(cls.$class, [], opts);
      return {
        value: inner?.value ?? new PickleObject(cls.$class, name === "copyreg.__newobj__" ? args.slice(1) : []),
      };
    }
    case "builtins.set":
    case "builtins.frozenset":
      return { value: new Set(Array.isArray(args[0]) ? args[0] : args[0] instanceof Set ? [...args[0]] : []) };
    case "builtins.list":
      return { value: Array.isArray(args[0]) ? [...args[0]] : [] };
    case "builtins.tuple":
      return { value: Array.isArray(args[0]) ? [...args[0]] : [] };
    case "builtins.slice": {
      const [a, b, c] = args.length === 1 ? [null, args[0], null] : [args[0], args[1], args[2] ?? null];
      const o = new PickleObject("builtins.slice", args);
      o.state = { start: a ?? null, stop: b ?? null, step: c ?? null };
      return { value: o };
    }
    case "builtins.bytearray":
    case "builtins.bytes": {
      const a = args[0];
      if (a === undefined) return { value: new Uint8Array(0) };
      if (a instanceof Uint8Array) return { value: new Uint8Array(a) };
      if (Array.isArray(a)) return { value: Uint8Array.from(a.map((x) => toInt(x, name) & 255)) };
      if (typeof a === "string") return { value: latin1(a) };
      return undefined;
    }
    case "_codecs.encode": {
      // how Python 3 pickles bytes at protocol 2: _codecs.encode(text, 'latin1')
      const [text, enc] = args;
      if (typeof text !== "string") return undefined;
      const e = typeof enc === "string" ? enc.toLowerCase().replace("-", "") : "utf8";
      return { value: e === "latin1" || e === "iso88591" ? latin1(text) : new TextEncoder().encode(text) };
    }
    case "torch.Size":
      return { value: Array.isArray(args[0]) ? args[0].map((x) => toInt(x, "torch.Size")) : [] };
    case "torch._utils._rebuild_tensor":
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor_v3": {
      const [storage, offset, size, stride, requiresGrad] = args;
      if (!Array.isArray(size) || !Array.isArray(stride)) throw new PickleError(`${name}: size/stride are not tuples`);
      const ref: TorchTensorRef = {
        $class: "torch.Tensor",
        storage,
        offset: toInt(offset, `${name} offset`),
        shape: size.map((x) => toInt(x, `${name} size`)),
        stride: stride.map((x) => toInt(x, `${name} stride`)),
        requiresGrad: requiresGrad === true,
      };
      if (name.endsWith("_v3")) {
        const dt = args[6];
        if (!(dt instanceof PickleGlobal)) {
          throw new PickleError(`${name}: dtype is ${describe(dt)}, not a torch dtype`);
        }
        ref.dtype = dt.$class;
      }
      return { value: opts.rebuildTensor ? opts.rebuildTensor(ref) : ref };
    }
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      return { value: args[0] };
    case "numpy.core.multiarray.scalar":
    case "numpy._core.multiarray.scalar": {
      const [dtype, raw] = args;
      if (!(dtype instanceof PickleObject) || !(raw instanceof Uint8Array)) return undefined;
      const code = String(dtype.args[0] ?? "");
      const spec = NUMPY_SCALAR_TYPES[code];
      if (!spec || raw.length < spec[0]) return undefined;
      const order = Array.isArray(dtype.state) ? dtype.state[1] : "<";
      const dv = new DataView(raw.buffer, raw.byteOffset, spec[0]);
      const v = spec[1](dv, order !== ">");
      return { value: code === "b1" ? v !== 0 : typeof v === "bigint" ? shrinkInt(v) : v };
    }
    default:
      return undefined;
  }
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 255;
  return out;
}

/** Call `callee(...args)` as data: whitelist, else an inert record. */
function call(callee: unknown, args: unknown[], opts: PickleOptions): unknown {
  if (callee instanceof PickleGlobal) {
    const w = callWhitelisted(callee.$class, args, opts);
    if (w) return w.value;
    return new PickleObject(callee.$class, args);
  }
  const o = new PickleObject("$call", args);
  o.callee = callee;
  return o;
}

function globalName(module: string, name: string): string {
  return `${MODULE_ALIASES[module] ?? module}.${name}`;
}

/** Parse Python's repr of a str/bytes literal (protocol 0 STRING); quotes included. */
function parseQuoted(line: string): string {
  const q = line[0];
  if ((q !== "'" && q !== '"') || line[line.length - 1] !== q || line.length < 2) {
    throw new PickleError(`STRING argument is not quoted: ${line.slice(0, 40)}`);
  }
  return unescapePython(line.slice(1, -1), false);
}

function unescapePython(s: string, rawUnicode: boolean): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = s[++i];
    if (rawUnicode) {
      if (n === "u" || n === "U") {
        const len = n === "u" ? 4 : 8;
        out += String.fromCodePoint(parseInt(s.slice(i + 1, i + 1 + len), 16));
        i += len;
      } else out += "\\" + (n ?? "");
      continue;
    }
    const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0" };
    if (n === "x") {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (n in simple) out += simple[n];
    else out += "\\" + n;
  }
  return out;
}

/**
 * Unpickle `bytes` into plain data: None → null, bool, int → number (bigint beyond 2^53), float → number, str →
 * string, bytes → Uint8Array, list/tuple → array, dict → Map, set → Set, globals/objects → inert records.
 */
export function unpickle(bytes: Uint8Array, opts: PickleOptions = {}): unknown {
  return unpickleAt(bytes, 0, opts).value;
}

/** Unpickle one pickle starting at byte `start`; `end` is the offset just after its STOP (for concatenated pickles). */
export function unpickleAt(
  bytes: Uint8Array,
  start: number,
  opts: PickleOptions = {},
): { value: unknown; end: number } {
  const name = opts.name ?? "<pickle>";
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8");
  let pos = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    throw new PickleError(`${name}: ${msg} (at byte ${pos})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated stream: need ${n} more bytes, ${bytes.length - pos} left`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), pos += 2, dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), pos += 4, dv.getInt32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail("length too large");
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("truncated stream: missing newline");
    const s = new TextDecoder("latin1").decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s.endsWith("\r") ? s.slice(0, -1) : s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) fail("MARK expected but not found");
    stack = prev!;
    return items;
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} not defined`);
    return memo.get(i);
  };
  const readLong = (n: number): number | bigint => {
    const b = take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return shrinkInt(v);
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (kv.length % 2 !== 0) fail("SETITEMS with an odd number of items");
    if (target instanceof Map) {
      for (let i = 0; i < kv.length; i += 2) target.set(kv[i], kv[i + 1]);
    } else if (target instanceof PickleObject) {
      target.items ??= new Map();
      for (let i = 0; i < kv.length; i += 2) target.items.set(kv[i], kv[i + 1]);
    } else fail(`SETITEM on ${describe(target)}`);
  };
  const appendItems = (target: unknown, xs: unknown[]) => {
    if (Array.isArray(target)) { for (const x of xs) target.push(x); }
    else if (target instanceof PickleObject) (target.list ??= []).push(...xs);
    else if (target instanceof Set) { for (const x of xs) target.add(x); }
    else fail(`APPEND on ${describe(target)}`);
  };
  const newObject = (cls: unknown, args: unknown[]): unknown => {
    if (cls instanceof PickleGlobal) {
      // cls.__new__(cls, *args) for builtin containers is just an empty container
      switch (cls.$class) {
        case "collections.OrderedDict":
        case "builtins.dict":
          return new Map();
        case "builtins.set":
        case "builtins.frozenset":
          return new Set();
        case "builtins.list":
          return [];
      }
      return new PickleObject(cls.$class, args);
    }
    fail(`NEWOBJ on ${describe(cls)}, not a class`);
  };

  while (true) {
    if (pos >= bytes.length) fail("truncated stream: no STOP opcode");
    const op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) fail(`unsupported pickle protocol ${p}`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length !== 0) {
          fail(`STOP with ${stack.length} values on the stack and ${marks.length} open marks`);
        }
        return { value: stack[0], end: pos };
      }
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0 && marks.length > 0) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      // --- constants
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(readLong(u8()));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail("LONG4 with a negative length");
        stack.push(readLong(n));
        break;
      }
      case 0x49: { // INT (text)
        const s = line();
        if (s === "01") stack.push(true);
        else if (s === "00") stack.push(false);
        else {
          if (!/^[-+]?\d+$/.test(s)) fail(`INT argument is not an integer: ${s.slice(0, 40)}`);
          stack.push(shrinkInt(BigInt(s)));
        }
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().replace(/L$/, "");
        if (!/^[-+]?\d+$/.test(s)) fail(`LONG argument is not an integer: ${s.slice(0, 40)}`);
        stack.push(shrinkInt(BigInt(s)));
        break;
      }
      case 0x46: { // FLOAT (text)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`FLOAT argument is not a number: ${s.slice(0, 40)}`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      // --- strings and bytes
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape line)
        stack.push(unescapePython(line(), true));
        break;
      case 0x53: // STRING (repr line) — Python 3 decodes as ASCII str by default
        stack.push(parseQuoted(line()));
        break;
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail("BINSTRING with a negative length");
        stack.push(new TextDecoder("latin1").decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder("latin1").decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(new Uint8Array(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(new Uint8Array(take(u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(new Uint8Array(take(u64())));
        break;
      case 0x97: // NEXT_BUFFER (out-of-band buffers are never supplied)
        fail("NEXT_BUFFER: out-of-band buffers are not supported");
        break;
      case 0x98: // READONLY_BUFFER
        top();
        break;
      // --- containers
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: { // TUPLE
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: { // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const kv = popMark();
        const m = new Map();
        setItems(m, kv);
        stack.push(m);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x91: { // FROZENSET
        const items = popMark();
        stack.push(new Set(items));
        break;
      }
      case 0x90: { // ADDITEMS
        const xs = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${describe(s)}`);
        for (const x of xs) (s as Set<unknown>).add(x);
        break;
      }
      case 0x61: { // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: { // APPENDS
        const xs = popMark();
        appendItems(top(), xs);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      // --- memo
      case 0x70: { // PUT (text)
        const s = line();
        if (!/^\d+$/.test(s)) fail(`PUT argument is not an index: ${s.slice(0, 40)}`);
        memo.set(Number(s), top());
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: { // GET (text)
        const s = line();
        if (!/^\d+$/.test(s)) fail(`GET argument is not an index: ${s.slice(0, 40)}`);
        stack.push(memoGet(Number(s)));
        break;
      }
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      // --- globals and objects: inert records only
      case 0x63: { // GLOBAL
        const mod = line(), nm = line();
        stack.push(new PickleGlobal(globalName(mod, nm)));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const nm = pop(), mod = pop();
        if (typeof mod !== "string" || typeof nm !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(new PickleGlobal(globalName(mod as string, nm as string)));
        break;
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: { // EXT4
        const code = op === 0x82 ? u8() : op === 0x83 ? u16() : i32();
        stack.push(new PickleGlobal(`$extension.${code}`));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), callee = pop();
        if (!Array.isArray(args)) fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
        stack.push(call(callee, args as unknown[], opts));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        if (!Array.isArray(args)) fail(`NEWOBJ arguments are ${describe(args)}, not a tuple`);
        stack.push(newObject(cls, args as unknown[]));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(), args = pop(), cls = pop();
        if (!Array.isArray(args)) fail(`NEWOBJ_EX arguments are ${describe(args)}, not a tuple`);
        const o = newObject(cls, args as unknown[]);
        if (o instanceof PickleObject && kwargs instanceof Map) o.kwargs = kwargs;
        stack.push(o);
        break;
      }
      case 0x69: { // INST
        const mod = line(), nm = line();
        const args = popMark();
        stack.push(call(new PickleGlobal(globalName(mod, nm)), args, opts));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail("OBJ without a class");
        stack.push(call(items[0], items.slice(1), opts));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickleObject) obj.state = state;
        else if (obj === null || typeof obj !== "object") fail(`BUILD on ${describe(obj)}`);
        // other containers (e.g. OrderedDict._metadata of a torch state_dict) or tensors: extra attributes, ignored
        break;
      }
      case 0x50: { // PERSID (text)
        const pid = line();
        stack.push(opts.persistentLoad ? opts.persistentLoad(pid) : persistentRecord(pid));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(opts.persistentLoad ? opts.persistentLoad(pid) : persistentRecord(pid));
        break;
      }
      default:
        pos--;
        fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }
}

function persistentRecord(pid: unknown): PickleObject {
  return new PickleObject("$persistent", [pid]);
}

/** True when `v` is an inert object record whose class is `cls` (e.g. `torch.nn.modules.conv.Conv2d`). */
export function isObjectOf(v: unknown, cls?: string): v is PickleObject {
  return v instanceof PickleObject && (cls === undefined || v.$class === cls);
}
