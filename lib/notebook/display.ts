/**
 * Display helpers for notebooks (Deno Jupyter kernel): images, plotly figures, tables, markdown. Each returns a
 * displayable object (use it as a cell's last expression) and `show(...)` sends it immediately. Plotly output
 * carries the JupyterLab mime, an HTML `<div>` + `Plotly.newPlot` script (the report injects plotly.js once, so it
 * renders offline) and a text fallback. Outside a kernel, `show` prints a short text form instead.
 */

/** A value the Deno kernel renders through its `Jupyter.display` hook. */
export interface Displayable {
  [key: symbol]: () => Record<string, unknown>;
}

const DISPLAY = Symbol.for("Jupyter.display");

function bundle(data: Record<string, unknown>): Displayable {
  return { [DISPLAY]: () => data } as Displayable;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(s);
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A PNG image (encoded bytes) with an optional caption (alt text). */
export function image(png: Uint8Array, caption = "image"): Displayable {
  return bundle({ "image/png": b64(png), "text/plain": `<${caption}: ${png.length} bytes png>` });
}

/** Several PNGs side by side with captions, as one HTML block. */
export function imageRow(items: { png: Uint8Array; caption?: string; width?: number }[]): Displayable {
  const cells = items.map((it) =>
    `<figure style="display:inline-block;margin:4px;text-align:center"><img src="data:image/png;base64,${
      b64(it.png)
    }" style="max-width:${it.width ?? 320}px"/><figcaption style="font-size:12px">${
      escapeHtml(it.caption ?? "")
    }</figcaption></figure>`
  );
  return bundle({ "text/html": `<div>${cells.join("")}</div>`, "text/plain": `<${items.length} images>` });
}

/** A plotly figure `{data, layout}`; renders in JupyterLab and in the exported HTML report (offline). */
export function plot(
  fig: { data: unknown[]; layout?: Record<string, unknown> },
  size = { width: 720, height: 400 },
): Displayable {
  const id = "plt-" + crypto.randomUUID();
  const layout = { width: size.width, height: size.height, ...(fig.layout ?? {}) };
  const html = `<div id="${id}" class="animeseg-plot" style="width:${size.width}px;height:${size.height}px"></div>` +
    `<script>(function(){var f=function(){Plotly.newPlot(${JSON.stringify(id)}, ${JSON.stringify(fig.data)}, ${
      JSON.stringify(layout)
    }, {responsive:false});};if(window.Plotly){f();}else{window.addEventListener('load', f);}})();</script>`;
  const title = (layout as { title?: unknown }).title;
  return bundle({
    "application/vnd.plotly.v1+json": { data: fig.data, layout },
    "text/html": html,
    "text/plain": `plotly figure${typeof title === "string" ? ": " + title : ""}`,
  });
}

/** A table from rows of records (columns from the first row unless given); numbers shown with `digits`. */
export function table(
  rows: Record<string, unknown>[],
  opts: { columns?: string[]; digits?: number } = {},
): Displayable {
  const cols = opts.columns ?? (rows.length ? Object.keys(rows[0]) : []);
  const fmt = (v: unknown) =>
    typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(opts.digits ?? 4)) : String(v ?? "");
  const html = `<table class="animeseg-table"><thead><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}` +
    `</tr></thead><tbody>${
      rows.map((r) => `<tr>${cols.map((c) => `<td>${escapeHtml(fmt(r[c]))}</td>`).join("")}</tr>`).join("")
    }</tbody></table>`;
  const text = [cols.join("\t"), ...rows.map((r) => cols.map((c) => fmt(r[c])).join("\t"))].join("\n");
  return bundle({ "text/html": html, "text/plain": text });
}

/** Markdown text. */
export function markdown(text: string): Displayable {
  return bundle({ "text/markdown": text, "text/plain": text });
}

/** Raw HTML. */
export function html(text: string): Displayable {
  return bundle({ "text/html": text, "text/plain": text.replace(/<[^>]+>/g, "") });
}

/** True inside a Deno Jupyter kernel. */
export function inKernel(): boolean {
  return typeof (Deno as unknown as { jupyter?: unknown }).jupyter !== "undefined";
}

/** Send a displayable now (inside a kernel); outside a kernel print its text form. */
export async function show(d: Displayable): Promise<void> {
  const data = d[DISPLAY]();
  const jup = (Deno as unknown as {
    jupyter?: { display(d: Record<string, unknown>, o: { raw: boolean }): Promise<void> };
  }).jupyter;
  if (jup) await jup.display(data, { raw: true });
  else console.log(String(data["text/plain"] ?? ""));
}

/**
 * Guard for background errors: notebooks call `installErrorGuard()` in their first cell and `checkErrorGuard()` in
 * their last, so unhandled rejections and timer errors fail the run instead of being swallowed.
 */
const bgErrors: unknown[] = [];
let guardInstalled = false;
export function installErrorGuard(): void {
  if (guardInstalled) return;
  guardInstalled = true;
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    bgErrors.push(e.reason);
    console.error("unhandled rejection:", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    bgErrors.push(e.error);
    console.error("uncaught error:", e.error);
  });
}

/** Throw when any background error was seen since `installErrorGuard()`. */
export function checkErrorGuard(): void {
  if (bgErrors.length) throw new Error(`${bgErrors.length} background error(s) escaped; first: ${bgErrors[0]}`);
}

/** The project root folder (absolute), for notebooks whose cwd is `notebooks/`. */
export function projectRoot(): string {
  return new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
}

/** The shared fixtures folder (`ANIMESEG_FIXTURES`, else `../shared/fixtures` beside the project), or null if absent. */
export function fixturesDir(): string | null {
  const dir = Deno.env.get("ANIMESEG_FIXTURES") ?? `${projectRoot()}/../shared/fixtures`;
  try {
    Deno.statSync(dir);
    return dir;
  } catch {
    return null;
  }
}

/** True when notebooks should run at their smallest size (CI, `ANIMESEG_QUICK=1`). */
export function quick(): boolean {
  return Deno.env.get("ANIMESEG_QUICK") === "1" || Deno.env.get("CI") === "true";
}
