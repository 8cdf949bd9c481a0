// The console's API client: fcemu's FC API (/2023-03-30) and control API (/_fcemu), same
// origin only. In verify mode it signs each request (ACS3-HMAC-SHA256) with the AccessKey
// pair the user gives in the sign-in dialog, kept in this tab's sessionStorage only.

import { $ } from "./dom.js";

export const FC = "/2023-03-30";
export const CTL = "/_fcemu";
const enc = (s) => new TextEncoder().encode(s);
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

// -- requests -------------------------------------------------------------------------------
const session = {
  verify: false,
  keyId: sessionStorage.getItem("fcemu.keyId") || "",
  secret: sessionStorage.getItem("fcemu.secret") || "",
};

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function rfc3986(v) {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

async function sign(method, url, headers, bytes) {
  if (!crypto.subtle) {
    throw new ApiError(0, "InsecureContext", "signing needs the browser's Web Crypto, which it " +
      "only offers on a secure context: open the console through http://127.0.0.1 or http://localhost");
  }
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  const payload = hex(await crypto.subtle.digest("SHA-256", bytes));
  Object.assign(out, {
    host: location.host, "x-acs-version": "2023-03-30", "x-acs-action": "FcemuConsole",
    "x-acs-date": new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    "x-acs-signature-nonce": hex(crypto.getRandomValues(new Uint8Array(16))),
    "x-acs-content-sha256": payload,
  });
  const signed = Object.keys(out).sort();
  const pairs = [...url.searchParams].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const query = pairs.map(([k, v]) => `${k}=${rfc3986(v)}`).join("&");
  const canonical = [method, url.pathname || "/", query,
    signed.map((n) => `${n}:${out[n].trim()}\n`).join(""), signed.join(";"), payload].join("\n");
  const toSign = "ACS3-HMAC-SHA256\n" + hex(await crypto.subtle.digest("SHA-256", enc(canonical)));
  const key = await crypto.subtle.importKey("raw", enc(session.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = hex(await crypto.subtle.sign("HMAC", key, enc(toSign)));
  out.authorization = `ACS3-HMAC-SHA256 Credential=${session.keyId},SignedHeaders=${signed.join(";")},Signature=${signature}`;
  delete out.host; // the browser sends it itself (the value signed above)
  return out;
}

export async function request(method, path, { json, body, headers = {}, stream = false, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  let bytes = null;
  const h = { ...headers };
  if (json !== undefined) { bytes = enc(JSON.stringify(json)); h["content-type"] = "application/json"; }
  else if (body !== undefined) { bytes = enc(body); h["content-type"] = h["content-type"] || "application/octet-stream"; }
  const sent = session.verify ? { ...h, ...(await sign(method, url, h, bytes || new Uint8Array())) } : h;
  const resp = await fetch(url, { method, headers: sent, body: bytes, cache: "no-store", credentials: "same-origin" });
  if (stream && resp.ok) return resp;
  const text = await resp.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!resp.ok) {
    const code = (doc && doc.Code) || `HTTP ${resp.status}`;
    const message = (doc && doc.Message) || text || resp.statusText;
    if (session.verify && resp.status === 403 && /AccessKey|Signature/i.test(code)) askForKeys(message);
    throw new ApiError(resp.status, code, message);
  }
  return { status: resp.status, headers: resp.headers, text, doc };
}
export const get = async (path, params) => (await request("GET", path, { params })).doc;
export const post = async (path, json) => (await request("POST", path, { json })).doc;

// -- verify mode ------------------------------------------------------------------------------
function askForKeys(reason) {
  const dialog = $("#login");
  if (dialog.open) return;
  const error = $("#login-error");
  error.hidden = !reason;
  error.textContent = reason || "";
  dialog.showModal();
}
// Signing in: the dialog's form keeps the pair for this tab, then `then` runs (start again).
export function whenSignedIn(then) {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    session.keyId = form.keyId.value.trim();
    session.secret = form.secret.value;
    sessionStorage.setItem("fcemu.keyId", session.keyId);
    sessionStorage.setItem("fcemu.secret", session.secret);
    $("#login").close();
    then();
  });
}

export async function detectVerifyMode() {
  const resp = await fetch(CTL + "/health", { cache: "no-store" });
  if (resp.ok) { session.verify = false; return true; }
  const doc = await resp.json().catch(() => ({}));
  if (resp.status === 400 || resp.status === 403) {
    session.verify = true;
    if (!session.keyId) { askForKeys(""); return false; }
    return true;
  }
  throw new ApiError(resp.status, doc.Code || "HTTP " + resp.status, doc.Message || "the emulator refused the console");
}
