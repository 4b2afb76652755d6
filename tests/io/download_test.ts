/**
 * Downloads against a local Deno.serve on 127.0.0.1 (no real network): full download, resume after a cut
 * connection (HTTP Range), servers that ignore Range, checksum mismatch, 404, cached files; fetchWeights with a
 * base URL and the `weights fetch` command.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { downloadFile } from "../../lib/io/download.ts";
import { fetchWeights } from "../../lib/io/weights.ts";
import { UserError } from "../../lib/util/errors.ts";
import { command } from "../../cli/weights.ts";

const SIZE = 300_000;
const DATA = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7919 + (i >> 9)) & 255);
const SHA = createHash("sha256").update(DATA).digest("hex");

interface Server {
  base: string;
  log: { path: string; range: string | null }[];
  close(): Promise<void>;
}

/** Serves DATA at every path except: /missing* → 404; /cut* → the first full request is cut at 40%; /norange* → ignores Range. */
function serve(): Server {
  const log: Server["log"] = [];
  const cutDone = new Set<string>();
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, (req) => {
    const p = new URL(req.url).pathname;
    const range = req.headers.get("range");
    log.push({ path: p, range });
    if (p.startsWith("/missing")) return new Response("not here", { status: 404 });
    const m = /^bytes=(\d+)-$/.exec(range ?? "");
    if (m && !p.startsWith("/norange")) {
      const start = Number(m[1]);
      if (start >= SIZE) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${SIZE}` } });
      }
      return new Response(DATA.slice(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${SIZE - 1}/${SIZE}`, "content-length": String(SIZE - start) },
      });
    }
    if (p.startsWith("/cut") && !cutDone.has(p)) {
      cutDone.add(p);
      const cut = Math.floor(SIZE * 0.4);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(DATA.slice(0, cut));
          setTimeout(() => c.error(new Error("connection cut")), 20);
        },
      });
      return new Response(body, { headers: { "content-length": String(SIZE) } });
    }
    return new Response(DATA, { headers: { "content-length": String(SIZE) } });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return {
    base: `http://127.0.0.1:${port}`,
    log,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

async function withEnv(fn: (srv: Server, dir: string) => Promise<void>) {
  const srv = serve();
  const dir = await Deno.makeTempDir({ prefix: "download_test_" });
  try {
    await fn(srv, dir);
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("download: full download, checksum verified, progress reported, no .part left", async () => {
  await withEnv(async (srv, dir) => {
    const dest = path.join(dir, "a", "file.bin");
    const seen: [number, number | undefined][] = [];
    const out = await downloadFile(`${srv.base}/file.bin`, dest, {
      sha256: SHA,
      quiet: true,
      onProgress: (d, t) => seen.push([d, t]),
    });
    assert.equal(out, dest);
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.ok(!await exists(`${dest}.part`));
    assert.deepEqual(seen.at(-1), [SIZE, SIZE]);
    // cached: a second call makes no request
    const n = srv.log.length;
    await downloadFile(`${srv.base}/file.bin`, dest, { sha256: SHA, quiet: true });
    assert.equal(srv.log.length, n);
  });
});

Deno.test("download: a cut connection leaves a .part that the next call resumes with a Range request", async () => {
  await withEnv(async (srv, dir) => {
    const dest = path.join(dir, "cut.bin");
    const err = await downloadFile(`${srv.base}/cut.bin`, dest, { quiet: true, retries: 0 }).then(() => null, (e) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /interrupted|incomplete/);
    assert.ok(!err.message.includes("\n"));
    assert.ok(!await exists(dest));
    const part = await Deno.readFile(`${dest}.part`);
    assert.ok(part.length > 0 && part.length < SIZE, `part has ${part.length} bytes`);
    assert.deepEqual(part, DATA.subarray(0, part.length));
    await downloadFile(`${srv.base}/cut.bin`, dest, { quiet: true, sha256: SHA });
    assert.deepEqual(srv.log.at(-1), { path: "/cut.bin", range: `bytes=${part.length}-` });
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.ok(!await exists(`${dest}.part`));
  });
});

Deno.test("download: retries resume automatically; a server ignoring Range restarts cleanly", async () => {
  await withEnv(async (srv, dir) => {
    const dest = path.join(dir, "cut2.bin");
    await downloadFile(`${srv.base}/cut2.bin`, dest, { quiet: true, sha256: SHA });
    assert.deepEqual(await Deno.readFile(dest), DATA);
    assert.equal(srv.log.filter((r) => r.path === "/cut2.bin").length, 2);
    assert.match(srv.log.at(-1)!.range ?? "", /^bytes=\d+-$/);

    const dest2 = path.join(dir, "norange.bin");
    await Deno.writeFile(`${dest2}.part`, DATA.subarray(0, 1000).map((x) => x ^ 0xff)); // stale junk
    await downloadFile(`${srv.base}/norange.bin`, dest2, { quiet: true, sha256: SHA });
    assert.deepEqual(await Deno.readFile(dest2), DATA);
  });
});

Deno.test("download: checksum mismatch and 404 give one-line errors and leave no file", async () => {
  await withEnv(async (srv, dir) => {
    const dest = path.join(dir, "bad.bin");
    const wrong = "0".repeat(64);
    const err = await downloadFile(`${srv.base}/file.bin`, dest, { quiet: true, sha256: wrong }).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof UserError);
    assert.match(err.message, /sha256 mismatch: expected 0{64}, got [0-9a-f]{64}/);
    assert.ok(!await exists(dest) && !await exists(`${dest}.part`));

    const e404 = await downloadFile(`${srv.base}/missing.bin`, path.join(dir, "m.bin"), { quiet: true }).then(
      () => null,
      (e) => e,
    );
    assert.ok(e404 instanceof UserError);
    assert.match(e404.message, /HTTP 404/);
    assert.ok(e404.message.includes(`${srv.base}/missing.bin`));
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("download: fetchWeights with a base URL, and the `weights fetch` command", async () => {
  await withEnv(async (srv, dir) => {
    const file = await fetchWeights("yolov8n-seg", { baseUrl: srv.base, dir, quiet: true });
    assert.equal(file, path.join(dir, "yolov8n-seg.pt"));
    assert.deepEqual(srv.log.at(-1)?.path, "/yolov8n-seg.pt");
    assert.deepEqual(await Deno.readFile(file), DATA);
    const unknown = await fetchWeights("yolov9-seg", { baseUrl: srv.base, dir }).then(() => null, (e) => e);
    assert.ok(unknown instanceof UserError);
    assert.match(unknown.message, /unknown weights 'yolov9-seg'/);

    const log = console.log;
    console.log = () => {};
    try {
      const rc = await command.run({
        opts: { dir, base_url: `${srv.base}/`, quiet: true, sha256: SHA },
        positional: ["fetch", "sam_vit_b"],
      });
      assert.equal(rc, 0);
    } finally {
      console.log = log;
    }
    assert.equal(srv.log.at(-1)?.path, "/sam_vit_b_01ec64.pth");
    assert.deepEqual(await Deno.readFile(path.join(dir, "sam_vit_b_01ec64.pth")), DATA);
  });
});

Deno.test("download: connection refused is a one-line UserError and leaves nothing behind", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const dir = await Deno.makeTempDir({ prefix: "download_test_" });
  try {
    const dest = path.join(dir, "x.bin");
    const err = await downloadFile(`http://127.0.0.1:${port}/x.bin`, dest, { quiet: true }).then(() => null, (e) => e);
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /^http:\/\/127\.0\.0\.1:\d+\/x\.bin: download failed: /);
    assert.ok(!err.message.includes("\n"));
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
