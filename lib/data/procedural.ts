/**
 * Offline anime-style data: a procedural character generator (hair styles, face with large eyes, outfits, dark
 * outlines, flat cel shading, poses, chibi or tall proportions) drawn as SVG and rendered by sharp to RGBA cut-outs
 * cropped to their alpha, and anime-style backgrounds (sky/hills, town, room, pattern) rendered the same way.
 */
import sharp from "sharp";
import { makeRng, type Rng } from "./rng.ts";
import type { RawImage } from "./image_io.ts";

const OUT = "#1b1420";

function hsl(h: number, s: number, l: number): string {
  return `hsl(${h.toFixed(1)},${s.toFixed(1)}%,${l.toFixed(1)}%)`;
}

/** Colours of one character. */
interface Palette {
  skin: string;
  skinShade: string;
  hair: string;
  hairShade: string;
  eye: string;
  top: string;
  topShade: string;
  bottom: string;
  bottomShade: string;
  shoe: string;
}

function palette(r: Rng): Palette {
  const skinL = r.uniform(78, 90), skinH = r.uniform(18, 32);
  const hh = r.pick([0, 25, 45, 200, 220, 270, 320, 340, 160, 30]) + r.uniform(-10, 10);
  const hs = r.uniform(35, 85), hl = r.pick([20, 35, 50, 65, 78]);
  const th = r.uniform(0, 360), bh = r.uniform(0, 360);
  const tl = r.uniform(35, 75), bl = r.uniform(25, 60);
  return {
    skin: hsl(skinH, 70, skinL),
    skinShade: hsl(skinH - 5, 55, skinL - 12),
    hair: hsl(hh, hs, hl),
    hairShade: hsl(hh, hs, Math.max(8, hl - 15)),
    eye: hsl(r.uniform(0, 360), 70, r.uniform(35, 55)),
    top: hsl(th, r.uniform(40, 80), tl),
    topShade: hsl(th, 50, tl - 15),
    bottom: hsl(bh, r.uniform(30, 70), bl),
    bottomShade: hsl(bh, 45, bl - 12),
    shoe: hsl(r.uniform(0, 360), 30, r.uniform(15, 40)),
  };
}

function limb(x: number, y: number, len: number, wid: number, angle: number, fill: string, sw: number): string {
  return `<g transform="translate(${x.toFixed(1)},${y.toFixed(1)}) rotate(${angle.toFixed(1)})">` +
    `<rect x="${(-wid / 2).toFixed(1)}" y="0" width="${wid.toFixed(1)}" height="${len.toFixed(1)}" rx="${
      (wid / 2).toFixed(1)
    }" fill="${fill}" stroke="${OUT}" stroke-width="${sw}"/></g>`;
}

