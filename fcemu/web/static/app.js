// fcemu console: plain ES2020, no build step, no dependencies.
// It is a client of fcemu's own APIs: the FC API (/2023-03-30) and the control API (/_fcemu),
// same origin only. In verify mode it signs each request (ACS3-HMAC-SHA256) with the
// AccessKey pair the user gives, kept in this tab's sessionStorage only.

const FC = "/2023-03-30";
const CTL = "/_fcemu";
const STATUSES = ["Enqueued", "Processed", "Running", "Retrying", "Stopping", "Succeeded",
  "Failed", "Stopped", "Expired", "Invalid"];
const TERMINAL = ["Succeeded", "Failed", "Stopped", "Expired", "Invalid"];
const COLORS = { Succeeded: "#1e7a3c", Failed: "#b3261e", Stopped: "#6b3fa0", Expired: "#c0692b",
  Invalid: "#6b737c", Running: "#1a5fb4", Processed: "#1a5fb4", Enqueued: "#8a939d",
  Retrying: "#b07a00", Stopping: "#6b3fa0" };
const PAGE_SIZE = 20;

// -- HTML with escaping ---------------------------------------------------------------------
class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
const raw = (s) => new Raw(s);
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);
function part(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(v);
}
function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
  return raw(out);
}
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const setHtml = (el, h) => { if (el) el.innerHTML = part(h); };
const enc = (s) => new TextEncoder().encode(s);
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const seg = encodeURIComponent;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// -- time, always UTC -----------------------------------------------------------------------
function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toISOString().replace("T", " ").replace("Z", "");
}
const fmtShort = (ms) => new Date(ms).toISOString().slice(11, 19);
function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms % 1000 ? 3 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s >= 3600) return `${(s / 3600).toFixed(2)} h`;
  return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
}
const utcInput = (value) => (value ? Date.parse(value + "Z") : null); // datetime-local as UTC

// -- requests -------------------------------------------------------------------------------
const session = {
  verify: false,
  keyId: sessionStorage.getItem("fcemu.keyId") || "",
  secret: sessionStorage.getItem("fcemu.secret") || "",
};

class ApiError extends Error {
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

async function request(method, path, { json, body, headers = {}, stream = false, params } = {}) {
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
const get = async (path, params) => (await request("GET", path, { params })).doc;
const post = async (path, json) => (await request("POST", path, { json })).doc;

// -- notices --------------------------------------------------------------------------------
function notify(message, kind = "error") {
  const el = $("#notice");
  el.textContent = message;
  el.className = kind === "info" ? "info" : "";
  el.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { el.hidden = true; }, kind === "info" ? 3000 : 9000);
}
const describe = (e) => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e && e.message || e));
async function guarded(fn) {
  try { return await fn(); } catch (e) { notify(describe(e)); return undefined; }
}

// -- verify mode ------------------------------------------------------------------------------
function askForKeys(reason) {
  const dialog = $("#login");
  if (dialog.open) return;
  const error = $("#login-error");
  error.hidden = !reason;
  error.textContent = reason || "";
  dialog.showModal();
}
$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = ev.target;
  session.keyId = form.keyId.value.trim();
  session.secret = form.secret.value;
  sessionStorage.setItem("fcemu.keyId", session.keyId);
  sessionStorage.setItem("fcemu.secret", session.secret);
  $("#login").close();
  start();
});

async function detectVerifyMode() {
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

// -- the clock bar --------------------------------------------------------------------------
const clock = { now: null, mode: "" };
async function refreshClock() {
  const doc = await get(CTL + "/clock");
  clock.now = doc.now; clock.mode = doc.mode;
  $("#now").textContent = fmtTime(doc.now) + " UTC";
  $("#now").dateTime = new Date(doc.now).toISOString();
  $("#mode").textContent = doc.mode + " clock";
  const manual = doc.mode === "manual";
  const actions = $("#clock-actions");
  if (actions.dataset.mode !== doc.mode) {
    actions.dataset.mode = doc.mode;
    setHtml(actions, manual ? html`<button data-advance="1">+1 s</button><button data-advance="60">+1 min</button>
      <button data-clock="settle">Settle</button><button data-clock="drain">Drain</button>`
      : html`<button data-clock="settle">Settle</button>`);
  }
}
async function clockAction(kind, seconds) {
  await guarded(async () => {
    if (kind === "advance") await post(CTL + "/clock/advance", { seconds });
    else if (kind === "set") await post(CTL + "/clock/set", { now: seconds });
    else await post(CTL + "/" + kind, {});
    await refreshClock();
    scheduleRefresh(0);
  });
}
document.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-advance], button[data-clock]");
  if (!button) return;
  if (button.dataset.advance) clockAction("advance", Number(button.dataset.advance));
  else clockAction(button.dataset.clock);
});

