// The console's page toolkit: html`` templates that escape what they interpolate, DOM
// look-ups ($, $$, setHtml), and how values are written on the page (times, always UTC;
// durations; payloads pretty-printed). Imports nothing.

// -- HTML with escaping ---------------------------------------------------------------------
class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
const raw = (s) => new Raw(s);
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);
export function part(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(v);
}
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
  return raw(out);
}
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
export const setHtml = (el, h) => { if (el) el.innerHTML = part(h); };
export const seg = encodeURIComponent;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// -- time, always UTC -----------------------------------------------------------------------
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toISOString().replace("T", " ").replace("Z", "");
}
export const fmtShort = (ms) => new Date(ms).toISOString().slice(11, 19);
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms % 1000 ? 3 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s >= 3600) return `${(s / 3600).toFixed(2)} h`;
  return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
}
export const utcInput = (value) => (value ? Date.parse(value + "Z") : null); // datetime-local as UTC
export function pretty(text) {
  if (text === null || text === undefined) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
  try {
    const decoded = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
    return JSON.stringify(JSON.parse(decoded), null, 2) + "\n(decoded from Base64)";
  } catch { return text; }
}