/** SVG text of one character on a `w x h` canvas (transparent background). */
export function characterSvg(r: Rng): { svg: string; width: number; height: number } {
  const p = palette(r);
  const chibi = r.chance(0.25);
  const H = 420, W = 300;
  const cx = W / 2;
  const headR = chibi ? r.uniform(62, 74) : r.uniform(38, 46);
  const headY = headR + 24;
  const neckY = headY + headR * 0.92;
  const torsoH = chibi ? headR * 1.0 : r.uniform(85, 110);
  const torsoW = chibi ? headR * 0.95 : r.uniform(58, 72);
  const hipY = neckY + torsoH;
  const legLen = chibi ? headR * 1.0 : r.uniform(120, 150);
  const sw = r.uniform(2.2, 3.6).toFixed(1);
  const parts: string[] = [];
  const hairStyle = r.pick(["long", "twin", "bob", "spiky", "pony"] as const);
  // back hair
  if (hairStyle === "long") {
    const len = headY + headR + r.uniform(60, 170);
    parts.push(
      `<path d="M${cx - headR * 1.05},${headY} Q${cx - headR * 1.35},${(headY + len) / 2} ${cx - headR * 0.9},${len} L${
        cx + headR * 0.9
      },${len} Q${cx + headR * 1.35},${(headY + len) / 2} ${
        cx + headR * 1.05
      },${headY} Z" fill="${p.hair}" stroke="${OUT}" stroke-width="${sw}"/>`,
    );
  } else if (hairStyle === "twin") {
    const len = r.uniform(90, 200);
    for (const s of [-1, 1]) {
      const x0 = cx + s * headR * 0.95;
      parts.push(
        `<path d="M${x0},${headY - headR * 0.5} Q${x0 + s * headR * 0.9},${headY + len * 0.4} ${
          x0 + s * headR * 0.35
        },${headY + len} Q${x0 + s * 5},${headY + len * 0.5} ${x0 - s * 8},${
          headY - headR * 0.2
        } Z" fill="${p.hair}" stroke="${OUT}" stroke-width="${sw}"/>`,
      );
    }
  } else if (hairStyle === "pony") {
    const len = r.uniform(80, 160);
    parts.push(
      `<path d="M${cx + headR * 0.6},${headY - headR * 0.8} Q${cx + headR * 1.9},${headY} ${cx + headR * 1.2},${
        headY + len
      } Q${cx + headR * 1.0},${headY + len * 0.4} ${cx + headR * 0.5},${
        headY - headR * 0.3
      } Z" fill="${p.hair}" stroke="${OUT}" stroke-width="${sw}"/>`,
    );
  }
  // legs
  const spread = r.uniform(-6, 16);
  const legW = chibi ? headR * 0.32 : r.uniform(18, 24);
  for (const s of [-1, 1]) {
    parts.push(limb(cx + s * torsoW * 0.25, hipY - 8, legLen, legW, s * spread, p.skin, +sw));
    const a = (s * spread * Math.PI) / 180;
    const fx = cx + s * torsoW * 0.25 - Math.sin(a) * legLen, fy = hipY - 8 + Math.cos(a) * legLen;
    parts.push(
      `<ellipse cx="${(fx + s * 4).toFixed(1)}" cy="${fy.toFixed(1)}" rx="${(legW * 0.8).toFixed(1)}" ry="${
        (legW * 0.45).toFixed(1)
      }" fill="${p.shoe}" stroke="${OUT}" stroke-width="${sw}"/>`,
    );
  }
  // arms (pose)
  const pose = r.pick(["down", "up", "out", "wave", "hips"] as const);
  const armLen = chibi ? headR * 0.9 : r.uniform(85, 105);
  const armW = chibi ? headR * 0.26 : r.uniform(14, 18);
  const angles: Record<typeof pose, [number, number]> = {
    down: [r.uniform(5, 20), r.uniform(5, 20)],
    up: [r.uniform(140, 175), r.uniform(140, 175)],
    out: [r.uniform(60, 100), r.uniform(60, 100)],
    wave: [r.uniform(5, 20), r.uniform(120, 170)],
    hips: [r.uniform(30, 45), r.uniform(30, 45)],
  };
  const [aL, aR] = angles[pose];
  parts.push(limb(cx - torsoW / 2 + 4, neckY + 10, armLen, armW, aL, p.top, +sw));
  parts.push(limb(cx + torsoW / 2 - 4, neckY + 10, armLen, armW, -aR, p.top, +sw));
  // torso and outfit, with a cel-shaded right side
  const outfit = r.pick(["dress", "skirt", "pants"] as const);
  const skirtLen = outfit === "pants" ? legLen * 0.8 : r.uniform(35, 70) * (chibi ? 0.6 : 1);
  const flare = outfit === "pants" ? 4 : r.uniform(14, 34);
  const bottomFill = outfit === "dress" ? p.top : p.bottom;
  const bottomShade = outfit === "dress" ? p.topShade : p.bottomShade;
  const skirt = `M${cx - torsoW / 2},${hipY - 10} L${cx + torsoW / 2},${hipY - 10} L${cx + torsoW / 2 + flare},${
    hipY + skirtLen
  } L${cx - torsoW / 2 - flare},${hipY + skirtLen} Z`;
  const torso = `M${cx - torsoW / 2},${neckY + 4} Q${cx},${neckY - 6} ${cx + torsoW / 2},${neckY + 4} L${
    cx + torsoW / 2 - 4
  },${hipY} L${cx - torsoW / 2 + 4},${hipY} Z`;
  parts.push(
    `<defs><clipPath id="ts"><path d="${torso}"/></clipPath><clipPath id="sk"><path d="${skirt}"/></clipPath></defs>`,
  );
  if (outfit === "pants") {
    for (const s of [-1, 1]) {
      parts.push(limb(cx + s * torsoW * 0.25, hipY - 10, skirtLen, legW + 8, s * spread, p.bottom, +sw));
    }
  } else {
    parts.push(`<path d="${skirt}" fill="${bottomFill}"/>`);
    parts.push(
      `<rect x="${cx + torsoW * 0.15}" y="${hipY - 12}" width="${torsoW}" height="${
        skirtLen + 14
      }" fill="${bottomShade}" clip-path="url(#sk)"/>`,
    );
    parts.push(`<path d="${skirt}" fill="none" stroke="${OUT}" stroke-width="${sw}"/>`);
  }
  parts.push(`<path d="${torso}" fill="${p.top}"/>`);
  parts.push(
    `<rect x="${cx + torsoW * 0.18}" y="${neckY - 8}" width="${torsoW}" height="${
      torsoH + 10
    }" fill="${p.topShade}" clip-path="url(#ts)"/>`,
  );
  parts.push(`<path d="${torso}" fill="none" stroke="${OUT}" stroke-width="${sw}"/>`);
  if (r.chance(0.6)) { // ribbon / collar
    parts.push(
      `<path d="M${cx - 12},${neckY + 6} L${cx},${neckY + 16} L${cx + 12},${neckY + 6} L${cx + 10},${
        neckY + 24
      } L${cx},${neckY + 16} L${cx - 10},${neckY + 24} Z" fill="${
        hsl(r.uniform(0, 360), 75, 50)
      }" stroke="${OUT}" stroke-width="1.6"/>`,
    );
  }
  // head
  parts.push(
    `<ellipse cx="${cx}" cy="${headY}" rx="${headR.toFixed(1)}" ry="${
      (headR * 1.02).toFixed(1)
    }" fill="${p.skin}" stroke="${OUT}" stroke-width="${sw}"/>`,
  );
  // eyes
  const eyeDx = headR * 0.4, eyeY = headY + headR * 0.18;
  const eyeRx = headR * r.uniform(0.17, 0.23), eyeRy = headR * r.uniform(0.25, 0.33);
  for (const s of [-1, 1]) {
    const ex = cx + s * eyeDx;
    parts.push(
      `<ellipse cx="${ex}" cy="${eyeY}" rx="${eyeRx}" ry="${eyeRy}" fill="#fff" stroke="${OUT}" stroke-width="2"/>`,
      `<ellipse cx="${ex}" cy="${eyeY + eyeRy * 0.12}" rx="${eyeRx * 0.78}" ry="${eyeRy * 0.82}" fill="${p.eye}"/>`,
      `<ellipse cx="${ex}" cy="${eyeY + eyeRy * 0.2}" rx="${eyeRx * 0.38}" ry="${eyeRy * 0.42}" fill="${OUT}"/>`,
      `<circle cx="${ex - eyeRx * 0.3}" cy="${eyeY - eyeRy * 0.3}" r="${eyeRx * 0.28}" fill="#fff"/>`,
      `<path d="M${ex - eyeRx * 1.1},${eyeY - eyeRy * 1.05} Q${ex},${eyeY - eyeRy * 1.5} ${ex + eyeRx * 1.1},${
        eyeY - eyeRy * 1.05
      }" fill="none" stroke="${OUT}" stroke-width="3"/>`,
      `<ellipse cx="${ex + s * eyeRx * 0.6}" cy="${eyeY + eyeRy * 1.3}" rx="${eyeRx * 0.6}" ry="${
        eyeRy * 0.2
      }" fill="hsl(350,80%,75%)" opacity="0.7"/>`,
    );
  }
  const mouthY = headY + headR * 0.62;
  parts.push(
    r.chance(0.5)
      ? `<path d="M${cx - 6},${mouthY} Q${cx},${mouthY + 6} ${
        cx + 6
      },${mouthY}" fill="none" stroke="${OUT}" stroke-width="2"/>`
      : `<ellipse cx="${cx}" cy="${
        mouthY + 2
      }" rx="5" ry="4" fill="hsl(350,60%,45%)" stroke="${OUT}" stroke-width="1.5"/>`,
  );
  // front hair: bangs with spikes, and a shaded side
  const n = r.int(4, 7);
  let bang = `M${cx - headR * 1.08},${headY + headR * 0.2} Q${cx - headR * 1.15},${headY - headR * 1.25} ${cx},${
    headY - headR * 1.12
  } Q${cx + headR * 1.15},${headY - headR * 1.25} ${cx + headR * 1.08},${headY + headR * 0.2}`;
  for (let i = n; i >= 0; i--) {
    const x = cx - headR + (2 * headR * i) / n;
    const tipY = headY - headR * (hairStyle === "spiky" ? r.uniform(0.05, 0.35) : r.uniform(0.2, 0.45));
    const baseY = headY - headR * 0.6;
    bang += ` L${(x + headR / n).toFixed(1)},${baseY.toFixed(1)} L${x.toFixed(1)},${tipY.toFixed(1)}`;
  }
  bang += " Z";
  parts.push(`<defs><clipPath id="hb"><path d="${bang}"/></clipPath></defs>`);
  parts.push(`<path d="${bang}" fill="${p.hair}"/>`);
  parts.push(
    `<rect x="${cx + headR * 0.3}" y="${headY - headR * 1.4}" width="${headR}" height="${
      headR * 2
    }" fill="${p.hairShade}" clip-path="url(#hb)"/>`,
  );
  parts.push(`<path d="${bang}" fill="none" stroke="${OUT}" stroke-width="${sw}"/>`);
  if (hairStyle === "bob" || hairStyle === "spiky") {
    for (const s of [-1, 1]) {
      parts.push(
        `<path d="M${cx + s * headR * 1.05},${headY - headR * 0.3} Q${cx + s * headR * 1.25},${headY + headR * 0.5} ${
          cx + s * headR * 0.95
        },${headY + headR * (hairStyle === "bob" ? 1.0 : 0.6)} L${
          cx + s * headR * 0.8
        },${headY} Z" fill="${p.hair}" stroke="${OUT}" stroke-width="${sw}"/>`,
      );
    }
  }
  if (r.chance(0.35)) { // accessory: hair bow or cat ears
    const col = hsl(r.uniform(0, 360), 80, 55);
    if (r.chance(0.5)) {
      const bx = cx + headR * 0.55, by = headY - headR * 0.95;
      parts.push(
        `<path d="M${bx},${by} L${bx - 18},${by - 12} L${bx - 18},${by + 12} Z M${bx},${by} L${bx + 18},${by - 12} L${
          bx + 18
        },${by + 12} Z" fill="${col}" stroke="${OUT}" stroke-width="2"/>`,
      );
    } else {
      for (const s of [-1, 1]) {
        const ex = cx + s * headR * 0.6, ey = headY - headR * 0.8;
        parts.push(
          `<path d="M${ex - 14},${ey + 6} L${ex + s * 6},${ey - 34} L${ex + 14},${
            ey + 6
          } Z" fill="${p.hair}" stroke="${OUT}" stroke-width="${sw}"/>`,
        );
      }
    }
  }
  const tilt = r.uniform(-8, 8);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">` +
    `<g transform="rotate(${tilt.toFixed(1)} ${cx} ${H / 2})">${parts.join("")}</g></svg>`;
  return { svg, width: W, height: H };
}

