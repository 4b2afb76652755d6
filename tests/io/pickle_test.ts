/** The safe pickle interpreter: real Python pickles decode to the right data; hostile pickles run nothing. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PickleError, PickleGlobal, PickleObject, unpickle } from "../../lib/io/pickle.ts";
import { isModule, moduleStateDict, toPlain } from "../../lib/io/torch.ts";
import { fixture, hasFixture } from "../fixtures.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const enc = new TextEncoder();

/** Concatenate opcode pieces: strings are latin1 text, numbers are single bytes. */
function build(...parts: (string | number | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === "number" ? Uint8Array.of(p) : typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p
  );
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
/** BINUNICODE with a 4-byte length. */
function binunicode(s: string): Uint8Array {
  const b = enc.encode(s);
  const out = new Uint8Array(5 + b.length);
  out[0] = 0x58;
  new DataView(out.buffer).setUint32(1, b.length, true);
  out.set(b, 5);
  return out;
}
/** SHORT_BINUNICODE (protocol 4). */
function shortUnicode(s: string): Uint8Array {
  const b = enc.encode(s);
  return build(0x8c, b.length, b);
}

// pickle.dumps(obj, protocol=p) from CPython 3.11 for
// obj = {'a': [1, -2, 2.5, True, None, 2**70, -(2**40), 300, 70000], 'b': ('xy', b'\x00\xff', 'é✓'), 'c': {7},
//        'd': OrderedDict([('k', 1), ('j', [])]), 5: frozenset([3]), 'e': (1, 2, 3), 'f': (), 'g': (4,)}
const PY: Record<number, string> = {
  2: "80027d71002858010000006171015d7102284b014afeffffff474004000000000000884e8a090000000000000000408a060000000000ff4d2c014a70110100655801000000627103580200000078797104635f636f646563730a656e636f64650a7105580300000000c3bf710658060000006c6174696e3171078671085271095805000000c3a9e29c93710a87710b580100000063710c635f5f6275696c74696e5f5f0a7365740a710d5d710e4b076185710f527110580100000064711163636f6c6c656374696f6e730a4f726465726564446963740a7112295271132858010000006b71144b0158010000006a71155d7116754b05635f5f6275696c74696e5f5f0a66726f7a656e7365740a71175d71184b036185711952711a580100000065711b4b014b024b0387711c580100000066711d29580100000067711e4b0485711f752e",
  3: "80037d71002858010000006171015d7102284b014afeffffff474004000000000000884e8a090000000000000000408a060000000000ff4d2c014a70110100655801000000627103580200000078797104430200ff71055805000000c3a9e29c9371068771075801000000637108636275696c74696e730a7365740a71095d710a4b076185710b52710c580100000064710d63636f6c6c656374696f6e730a4f726465726564446963740a710e2952710f2858010000006b71104b0158010000006a71115d7112754b05636275696c74696e730a66726f7a656e7365740a71135d71144b036185711552711658010000006571174b014b024b03877118580100000066711929580100000067711a4b0485711b752e",
  4: "800495af000000000000007d94288c0161945d94284b014afeffffff474004000000000000884e8a090000000000000000408a060000000000ff4d2c014a70110100658c0162948c02787994430200ff948c05c3a9e29c939487948c0163948f94284b07908c0164948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a945d94754b05284b0391948c0165944b014b024b0387948c016694298c0167944b048594752e",
  5: "800595af000000000000007d94288c0161945d94284b014afeffffff474004000000000000884e8a090000000000000000408a060000000000ff4d2c014a70110100658c0162948c02787994430200ff948c05c3a9e29c939487948c0163948f94284b07908c0164948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a945d94754b05284b0391948c0165944b014b024b0387948c016694298c0167944b048594752e",
};

for (const p of [2, 3, 4, 5]) {
  Deno.test(`pickle: CPython protocol ${p} data decodes exactly`, () => {
    const v = unpickle(hex(PY[p])) as Map<unknown, unknown>;
    assert.ok(v instanceof Map);
    assert.deepEqual([...v.keys()], ["a", "b", "c", "d", 5, "e", "f", "g"]);
    assert.deepEqual(v.get("a"), [1, -2, 2.5, true, null, 2n ** 70n, -(2 ** 40), 300, 70000]);
    const b = v.get("b") as unknown[];
    assert.equal(b[0], "xy");
    assert.deepEqual(b[1], Uint8Array.of(0, 255));
    assert.equal(b[2], "é✓");
    assert.deepEqual(v.get("c"), new Set([7]));
    const d = v.get("d") as Map<string, unknown>;
    assert.ok(d instanceof Map);
    assert.deepEqual([...d.entries()], [["k", 1], ["j", []]]);
    assert.deepEqual(v.get(5), new Set([3]));
    assert.deepEqual(v.get("e"), [1, 2, 3]);
    assert.deepEqual(v.get("f"), []);
    assert.deepEqual(v.get("g"), [4]);
  });
}

Deno.test("pickle: CPython protocol 0 and 1 (text opcodes)", () => {
  // obj = {'a': [1, 2.5, None, True, 'xé', 2**70], 'b': ('y',), 'c': b'hi'}
  const p0 = hex(
    "286470300a56610a70310a286c70320a49310a6146322e350a614e614930310a615678e90a70330a614c313138303539313632303731373431313330333432344c0a617356620a70340a2856790a70350a7470360a7356630a70370a635f636f646563730a656e636f64650a70380a285668690a70390a566c6174696e310a7031300a747031310a527031320a732e",
  );
  const p1 = hex(
    "7d71002858010000006171015d7102284b014740040000000000004e4930310a580300000078c3a971034c313138303539313632303731373431313330333432344c0a6558010000006271042858010000007971057471065801000000637107635f636f646563730a656e636f64650a71082858020000006869710958060000006c6174696e31710a74710b52710c752e",
  );
  for (const bytes of [p0, p1]) {
    const v = unpickle(bytes) as Map<string, unknown>;
    assert.deepEqual(v.get("a"), [1, 2.5, null, true, "xé", 2n ** 70n]);
    assert.deepEqual(v.get("b"), ["y"]);
    assert.deepEqual(v.get("c"), enc.encode("hi"));
  }
});

// ---- hostile pickles: each would create `marker` if anything were executed ----

async function withMarker(fn: (marker: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "pickle_test_" });
  const marker = path.join(dir, "pwned");
  try {
    await fn(marker);
    // give any (impossible) child process time to run
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await Deno.stat(marker).then(() => true, () => false), false, "payload created the marker file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("pickle: os.system via GLOBAL + REDUCE stays an inert record", async () => {
  await withMarker((marker) => {
    const v = unpickle(build(0x80, 2, "cos\nsystem\n", "(", binunicode(`touch ${marker}`), "tR."));
    assert.ok(v instanceof PickleObject);
    assert.equal(v.$class, "os.system");
    assert.deepEqual(v.args, [`touch ${marker}`]);
  });
});

