/// <reference lib="deno.worker" />
/** Synthesis worker: generates the image indices it is given and reports each one done (see `synth.ts`). */
import { generateItem, type SynthJob } from "./synth.ts";
import type { RawImage } from "./image_io.ts";

self.onmessage = async (e: MessageEvent) => {
  const { job, indices, lists } = e.data as { job: SynthJob; indices: number[]; lists: { fg: string[]; bg: string[] } };
  const cache = new Map<string, RawImage>();
  const bad = new Set<string>();
  try {
    for (const i of indices) {
      await generateItem(job, i, lists, cache, bad);
      self.postMessage({ type: "done", index: i });
    }
    self.postMessage({ type: "finished", bad: [...bad] });
  } catch (err) {
    self.postMessage({ type: "error", error: (err as Error).message });
  }
};