/** Crop an RGBA image to the bounding box of alpha > 0 (returns the input when fully transparent). */
export function cropToAlpha(img: RawImage): RawImage {
  const { width: w, height: h, data } = img;
  let x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (data[(y * w + x) * 4 + 3]) {
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        y2 = y;
      }
    }
  }
  if (x2 < 0) return img;
  const cw = x2 - x1 + 1, ch = y2 - y1 + 1;
  const out = new Uint8Array(cw * ch * 4);
  for (let y = 0; y < ch; y++) out.set(data.subarray(((y + y1) * w + x1) * 4, ((y + y1) * w + x2 + 1) * 4), y * cw * 4);
  return { data: out, width: cw, height: ch, channels: 4 };
}

/** Render an SVG string to raw RGBA at `scale` x its nominal size. */
export async function renderSvg(svg: string, scale = 1): Promise<RawImage> {
  const { data, info } = await sharp(new TextEncoder().encode(svg), { density: 72 * scale }).ensureAlpha().raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: 4,
  };
}

/** One generated character as an RGBA cut-out cropped to its alpha; `scale` sets the pixel size (1 = ~420 px tall). */
export async function generateCharacter(seed: number, index: number, scale = 1): Promise<RawImage> {
  const { svg } = characterSvg(makeRng(seed, 1_000_000 + index));
  return cropToAlpha(await renderSvg(svg, scale));
}

