import assert from "node:assert/strict";
import * as path from "node:path";
import { zipSync } from "fflate";
import { fetchCocoPerson, fetchSkytnt } from "../../lib/data/fetch.ts";
import { readSkytnt } from "../../lib/data/skytnt.ts";
import { readYoloDataset } from "../../lib/data/yolo.ts";
import { fixture, hasFixture } from "../fixtures.ts";

/** Serve `files` (path -> bytes) on 127.0.0.1 with Range support; returns base URL and a stop function. */
function serve(files: Map<string, Uint8Array<ArrayBuffer>>) {
  const hits: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, (req) => {
    const p = new URL(req.url).pathname;
    hits.push(p);
    const body = files.get(p);
    if (!body) return new Response("not found", { status: 404 });
    const range = req.headers.get("range");
    if (range) {
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      return new Response(body.slice(start), {
        status: 206,
        headers: {
          "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
          "content-length": String(body.length - start),
        },
      });
    }
    return new Response(body.slice(), { headers: { "content-length": String(body.length) } });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return {
    base: `http://127.0.0.1:${port}/`,
    hits,
    stop: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test({
  name: "fetch skytnt from a local server: archives unpacked into the SkyTNT layout, not unpacked twice",
  ignore: !hasFixture("skytnt_sample"),
  fn: async () => {
    const sky = fixture("skytnt_sample");
    const rd = (p: string) => Deno.readFileSync(path.join(sky, p));
    const files = new Map<string, Uint8Array<ArrayBuffer>>([
      [
        "/data/fg-00.zip",
        zipSync({ "fg/a.png": rd("fg/renpy_lucy_happy.png"), "fg/b.png": rd("fg/nova_xiben_0.png") }),
      ],
      ["/data/bg-00.zip", zipSync({ "bg/x.jpg": rd("bg/renpy_club.jpg") })],
      [
        "/data/imgs-masks.zip",
        zipSync({ "imgs/k.jpg": rd("imgs/aniseg_kizunaai_00.jpg"), "masks/k.jpg": rd("masks/aniseg_kizunaai_00.jpg") }),
      ],
    ]);
    const srv = serve(files);
    const out = Deno.makeTempDirSync();
    try {
      const r = await fetchSkytnt(out, {
        base: `${srv.base}data/`,
        parts: ["fg-00.zip", "bg-00.zip", "imgs-masks.zip"],
        quiet: true,
      });
      assert.deepEqual(r, { fg: 2, bg: 1, imgs: 1 });
      const lay = readSkytnt(out);
      assert.equal(lay.pairs.length, 1);
      assert.deepEqual(Deno.readFileSync(path.join(out, "fg/a.png")), rd("fg/renpy_lucy_happy.png"));
      const n = srv.hits.length;
      await fetchSkytnt(out, { base: `${srv.base}data/`, parts: ["fg-00.zip"], quiet: true });
      assert.equal(srv.hits.length, n, "a finished archive is not fetched again");
    } finally {
      await srv.stop();
      Deno.removeSync(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "fetch coco-person from a local server: annotations zip + person images -> YOLO (crowd skipped)",
  ignore: !hasFixture("coco_json_sample"),
  fn: async () => {
    const dir = fixture("coco_json_sample");
    const gt = JSON.parse(Deno.readTextFileSync(`${dir}/instances_val2014_sample20.json`));
    const files = new Map<string, Uint8Array<ArrayBuffer>>();
    for (const im of gt.images) {
      im.coco_url = `http://images.cocodataset.org/val2017/${im.file_name}`;
      files.set(`/val2017/${im.file_name}`, Deno.readFileSync(`${dir}/images/${im.file_name}`));
    }
    files.set(
      "/annotations.zip",
      zipSync({ "annotations/instances_val2017.json": new TextEncoder().encode(JSON.stringify(gt)) }),
    );
    const srv = serve(files);
    const out = Deno.makeTempDirSync();
    try {
      const st = await fetchCocoPerson(out, {
        annotationsUrl: `${srv.base}annotations.zip`,
        imageBase: srv.base,
        limit: 4,
        quiet: true,
        className: "character",
      });
      assert.equal(st.images, 4);
      const ds = readYoloDataset(st.yaml);
      assert.deepEqual(ds.names, ["character"]);
      assert.equal(ds.items.length, 4);
      assert.ok(ds.items.every((it) => it.instances.every((i) => i.cls === 0)));
      assert.equal(srv.hits.filter((h) => h.startsWith("/val2017/")).length, 4);
    } finally {
      await srv.stop();
      Deno.removeSync(out, { recursive: true });
    }
  },
});