// -- live events (Server-Sent Events read with fetch, so that they can be signed) ------------
const live = { on: false, seen: new Set() };
function setLive(on) {
  live.on = on;
  const el = $("#live");
  el.className = "live " + (on ? "on" : "off");
  el.textContent = on ? "live" : "offline";
}
async function listen() {
  for (;;) {
    try {
      const resp = await request("GET", CTL + "/events", { stream: true, headers: { accept: "text/event-stream" } });
      setLive(true);
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (e) { /* reconnect below */ }
    setLive(false);
    await sleep(1500);
  }
}
function onEvent(doc) {
  if (doc.type === "task") live.seen.add(doc.functionName + "/" + doc.taskId);
  scheduleRefresh(150);
}

// -- routing --------------------------------------------------------------------------------
let view = null;
let refreshTimer = null;
function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await guarded(refreshClock);
    if (view && view.refresh) await guarded(view.refresh);
  }, delay);
}

const routes = [
  [/^#\/tasks$/, () => tasksView()],
  [/^#\/task\/([^/]+)\/([^/]+)$/, (m) => taskView(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/functions$/, () => functionsView()],
  [/^#\/queues$/, () => queuesView()],
  [/^#\/queue\/([^/]+)$/, (m) => queueView(decodeURIComponent(m[1]))],
  [/^#\/clock$/, () => clockView()],
  [/^#\/metrics$/, () => metricsView()],
];
async function route() {
  const hash = location.hash || "#/tasks";
  let made = null;
  for (const [re, make] of routes) {
    const m = hash.match(re);
    if (m) { made = make(m); break; }
  }
  if (!made) { location.hash = "#/tasks"; return; }
  view = made;
  const page = hash.split("/")[1];
  const active = { task: "tasks", queue: "queues" }[page] || page;
  $$("#nav a").forEach((a) => a.toggleAttribute("aria-current", false));
  const link = $(`#nav a[data-page="${active}"]`);
  if (link) link.setAttribute("aria-current", "page");
  const main = $("#main");
  setHtml(main, view.shell());
  if (view.mount) view.mount(main);
  await guarded(view.refresh);
}
window.addEventListener("hashchange", route);

// -- shared pieces --------------------------------------------------------------------------
const badge = (status) => html`<span class="badge st-${status}" data-status="${status}">${status}</span>`;
const taskLink = (fn, id) => html`<a href="#/task/${seg(fn)}/${seg(id)}">${id}</a>`;
const attemptsOf = (task) => (task.events || []).filter((e) => e.status === "Running").length;
function pretty(text) {
  if (text === null || text === undefined) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
  try {
    const decoded = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
    return JSON.stringify(JSON.parse(decoded), null, 2) + "\n(decoded from Base64)";
  } catch { return text; }
}
async function functionNames() {
  const doc = await get(FC + "/functions", { limit: 100 });
  return (doc.functions || []).map((f) => f.functionName);
}

// -- Tasks ----------------------------------------------------------------------------------
function tasksView() {
  const state = { tokens: [""], page: 0, shown: new Map() };
  const filters = () => {
    const f = $("#task-filters");
    return { status: f.status.value, function: f.function.value, prefix: f.prefix.value.trim(),
      startedTimeBegin: utcInput(f.from.value), startedTimeEnd: utcInput(f.to.value) };
  };
  return {
    shell: () => html`<h1>Tasks</h1>
      <form id="task-filters" class="row panel" aria-label="Filters">
        <label>Status <select name="status"><option value="">any</option>${STATUSES.map((s) => html`<option>${s}</option>`)}</select></label>
        <label>Function <select name="function"><option value="">any</option></select></label>
        <label>Task ID prefix <input name="prefix" size="14"></label>
        <label>Submitted from (UTC) <input name="from" type="datetime-local" step="1"></label>
        <label>to (UTC) <input name="to" type="datetime-local" step="1"></label>
        <button type="reset">Clear</button>
      </form>
      <div class="tablewrap"><table class="rt" id="tasks"><thead><tr><th>Task ID</th><th>Function</th><th>Qualifier</th>
        <th>Status</th><th>Attempts</th><th>Submitted</th><th>Ended</th><th>Destination</th></tr></thead>
        <tbody><tr><td colspan="8" class="muted">Loading…</td></tr></tbody></table></div>
      <div class="pager"><button id="prev">← Newer</button><span id="pageno" class="muted"></span><button id="next">Older →</button></div>`,
    mount() {
      const form = $("#task-filters");
      const again = () => { state.tokens = [""]; state.page = 0; guarded(this.refresh); };
      form.addEventListener("input", again);
      form.addEventListener("reset", () => setTimeout(again));
      form.addEventListener("submit", (e) => e.preventDefault());
      $("#prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); guarded(this.refresh); });
      $("#next").addEventListener("click", () => { state.page += 1; guarded(this.refresh); });
      guarded(async () => {
        const select = form.function;
        for (const name of await functionNames()) select.append(new Option(name, name));
      });
    },
    async refresh() {
      if (!$("#tasks")) return;
      const doc = await get(CTL + "/tasks", { ...filters(), limit: PAGE_SIZE, nextToken: state.tokens[state.page] });
      state.tokens[state.page + 1] = doc.nextToken || null;
      const rows = doc.tasks || [];
      const before = state.shown;
      state.shown = new Map(rows.map((t) => [t.functionName + "/" + t.taskId, t.status]));
      setHtml($("#tasks tbody"), rows.length ? rows.map((t) => {
        const key = t.functionName + "/" + t.taskId;
        const changed = before.size && before.get(key) !== t.status;
        return html`<tr data-task="${t.taskId}" data-status="${t.status}" class="${changed ? "flash" : ""}">
          <td data-label="Task ID" class="mono">${taskLink(t.functionName, t.taskId)}</td>
          <td data-label="Function">${t.functionName}</td><td data-label="Qualifier">${t.qualifier}</td>
          <td data-label="Status">${badge(t.status)}</td><td data-label="Attempts">${attemptsOf(t)}</td>
          <td data-label="Submitted"><time>${fmtTime(t.startedTime)}</time></td>
          <td data-label="Ended"><time>${fmtTime(t.endTime)}</time></td>
          <td data-label="Destination">${t.destinationStatus ? badge(t.destinationStatus) : html`<span class="muted">—</span>`}</td></tr>`;
      }) : html`<tr><td colspan="8" class="muted">No task matches. Invoke a function asynchronously (Functions page, or any SDK) and it appears here.</td></tr>`);
      $("#prev").disabled = state.page === 0;
      $("#next").disabled = !state.tokens[state.page + 1];
      $("#pageno").textContent = `page ${state.page + 1}`;
    },
  };
}

// -- A task ---------------------------------------------------------------------------------
function timeline(task) {
  const events = task.events || [];
  if (!events.length) return html`<p class="muted">No events yet.</p>`;
  const t0 = task.startedTime;
  const last = Math.max(...events.map((e) => e.timestamp));
  const tEnd = Math.max(task.endTime || Math.max(clock.now || 0, last), last, t0 + 1);
  const W = 960, left = 20, right = 20, span = Math.max(1, tEnd - t0);
  const x = (t) => left + ((t - t0) / span) * (W - left - right);
  const rows = events.length;
  const H = 70 + rows * 18;
  const bars = (task.attempts || []).map((a) => {
    // durations are real time; a manual clock may not have moved meanwhile: keep to the axis
    const x1 = x(a.startedTime), x2 = Math.min(W - right, Math.max(x1 + 3, x(a.startedTime + (a.durationMs || 0))));
    return html`<rect x="${x1}" y="26" width="${x2 - x1}" height="12" rx="2" fill="${a.outcome === "ok" ? COLORS.Succeeded : a.outcome ? COLORS.Failed : COLORS.Running}" opacity=".75"><title>attempt ${a.attempt}: ${a.outcome || "running"} ${fmtDuration(a.durationMs)}</title></rect>`;
  });
  const marks = events.map((e, i) => {
    const cx = x(e.timestamp), y = 64 + i * 18;
    const anchor = cx > W * 0.7 ? "end" : "start";
    const tx = anchor === "end" ? cx - 8 : cx + 8;
    return html`<line x1="${cx}" x2="${cx}" y1="44" y2="${y - 4}" stroke="${COLORS[e.status] || "#555"}" stroke-dasharray="2 2"/>
      <circle cx="${cx}" cy="44" r="5" fill="${COLORS[e.status] || "#555"}"/>
      <text x="${tx}" y="${y}" text-anchor="${anchor}">${e.status} · +${fmtDuration(e.timestamp - t0)} · ${new Date(e.timestamp).toISOString().slice(11, 23)}</text>`;
  });
  return html`<svg class="timeline" viewBox="0 0 ${W} ${H}" role="img" aria-label="Timeline of ${rows} events on emulator time">
    <text x="${left}" y="14">${fmtTime(t0)} UTC (submitted)</text>
    <text x="${W - right}" y="14" text-anchor="end">${fmtTime(tEnd)} UTC</text>
    <line class="axis" x1="${left}" x2="${W - right}" y1="44" y2="44"/>${bars}${marks}</svg>`;
}

function taskView(fn, id) {
  return {
    shell: () => html`<p><a href="#/tasks">← Tasks</a></p><div id="task"><p class="muted">Loading…</p></div>`,
    mount(main) {
      main.addEventListener("click", async (ev) => {
        if (!ev.target.matches("#stop")) return;
        ev.target.disabled = true;
        await guarded(async () => {
          await request("PUT", `${FC}/functions/${seg(fn)}/async-tasks/${seg(id)}/stop`,
            { params: { qualifier: ev.target.dataset.qualifier } });
          notify("Stop requested", "info");
        });
        scheduleRefresh(0);
      });
    },
    async refresh() {
      const el = $("#task");
      if (!el) return;
      const t = await get(`${CTL}/functions/${seg(fn)}/async-tasks/${seg(id)}`);
      const dest = t.destination;
      const message = dest && dest.message;
      setHtml(el, html`<h1>Task <span class="mono">${t.taskId}</span> ${badge(t.status)}
          ${t.stoppable ? html`<button id="stop" class="danger" data-qualifier="${t.qualifier}">Stop</button>` : ""}</h1>
        <div class="panel"><dl class="kv">
          <dt>Function</dt><dd>${t.functionName} <span class="muted">(${t.qualifier})</span></dd>
          <dt>Request ID</dt><dd class="mono">${t.requestId}</dd>
          <dt>Submitted</dt><dd><time>${fmtTime(t.startedTime)}</time> UTC</dd>
          <dt>Ended</dt><dd>${t.endTime ? html`<time>${fmtTime(t.endTime)}</time> UTC` : html`<span class="muted">not yet</span>`}</dd>
          <dt>Attempts</dt><dd>${(t.attempts || []).length} <span class="muted">(retried ${t.alreadyRetriedTimes})</span></dd>
          <dt>Duration</dt><dd>${fmtDuration(t.durationMs)}</dd>
          <dt>Destination</dt><dd>${t.destinationStatus ? badge(t.destinationStatus) : html`<span class="muted">—</span>`}</dd>
        </dl></div>
        <h2>Timeline</h2><div class="panel" id="timeline"><div class="tablewrap">${timeline(t)}</div>
          <div class="tablewrap"><table class="rt" id="events"><thead><tr><th>#</th><th>Status</th><th>Time (UTC)</th><th>Detail</th></tr></thead><tbody>
          ${(t.events || []).map((e) => html`<tr data-status="${e.status}"><td data-label="#">${e.eventId}</td><td data-label="Status">${badge(e.status)}</td><td data-label="Time"><time>${fmtTime(e.timestamp)}</time></td><td data-label="Detail" class="mono">${e.eventDetail || ""}</td></tr>`)}
          </tbody></table></div></div>
        <h2>Attempts</h2>
        ${(t.attempts || []).length ? html`<div class="tablewrap"><table class="rt" id="attempts"><thead><tr><th>#</th><th>Instance</th><th>Outcome</th><th>Started (UTC)</th><th>Duration</th><th>Peak memory</th></tr></thead><tbody>
          ${t.attempts.map((a) => html`<tr><td data-label="#">${a.attempt}</td><td data-label="Instance" class="mono">${a.instanceId || "—"}</td>
            <td data-label="Outcome">${a.outcome ? badge(a.outcome === "ok" ? "Succeeded" : "Failed") : badge("Running")} ${a.errorType ? html`<span class="mono">${a.errorType}</span>` : ""}${a.scripted ? html` <span class="muted">(scripted: ${a.scripted})</span>` : ""}</td>
            <td data-label="Started"><time>${fmtTime(a.startedTime)}</time></td><td data-label="Duration">${a.outcome ? fmtDuration(a.durationMs) : "running"}</td>
            <td data-label="Peak memory">${a.maxMemoryMB ? `${a.maxMemoryMB} MB` : html`<span class="muted">${a.outcome ? "not measured" : "running"}</span>`}</td></tr>`)}
          </tbody></table></div>
          ${t.attempts.map((a) => html`<h3>Logs of attempt ${a.attempt}</h3><pre>${a.logs || "(nothing logged)"}</pre>`)}`
        : html`<p class="muted">No attempt yet.</p>`}
        <div class="grid">
          <div><h2>Payload</h2><pre id="payload">${pretty(t.taskPayload)}</pre></div>
          <div><h2>${t.status === "Succeeded" ? "Return value" : "Error"}</h2>
            <pre id="result">${t.status === "Succeeded" ? pretty(t.returnPayload) : (t.errorBody ? pretty(t.errorBody) : t.taskErrorMessage || "—")}</pre></div>
        </div>
        <h2>Result message</h2><div class="panel" id="destination">
        ${dest ? html`<dl class="kv"><dt>Destination</dt><dd class="mono">${dest.arn}</dd>
            <dt>Kind</dt><dd>${dest.kind} ${dest.kind === "queue" ? html`<a href="#/queue/${seg(dest.name)}">open queue ${dest.name}</a>` : dest.name}</dd>
            <dt>Delivery</dt><dd>${t.destinationStatus ? badge(t.destinationStatus) : "—"}</dd></dl>
            ${message ? html`<div class="msg"><header><span>message <span class="mono">${message.messageId}</span></span><span>enqueued <time>${fmtTime(message.enqueueTime)}</time></span><span>dequeued ${message.dequeueCount}×</span></header><pre>${pretty(message.body)}</pre></div>`
            : html`<p class="muted">${dest.kind === "queue" ? "The message is no longer in the queue (consumed or purged), or was not delivered." : "Delivered to a " + dest.kind + "; open it to see what arrived."}</p>`}`
          : html`<p class="muted">${TERMINAL.includes(t.status) ? "No destination is configured for this outcome." : "The result message is sent when the task ends."}</p>`}</div>`);
    },
  };
}

// -- Functions ------------------------------------------------------------------------------
function functionsView() {
  return {
    shell: () => html`<h1>Functions</h1><p class="muted" id="fn-asof"></p><div id="functions"><p class="muted">Loading…</p></div>`,
    mount(main) {
      main.addEventListener("submit", async (ev) => {
        if (!ev.target.matches("form.invoke")) return;
        ev.preventDefault();
        const f = ev.target, name = f.dataset.fn, out = $(".invoke-result", f.parentElement);
        const headers = { "x-fc-invocation-type": f.kind.value };
        if (f.kind.value === "Async") {
          if (f.taskId.value.trim()) headers["x-fc-async-task-id"] = f.taskId.value.trim();
          if (f.delay.value) headers["x-fc-async-delay"] = f.delay.value;
        }
        await guarded(async () => {
          const resp = await request("POST", `${FC}/functions/${seg(name)}/invocations`,
            { body: f.payload.value, headers, params: { qualifier: f.qualifier.value.trim() } });
          const task = resp.headers.get("x-fc-async-task-id");
          setHtml(out, f.kind.value === "Async"
            ? html`Accepted (202): task ${task ? taskLink(name, task) : resp.headers.get("x-fc-request-id")}`
            : html`${resp.headers.get("x-fc-error-type") ? html`<span class="error">${resp.headers.get("x-fc-error-type")}</span>` : "OK (200)"}<pre>${pretty(resp.text)}</pre>`);
        });
      });
    },
    async refresh() {
      const el = $("#functions");
      if (!el) return;
      const [fns, instances] = await Promise.all([get(FC + "/functions", { limit: 100 }), get(CTL + "/instances")]);
      const list = fns.functions || [];
      if (!list.length) { setHtml(el, html`<p class="muted">No function is deployed. Create one with the SDK, <code>fcemu serve --config s.yaml</code> or <code>emu.register_function()</code>.</p>`); return; }
      const infos = await Promise.all(list.map((f) => functionInfo(f, instances)));
      let grid = $(".grid", el);
      if (!grid) { setHtml(el, html`<div class="grid"></div>`); grid = $(".grid", el); }
      // each card's facts are redrawn; its invoke form and last result stay as they are
      const names = new Set(list.map((f) => f.functionName));
      $$("section.fn", grid).forEach((card) => { if (!names.has(card.dataset.fn)) card.remove(); });
      list.forEach((f, i) => {
        const name = f.functionName;
        let card = $$("section.fn", grid).find((c) => c.dataset.fn === name);
        if (!card) {
          grid.insertAdjacentHTML("beforeend", part(invokeCard(name)));
          card = grid.lastElementChild;
        }
        setHtml($(".fn-info", card), infos[i]);
      });
      $("#fn-asof").textContent = `As of ${fmtTime(clock.now)} UTC (emulator time).`;
    },
  };
}

function invokeCard(name) {
  return html`<section class="panel fn" data-fn="${name}"><h2>${name}</h2><div class="fn-info"></div>
    <h3>Invoke</h3>
    <form class="invoke" data-fn="${name}">
      <div class="row"><label>Type <select name="kind"><option>Async</option><option>Sync</option></select></label>
        <label>Qualifier <input name="qualifier" size="8" placeholder="LATEST"></label>
        <label>Task ID <input name="taskId" size="14" placeholder="generated"></label>
        <label>Delay (s) <input name="delay" type="number" min="0" max="3600" size="5"></label></div>
      <label class="wide">Payload <textarea name="payload" spellcheck="false">{}</textarea></label>
      <button class="primary" type="submit">Invoke ${name}</button>
    </form><div class="invoke-result"></div></section>`;
}

async function functionInfo(f, instances) {
  const name = f.functionName;
  const [configs, concurrency, triggers] = await Promise.all([
    get(FC + "/async-invoke-configs", { functionName: name, limit: 100 }).catch(() => ({ configs: [] })),
    get(`${FC}/functions/${seg(name)}/concurrency`).catch(() => null),
    get(`${FC}/functions/${seg(name)}/triggers`).catch((e) => ({ unavailable: e })),
  ]);
  const mine = (instances.instances || []).filter((i) => i.functionName === name);
  const busy = mine.filter((i) => i.active > 0).length;
  return html`<dl class="kv"><dt>Runtime</dt><dd>${f.runtime} · ${f.handler}</dd>
      <dt>Memory / timeout</dt><dd>${f.memorySize} MB · ${f.timeout} s</dd>
      <dt>Instance concurrency</dt><dd>${f.instanceConcurrency ?? 1}</dd>
      <dt>Reserved concurrency</dt><dd>${concurrency ? concurrency.reservedConcurrency : html`<span class="muted">not set</span>`}</dd>
      <dt>Instances</dt><dd>${mine.length} alive · ${busy} busy · pool peak ${instances.peak} of ${instances.maxInstances}</dd>
      <dt>Triggers</dt><dd>${triggers.unavailable ? html`<span class="muted">not available</span>` : (triggers.triggers || []).length ? triggers.triggers.map((t) => html`<span class="mono">${t.triggerName}</span> (${t.triggerType}) `) : html`<span class="muted">none</span>`}</dd></dl>
    <h3>Async invocation config</h3>
    ${(configs.configs || []).length ? html`<div class="tablewrap"><table class="rt"><thead><tr><th>Qualifier</th><th>Task mode</th><th>Retries</th><th>Max event age</th><th>On success</th><th>On failure</th></tr></thead><tbody>
      ${configs.configs.map((c) => html`<tr><td data-label="Qualifier">${c.qualifier || "LATEST"}</td><td data-label="Task mode">${c.asyncTask ? "on" : "off"}</td>
        <td data-label="Retries">${c.maxAsyncRetryAttempts}</td><td data-label="Max event age">${c.maxAsyncEventAgeInSeconds} s</td>
        <td data-label="On success" class="mono">${c.destinationConfig?.onSuccess?.destination || "—"}</td><td data-label="On failure" class="mono">${c.destinationConfig?.onFailure?.destination || "—"}</td></tr>`)}
      </tbody></table></div>` : html`<p class="muted">None: async invocations use the defaults (3 retries, 24 h max age, task mode off).</p>`}`;
}

// -- Queues and topics ----------------------------------------------------------------------
function queuesView() {
  return {
    shell: () => html`<h1>Queues &amp; topics</h1><div id="smq"><p class="muted">Loading…</p></div>`,
    mount(main) {
      main.addEventListener("submit", async (ev) => {
        if (!ev.target.matches("form.publish")) return;
        ev.preventDefault();
        const f = ev.target;
        await guarded(async () => {
          await post(`${CTL}/topics/${seg(f.dataset.topic)}/messages`, { body: f.body.value, tag: f.tag.value || undefined });
          notify("Published", "info");
          scheduleRefresh(0);
        });
      });
    },
    async refresh() {
      const el = $("#smq");
      if (!el || el.contains(document.activeElement) && document.activeElement.matches("input, textarea")) return;
      const doc = await get(CTL + "/smq");
      setHtml(el, html`<h2>Queues</h2>
        ${doc.queues.length ? html`<div class="tablewrap"><table class="rt" id="queues"><thead><tr><th>Queue</th><th>Active (visible)</th><th>In flight</th><th>Delayed</th><th>Total</th></tr></thead><tbody>
          ${doc.queues.map((q) => html`<tr data-queue="${q.name}"><td data-label="Queue"><a href="#/queue/${seg(q.name)}">${q.name}</a></td><td data-label="Active">${q.active}</td><td data-label="In flight">${q.inactive}</td><td data-label="Delayed">${q.delayed}</td><td data-label="Total">${q.total}</td></tr>`)}
          </tbody></table></div>` : html`<p class="muted">No queue yet. Destinations create theirs on first delivery.</p>`}
        <h2>Topics</h2>
        ${doc.topics.length ? doc.topics.map((t) => html`<section class="panel"><h3>${t.name}</h3>
            <p>${t.messages} message(s) published within retention · subscriptions: ${t.subscriptions.length ? t.subscriptions.map((s) => html`${s.name} → ${s.queue ? html`<a href="#/queue/${seg(s.queue)}">${s.queue}</a>` : html`<span class="mono">${s.endpoint}</span>`} `) : "none"}</p>
            <form class="publish row" data-topic="${t.name}"><label>Body <input name="body" size="30"></label><label>Tag <input name="tag" size="8"></label><button type="submit">Publish</button></form></section>`)
          : html`<p class="muted">No topic.</p>`}`);
    },
  };
}

function queueView(name) {
  return {
    shell: () => html`<p><a href="#/queues">← Queues &amp; topics</a></p><h1>Queue <span class="mono">${name}</span></h1>
      <div class="panel row"><button id="peek">Peek</button><button id="purge" class="danger">Purge</button></div>
      <form id="send" class="panel"><h2>Send a message</h2><label class="wide">Body <textarea name="body" spellcheck="false"></textarea></label>
        <div class="row"><label>Delay (s) <input name="delay" type="number" min="0" max="604800" size="6"></label><button class="primary" type="submit">Send</button></div></form>
      <h2>Messages <span id="counts" class="muted"></span></h2><div id="messages"><p class="muted">Loading…</p></div>`,
    mount() {
      $("#peek").addEventListener("click", () => guarded(this.refresh));
      $("#purge").addEventListener("click", () => guarded(async () => {
        if (!confirm(`Delete every message of ${name}?`)) return;
        await request("DELETE", `${CTL}/queues/${seg(name)}/messages`);
        notify("Purged", "info");
        await this.refresh();
      }));
      $("#send").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const f = ev.target;
        guarded(async () => {
          await post(`${CTL}/queues/${seg(name)}/messages`, { body: f.body.value, delaySeconds: f.delay.value ? Number(f.delay.value) : undefined });
          f.body.value = "";
          notify("Sent", "info");
          await this.refresh();
        });
      });
    },
    async refresh() {
      const el = $("#messages");
      if (!el) return;
      const [doc, smq] = await Promise.all([get(`${CTL}/queues/${seg(name)}/messages`), get(CTL + "/smq")]);
      const q = smq.queues.find((x) => x.name === name);
      $("#counts").textContent = q ? `${q.active} active · ${q.inactive} in flight · ${q.delayed} delayed` : "(the queue does not exist yet)";
      const messages = doc.messages || [];
      setHtml(el, messages.length ? messages.map((m) => html`<article class="msg" data-message="${m.messageId}"><header>
          <span class="mono">${m.messageId}</span><span>enqueued <time>${fmtTime(m.enqueueTime)}</time></span>
          <span>dequeue count ${m.dequeueCount}</span><span>visible from <time>${fmtTime(m.nextVisibleTime)}</time></span><span>priority ${m.priority}</span></header>
          <pre>${pretty(m.body)}</pre></article>`) : html`<p class="muted">No message.</p>`);
    },
  };
}

// -- Clock and faults -----------------------------------------------------------------------
function clockView() {
  return {
    shell: () => html`<h1>Clock &amp; faults</h1>
      <section class="panel"><h2>Emulator clock</h2><p id="clock-now"></p>
        <form id="advance" class="row"><label>Advance by (seconds) <input name="seconds" type="number" step="any" value="1" size="8"></label><button class="primary" type="submit">Advance</button></form>
        <form id="set" class="row"><label>Set to (UTC) <input name="at" type="datetime-local" step="1"></label><button type="submit">Set</button></form>
        <div class="row gap-top"><button data-clock="settle">Settle</button><button data-clock="drain">Drain</button></div>
        <p class="muted">Advance and set fire every timer that falls due, in order, then settle. Settle waits until nothing can run at the current time; drain runs every task to its end (manual clock).</p></section>
      <section class="panel"><h2>Scripted outcomes</h2><div id="scripts"></div></section>
      <section class="panel"><h2>Destination faults</h2><div id="dest-faults"></div></section>`,
    mount() {
      $("#advance").addEventListener("submit", (ev) => { ev.preventDefault(); clockAction("advance", Number(ev.target.seconds.value)); });
      $("#set").addEventListener("submit", (ev) => { ev.preventDefault(); clockAction("set", utcInput(ev.target.at.value)); });
    },
    async refresh() {
      if (!$("#scripts")) return;
      const faults = await get(CTL + "/faults");
      setHtml($("#clock-now"), html`<strong><time>${fmtTime(clock.now)}</time> UTC</strong> · ${clock.mode} clock${clock.mode === "real" ? " (advance, set and drain need a manual clock)" : ""}`);
      const scripts = Object.entries(faults.scripts || {});
      setHtml($("#scripts"), scripts.length ? html`<div class="tablewrap"><table class="rt"><thead><tr><th>Function</th><th>Steps left (next first)</th></tr></thead><tbody>
        ${scripts.map(([fn, steps]) => html`<tr><td data-label="Function">${fn}</td><td data-label="Steps" class="mono" title="${JSON.stringify(steps)}">${steps.map((st) => `${st.outcome}${st.remaining > 1 ? " ×" + st.remaining : st.remaining === null || st.remaining === undefined ? " (always)" : ""}`).join(" → ")}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted">None in force: handlers run as written.</p>`);
      const dests = faults.destinations || [];
      setHtml($("#dest-faults"), dests.length ? html`<div class="tablewrap"><table class="rt"><thead><tr><th>Kind</th><th>Name</th><th>Deliveries left to fail</th></tr></thead><tbody>
        ${dests.map((d) => html`<tr><td data-label="Kind">${d.kind}</td><td data-label="Name">${d.name}</td><td data-label="Left">${d.remaining}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted">None in force: deliveries succeed.</p>`);
    },
  };
}

// -- Metrics --------------------------------------------------------------------------------
function chart(id, title, slots, seriesDefs, { stacked = false, fmt = String } = {}) {
  const show = (v) => (typeof v === "number" ? fmt(v) : v);
  const W = 420, H = 170, L = 40, R = 6, T = 10, B = 20;
  const n = slots.length;
  const bw = (W - L - R) / n;
  const value = (p, d) => (p ? d.get(p) : null);
  let max = 0;
  for (const p of slots) {
    const vals = seriesDefs.map((d) => value(p, d) || 0);
    max = Math.max(max, stacked ? vals.reduce((a, b) => a + b, 0) : Math.max(0, ...vals));
  }
  max = max || 1;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const shapes = [];
  if (stacked) {
    slots.forEach((p, i) => {
      let acc = 0;
      for (const d of seriesDefs) {
        const v = value(p, d) || 0;
        if (!v) continue;
        shapes.push(html`<rect x="${L + i * bw + 1}" y="${y(acc + v)}" width="${Math.max(1, bw - 2)}" height="${y(acc) - y(acc + v)}" fill="${d.color}"><title>${fmtShort(p.time)} ${d.label}: ${show(v)}</title></rect>`);
        acc += v;
      }
    });
  } else {
    for (const d of seriesDefs) {
      const pts = slots.map((p, i) => [L + i * bw + bw / 2, value(p, d)]).filter(([, v]) => v !== null && v !== undefined);
      if (pts.length > 1) shapes.push(html`<polyline fill="none" stroke="${d.color}" stroke-width="2" points="${pts.map(([px, v]) => `${px.toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"/>`);
      for (const [px, v] of pts) shapes.push(html`<circle cx="${px}" cy="${y(v)}" r="2.5" fill="${d.color}"><title>${d.label}: ${show(v)}</title></circle>`);
    }
  }
  const first = slots[0], last = slots[n - 1];
  const legend = seriesDefs.map((d) => html`<li data-series="${d.label}"><svg class="sw" viewBox="0 0 12 12" aria-hidden="true"><rect width="12" height="12" rx="2" fill="${d.color}"/></svg>${d.label}: <strong>${show(d.summary(slots))}</strong></li>`);
  return html`<section class="panel" id="${id}"><h2>${title}</h2>
    <svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}">
      <line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#b9c1cb"/>
      <text x="${L - 4}" y="${T + 8}" text-anchor="end">${show(max)}</text><text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>
      <text x="${L}" y="${H - 6}">${fmtShort(first.time)}</text><text x="${W - R}" y="${H - 6}" text-anchor="end">${fmtShort(last.time)} UTC</text>
      ${shapes}</svg><ul class="legend">${legend}</ul></section>`;
}
const total = (key) => (slots) => slots.reduce((a, p) => a + (p ? key(p) || 0 : 0), 0);
const peak = (key) => (slots) => slots.reduce((a, p) => Math.max(a, p ? key(p) || 0 : 0), 0);
const lastOf = (key) => (slots) => { const v = slots.filter(Boolean).map(key).filter((x) => x !== null); return v.length ? v[v.length - 1] : "—"; };

function metricsView() {
  return {
    shell: () => html`<h1>Metrics</h1><p class="muted">FC's async metrics on emulator time, last hour, one point a minute. The same numbers: <a href="${CTL}/metrics">/_fcemu/metrics</a> (Prometheus) and <code>emu.metrics()</code>.</p><div id="metrics"><p class="muted">Loading…</p></div>`,
    async refresh() {
      const el = $("#metrics");
      if (!el) return;
      const m = await get(CTL + "/metrics", { format: "json" });
      const byTime = new Map(m.series.map((p) => [p.time, p]));
      const endSlot = m.now - (m.now % m.bucketMs);
      const slots = [];
      for (let t = endSlot - m.windowMs + m.bucketMs; t <= endSlot; t += m.bucketMs) slots.push(byTime.get(t) || { time: t, empty: true });
      const S = (status) => ({ label: status, color: COLORS[status], get: (p) => (p.empty ? 0 : p.byStatus[status]), summary: total((p) => (p.empty ? 0 : p.byStatus[status])) });
      const num = (label, color, key, summary) => ({ label, color, get: (p) => (p.empty ? null : key(p)), summary: summary((p) => (p.empty ? null : key(p))) });
      const fns = m.functions;
      setHtml(el, html`<div class="charts">
        ${chart("chart-status", "Async invocations by status", slots, TERMINAL.map(S), { stacked: true })}
        ${chart("chart-latency", "Async latency (p50 / p99)", slots, [
          num("enqueue→start p50", "#1a5fb4", (p) => p.startP50, lastOf), num("enqueue→start p99", "#7fa6d9", (p) => p.startP99, lastOf),
          num("enqueue→end p50", "#1e7a3c", (p) => p.endP50, lastOf), num("enqueue→end p99", "#8cc79f", (p) => p.endP99, lastOf)], { fmt: fmtDuration })}
        ${chart("chart-enqueued", "Async events triggered", slots, [{ label: "enqueued", color: "#1f4e8c", get: (p) => (p.empty ? 0 : p.enqueued), summary: total((p) => (p.empty ? 0 : p.enqueued)) }], { stacked: true })}
        ${chart("chart-backlog", "Async queue size (backlog)", slots, [num("waiting (peak)", "#b07a00", (p) => p.backlog, peak)])}
        ${chart("chart-throttles", "Throttles", slots, [{ label: "throttled", color: "#b3261e", get: (p) => (p.empty ? 0 : p.throttles), summary: total((p) => (p.empty ? 0 : p.throttles)) }], { stacked: true })}
        ${chart("chart-instances", "Instances", slots, [num("alive (peak)", "#6b3fa0", (p) => p.instances, peak)])}
        </div>
        <h2>Per function</h2>
        <div class="tablewrap"><table class="rt" id="metrics-table"><thead><tr><th>Function</th><th>Qualifier</th><th>Enqueued</th><th>Dequeued</th>${TERMINAL.map((s) => html`<th>${s}</th>`)}<th>Backlog</th><th>In process</th><th>Throttles</th><th>Start p50 / p99</th><th>End p50 / p99</th></tr></thead><tbody>
        ${fns.length ? fns.map((f) => html`<tr><td data-label="Function">${f.functionName}</td><td data-label="Qualifier">${f.qualifier}</td><td data-label="Enqueued">${f.enqueued}</td><td data-label="Dequeued">${f.dequeued}</td>
          ${TERMINAL.map((s) => html`<td data-label="${s}">${f.byStatus[s]}</td>`)}<td data-label="Backlog">${f.backlog}</td><td data-label="In process">${f.inProcess}</td><td data-label="Throttles">${f.throttles}</td>
          <td data-label="Start p50 / p99">${fmtDuration(f.latencyMs.start.p50)} / ${fmtDuration(f.latencyMs.start.p99)}</td><td data-label="End p50 / p99">${fmtDuration(f.latencyMs.end.p50)} / ${fmtDuration(f.latencyMs.end.p99)}</td></tr>`)
          : html`<tr><td colspan="13" class="muted">No async invocation yet.</td></tr>`}</tbody></table></div>
        <p class="muted">Instances alive now: ${m.instances.live ?? 0} (peak ${m.instances.peak ?? 0}).</p>`);
    },
  };
}

// -- start ----------------------------------------------------------------------------------
async function start() {
  try {
    if (!(await detectVerifyMode())) return;
    await refreshClock();
  } catch (e) { notify(describe(e)); return; }
  route();
  if (!start.listening) { start.listening = true; listen(); }
  if (!start.polling) {
    start.polling = true;
    setInterval(() => { if (document.visibilityState === "visible") guarded(refreshClock); }, 5000);
  }
}
start();