/** SVG text of one anime-style background of size `w x h` (no characters). */
export function backgroundSvg(r: Rng, w: number, h: number): string {
  const kind = r.pick(["outdoor", "town", "room", "pattern"] as const);
  const el: string[] = [];
  const sky1 = hsl(r.uniform(190, 220), 70, r.uniform(60, 80)), sky2 = hsl(r.uniform(180, 210), 60, r.uniform(85, 95));
  el.push(
    `<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${sky1}"/><stop offset="1" stop-color="${sky2}"/></linearGradient></defs>`,
  );
  const line = `stroke="${hsl(220, 20, 35)}" stroke-width="${r.uniform(1, 2).toFixed(1)}"`;
  if (kind === "outdoor" || kind === "town") {
    el.push(`<rect width="${w}" height="${h}" fill="url(#g)"/>`);
    for (let i = 0, n = r.int(1, 4); i < n; i++) {
      const x = r.uniform(0, w), y = r.uniform(0, h * 0.35), s = r.uniform(20, 60);
      el.push(
        `<g fill="#fff" opacity="0.9"><circle cx="${x}" cy="${y}" r="${s}"/><circle cx="${x + s}" cy="${y + 5}" r="${
          s * 0.8
        }"/><circle cx="${x - s}" cy="${y + 8}" r="${s * 0.7}"/></g>`,
      );
    }
    const horizon = r.uniform(0.45, 0.7) * h;
    if (kind === "outdoor") {
      el.push(
        `<path d="M0,${horizon} Q${w * 0.3},${horizon - r.uniform(20, 80)} ${w * 0.6},${horizon} T${w},${
          horizon - 20
        } L${w},${h} L0,${h} Z" fill="${hsl(r.uniform(80, 140), 45, r.uniform(45, 65))}" ${line}/>`,
      );
      for (let i = 0, n = r.int(2, 7); i < n; i++) {
        const x = r.uniform(0, w), y = horizon + r.uniform(-10, 30), s = r.uniform(15, 45);
        el.push(
          `<rect x="${x - 4}" y="${y}" width="8" height="${s}" fill="${hsl(25, 40, 30)}"/>` +
            `<circle cx="${x}" cy="${y - s * 0.3}" r="${s * 0.8}" fill="${hsl(r.uniform(90, 150), 50, 35)}" ${line}/>`,
        );
      }
      el.push(
        `<path d="M${w * 0.4},${h} L${w * 0.48},${horizon + 10} L${w * 0.52},${horizon + 10} L${
          w * 0.7
        },${h} Z" fill="${hsl(35, 30, 70)}"/>`,
      );
    } else {
      for (let x = -10; x < w;) {
        const bw = r.uniform(50, 120), bh = r.uniform(h * 0.2, h * 0.6);
        const col = hsl(r.uniform(0, 360), 20, r.uniform(55, 80));
        el.push(`<rect x="${x}" y="${horizon - bh}" width="${bw}" height="${bh + h}" fill="${col}" ${line}/>`);
        for (let wy = horizon - bh + 10; wy < horizon - 15; wy += 22) {
          for (let wx = x + 8; wx < x + bw - 14; wx += 18) {
            el.push(`<rect x="${wx}" y="${wy}" width="9" height="12" fill="${hsl(200, 50, 85)}"/>`);
          }
        }
        x += bw + r.uniform(0, 10);
      }
      el.push(
        `<rect x="0" y="${horizon}" width="${w}" height="${h - horizon}" fill="${hsl(0, 0, r.uniform(45, 65))}"/>`,
      );
    }
  } else if (kind === "room") {
    const wall = hsl(r.uniform(20, 60), r.uniform(20, 50), r.uniform(75, 90));
    const floorY = r.uniform(0.6, 0.8) * h;
    el.push(`<rect width="${w}" height="${h}" fill="${wall}"/>`);
    el.push(
      `<rect x="0" y="${floorY}" width="${w}" height="${h - floorY}" fill="${
        hsl(30, 40, r.uniform(40, 60))
      }" ${line}/>`,
    );
    for (let x = 0; x < w; x += 40) {
      el.push(`<line x1="${x}" y1="${floorY}" x2="${x - 30}" y2="${h}" ${line} opacity="0.4"/>`);
    }
    const wx = r.uniform(0.05, 0.6) * w, ww = r.uniform(0.2, 0.35) * w;
    el.push(`<rect x="${wx}" y="${h * 0.12}" width="${ww}" height="${h * 0.35}" fill="url(#g)" ${line}/>`);
    el.push(`<line x1="${wx + ww / 2}" y1="${h * 0.12}" x2="${wx + ww / 2}" y2="${h * 0.47}" ${line}/>`);
    const sx = r.uniform(0, w * 0.8);
    el.push(
      `<rect x="${sx}" y="${floorY - h * 0.3}" width="${w * 0.18}" height="${h * 0.3}" fill="${
        hsl(25, 35, 40)
      }" ${line}/>`,
    );
    for (let i = 0; i < 3; i++) {
      el.push(
        `<rect x="${sx + 6 + i * 12}" y="${floorY - h * 0.28}" width="9" height="${h * 0.1}" fill="${
          hsl(r.uniform(0, 360), 50, 50)
        }"/>`,
      );
    }
  } else {
    const a = hsl(r.uniform(0, 360), r.uniform(20, 60), r.uniform(70, 90));
    const b = hsl(r.uniform(0, 360), r.uniform(20, 60), r.uniform(60, 85));
    el.push(`<rect width="${w}" height="${h}" fill="${a}"/>`);
    const step = r.uniform(20, 60);
    if (r.chance(0.5)) {
      for (let x = -h; x < w; x += step * 2) {
        el.push(`<path d="M${x},0 L${x + step},0 L${x + step + h},${h} L${x + h},${h} Z" fill="${b}"/>`);
      }
    } else {
      for (let y = step / 2; y < h; y += step) {
        for (let x = step / 2; x < w; x += step) {
          el.push(`<circle cx="${x}" cy="${y}" r="${step * 0.25}" fill="${b}"/>`);
        }
      }
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${
    el.join("")
  }</svg>`;
}

/** One generated background as RGB `[h*w*3]`. */
export async function generateBackground(seed: number, index: number, w = 640, h = 480): Promise<RawImage> {
  const svg = backgroundSvg(makeRng(seed, 2_000_000 + index), w, h);
  const { data, info } = await sharp(new TextEncoder().encode(svg)).removeAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: 3,
  };
}
