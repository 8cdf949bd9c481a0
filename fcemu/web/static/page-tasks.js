// The Tasks page (#/tasks: filters, pages of tasks) and a task's page (#/task/<fn>/<id>:
// its timeline, attempts, payload, result and result message, Stop).

import { CTL, FC, get, request } from "./api.js";
import { $, fmtDuration, fmtTime, html, pretty, seg, setHtml, utcInput } from "./dom.js";
import { clock, scheduleRefresh } from "./live.js";
import { guarded, notify } from "./notice.js";
import { COLORS, STATUSES, TERMINAL, badge, taskLink } from "./status.js";

const PAGE_SIZE = 20;
const attemptsOf = (task) => (task.events || []).filter((e) => e.status === "Running").length;
async function functionNames() {
  const doc = await get(FC + "/functions", { limit: 100 });
  return (doc.functions || []).map((f) => f.functionName);
}

// -- Tasks ----------------------------------------------------------------------------------
export function tasksView() {
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

export function taskView(fn, id) {
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
            ${message && dest.kind === "eventbus" ? html`<div class="msg"><header><span>event on bus <span class="mono">${message.eventBus}</span></span><span>sent <time>${fmtTime(message.timestamp)}</time></span></header><pre>${pretty(JSON.stringify(message.data))}</pre></div>`
            : message ? html`<div class="msg"><header><span>message <span class="mono">${message.messageId}</span></span><span>enqueued <time>${fmtTime(message.enqueueTime)}</time></span><span>dequeued ${message.dequeueCount}×</span></header><pre>${pretty(message.body)}</pre></div>`
            : html`<p class="muted">${dest.kind === "queue" ? "The message is no longer in the queue (consumed or purged), or was not delivered." : "Delivered to a " + dest.kind + "; open it to see what arrived."}</p>`}`
          : html`<p class="muted">${TERMINAL.includes(t.status) ? "No destination is configured for this outcome." : "The result message is sent when the task ends."}</p>`}</div>`);
    },
  };
}