Deno.test("pickle: builtins.eval / exec (Python 2 name __builtin__) stay inert", async () => {
  await withMarker((marker) => {
    const code = `open(${JSON.stringify(marker)}, 'w').write('x')`;
    for (const fn of ["eval", "exec"]) {
      const v = unpickle(build("c__builtin__\n", fn, "\n(", binunicode(code), "tR."));
      assert.ok(v instanceof PickleObject);
      assert.equal(v.$class, `builtins.${fn}`);
      assert.deepEqual(v.args, [code]);
    }
  });
});

Deno.test("pickle: subprocess.Popen via STACK_GLOBAL (protocol 4) stays inert", async () => {
  await withMarker((marker) => {
    const bytes = build(
      0x80,
      4,
      shortUnicode("subprocess"),
      0x94,
      shortUnicode("Popen"),
      0x94,
      0x93,
      0x94,
      0x5d, // EMPTY_LIST
      "(",
      shortUnicode("sh"),
      shortUnicode("-c"),
      shortUnicode(`touch ${marker}`),
      "e", // APPENDS
      0x85, // TUPLE1
      "R.",
    );
    const v = unpickle(bytes);
    assert.ok(v instanceof PickleObject);
    assert.equal(v.$class, "subprocess.Popen");
    assert.deepEqual(v.args, [["sh", "-c", `touch ${marker}`]]);
  });
});

