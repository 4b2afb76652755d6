/** Test helper: a minimal PNG writer for 16-bit grey / RGB / RGBA images (sharp cannot write 16-bit from raw). */
import { deflateSync } from "node:zlib";

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encode HWC uint16 samples (channels 1, 3 or 4) as a 16-bit PNG. */
export function encodePng16(samples: Uint16Array, height: number, width: number, channels: 1 | 3 | 4): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 16;
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const rowBytes = width * channels * 2;
  const raw = new Uint8Array(height * (rowBytes + 1));
  const rdv = new DataView(raw.buffer);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) {
      rdv.setUint16(y * (rowBytes + 1) + 1 + 2 * i, samples[y * width * channels + i]);
    }
  }
  const sig = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  const parts = [
    sig,
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}
