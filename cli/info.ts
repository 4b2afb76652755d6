/** `animeseg info`: versions, the compute backend this machine would use, and where data and runs go. */
import type { Command } from "../lib/cli/command.ts";
import { initBackend, tf } from "../lib/backend/mod.ts";

export const command: Command = {
  name: "info",
  summary: "show versions and the compute backend in use",
  options: {
    backend: { type: "string", help: "force a backend (wasm, cpu, webgpu, tensorflow); default: the ladder" },
    threads: { type: "number", help: "wasm threads (1 or 2)" },
  },
  async run(args) {
    const b = await initBackend(
      {
        backend: (args.opts.backend as "wasm" | undefined) ?? undefined,
        ...(args.opts.threads ? { threads: args.opts.threads as number } : {}),
      } as Parameters<typeof initBackend>[0],
    );
    console.log(`deno       ${Deno.version.deno}`);
    console.log(`tfjs       ${tf.version.tfjs}`);
    console.log(`backend    ${b.name} (${b.detail})`);
    return 0;
  },
};