Deno.test("pickle: __reduce__ chains (getattr(__import__('os'), 'system')(cmd)) stay inert", async () => {
  await withMarker((marker) => {
    // builtins.getattr(builtins.__import__('os'), 'system')('touch marker')
    const bytes = build(
      "cbuiltins\ngetattr\n(cbuiltins\n__import__\n(",
      binunicode("os"),
      "tR",
      binunicode("system"),
      "tR(",
      binunicode(`touch ${marker}`),
      "tR.",
    );
    const v = unpickle(bytes) as PickleObject;
    assert.equal(v.$class, "$call");
    assert.deepEqual(v.args, [`touch ${marker}`]);
    const getattr = v.callee as PickleObject;
    assert.equal(getattr.$class, "builtins.getattr");
    assert.equal((getattr.args[0] as PickleObject).$class, "builtins.__import__");
    assert.equal(getattr.args[1], "system");
  });
});

Deno.test("pickle: INST and OBJ opcodes (protocol 0/1 object creation) stay inert", async () => {
  await withMarker((marker) => {
    const inst = unpickle(build("(", binunicode(`touch ${marker}`), "ios\nsystem\n."));
    assert.ok(inst instanceof PickleObject);
    assert.equal(inst.$class, "os.system");
    assert.deepEqual(inst.args, [`touch ${marker}`]);
    const obj = unpickle(build("(cposix\nsystem\n", binunicode(`touch ${marker}`), "o."));
    assert.ok(obj instanceof PickleObject);
    assert.equal(obj.$class, "posix.system");
    assert.deepEqual(obj.args, [`touch ${marker}`]);
  });
});

Deno.test("pickle: NEWOBJ + BUILD (__setstate__ payload) only records the state", async () => {
  await withMarker((marker) => {
    const bytes = build(
      0x80,
      2,
      "cevil\nGadget\n)",
      0x81, // NEWOBJ
      "}(",
      binunicode("cmd"),
      binunicode(`touch ${marker}`),
      "ub.",
    );
    const v = unpickle(bytes) as PickleObject;
    assert.equal(v.$class, "evil.Gadget");
    assert.deepEqual(v.args, []);
    assert.deepEqual(v.state, new Map([["cmd", `touch ${marker}`]]));
  });
});

Deno.test("pickle: persistent ids are data unless the caller maps them", () => {
  const v = unpickle(build(binunicode("storage"), "Q.")) as PickleObject;
  assert.equal(v.$class, "$persistent");
  assert.deepEqual(v.args, ["storage"]);
  const w = unpickle(build("Pabc\n."), { persistentLoad: (pid) => ({ got: pid }) });
  assert.deepEqual(w, { got: "abc" });
});

Deno.test("pickle: bare globals are inert references", () => {
  const v = unpickle(build("ctorch\nfloat16\n."));
  assert.ok(v instanceof PickleGlobal);
  assert.equal(v.$class, "torch.float16");
});

// ---- malformed streams: clear PickleError ----

Deno.test("pickle: truncated streams give a clear error", () => {
  const full = hex(PY[2]);
  for (const cut of [1, 3, 10, 60, full.length - 1]) {
    assert.throws(() => unpickle(full.subarray(0, cut), { name: "t.pkl" }), (e: Error) => {
      assert.ok(e instanceof PickleError, String(e));
      assert.match(e.message, /^t\.pkl: /);
      assert.match(e.message, /truncated|underflow|no STOP|MARK/);
      return true;
    });
  }
  // a length field pointing past the end
  assert.throws(() => unpickle(build(0x58, 0xff, 0xff, 0xff, 0x7f, "abc")), /truncated stream/);
});

Deno.test("pickle: unknown opcodes, bad memo, bad protocol, junk after values", () => {
  assert.throws(() => unpickle(build(0x80, 2, 0xff)), /unknown opcode 0xff/);
  assert.throws(() => unpickle(build(0x80, 2, "h", 7, ".")), /memo key 7 not defined/);
  assert.throws(() => unpickle(build(0x80, 9, "N.")), /unsupported pickle protocol 9/);
  assert.throws(() => unpickle(build("NN.")), /STOP with 2 values/);
  assert.throws(() => unpickle(build("t.")), /MARK expected/);
  assert.throws(() => unpickle(build("R.")), /stack underflow/);
  assert.throws(() => unpickle(build("NNb.")), /BUILD on None/);
  assert.throws(() => unpickle(build("Nu.")), /MARK expected|SETITEM/);
  assert.throws(() => unpickle(new Uint8Array(0)), /no STOP/);
});

Deno.test("pickle: '__proto__' keys and cyclic module trees cannot pollute or hang", () => {
  // {'__proto__': {'polluted': 1}}
  const v = unpickle(build(0x80, 2, "}(", binunicode("__proto__"), "}(", binunicode("polluted"), "K", 1, "uu."));
  const plain = toPlain(v) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
  assert.deepEqual(Object.keys(plain), ["__proto__"]);
  // a module whose _modules contains itself: memo GET of the object inside its own BUILD state
  const mod = build(
    0x80,
    2,
    "cx\nM\n)",
    0x81,
    "q",
    0,
    "}(",
    binunicode("_parameters"),
    "}",
    binunicode("_buffers"),
    "}",
    binunicode("_modules"),
    "}(",
    binunicode("self"),
    "h",
    0,
    "uub.",
  );
  const m = unpickle(mod) as PickleObject;
  assert.ok(isModule(m));
  assert.throws(() => moduleStateDict(m), /deeper than 200 levels/);
  assert.equal(typeof JSON.stringify(toPlain(m)), "string");
});

Deno.test("pickle: numpy scalars (numpy 2.x pickle of float64/int64/float32) become numbers", () => {
  // pickle.dumps({'f': np.float64(0.5), 'i': np.int64(-3), 'h': np.float32(1.25)}, protocol=2), numpy 2.4
  const v = unpickle(hex(
    "80027d7100285801000000667101636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a7102636e756d70790a64747970650a71035802000000663871048988877105527106284b0358010000003c71074e4e4e4affffffff4affffffff4b0074710862635f636f646563730a656e636f64650a71095809000000000000000000c3a03f710a58060000006c6174696e31710b86710c52710d86710e52710f5801000000697110680268035802000000693871118988877112527113284b0368074e4e4e4affffffff4affffffff4b007471146268095810000000c3bdc3bfc3bfc3bfc3bfc3bfc3bfc3bf7115680b867116527117867118527119580100000068711a6802680358020000006634711b898887711c52711d284b0368074e4e4e4affffffff4affffffff4b0074711e62680958050000000000c2a03f711f680b867120527121867122527123752e",
  )) as Map<string, unknown>;
  assert.deepEqual([...v.entries()], [["f", 0.5], ["i", -3], ["h", 1.25]]);
});

Deno.test("pickle: defaultdict and copy_reg._reconstructor (protocol 1 instances) as data", () => {
  // pickle.dumps(defaultdict(list, {'a': [1]}), 2)
  const dd = unpickle(hex(
    "800263636f6c6c656374696f6e730a64656661756c74646963740a7100635f5f6275696c74696e5f5f0a6c6973740a710185710252710358010000006171045d71054b0161732e",
  ));
  assert.deepEqual(dd, new Map([["a", [1]]]));
  // class A: pass; a = A(); a.x = 1; pickle.dumps(a, 1)
  const a = unpickle(hex(
    "63636f70795f7265670a5f7265636f6e7374727563746f720a710028635f5f6d61696e5f5f0a410a7101635f5f6275696c74696e5f5f0a6f626a6563740a71024e7471035271047d710558010000007871064b0173622e",
  )) as PickleObject;
  assert.ok(a instanceof PickleObject);
  assert.equal(a.$class, "__main__.A");
  assert.deepEqual(a.state, new Map([["x", 1]]));
});

Deno.test({
  name: "pickle: 300 random mutations of a real checkpoint pickle only ever give data or PickleError",
  ignore: !hasFixture("reference/yolo/seg_n_nc1_state_dict.pt"),
  fn: async () => {
    const { unzipSync } = await import("fflate");
    const z = unzipSync(await Deno.readFile(fixture("reference/yolo/seg_n_nc1_state_dict.pt")));
    const pkl = z["seg_n_nc1_state_dict/data.pkl"];
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    let errors = 0;
    for (let it = 0; it < 300; it++) {
      const b = pkl.slice();
      for (let j = 0, n = 1 + Math.floor(rnd() * 4); j < n; j++) b[Math.floor(rnd() * b.length)] = rnd() * 256;
      try {
        unpickle(b);
      } catch (e) {
        if (!(e instanceof PickleError)) throw e;
        errors++;
      }
    }
    assert.ok(errors > 50, `only ${errors} mutations were rejected`);
  },
});
