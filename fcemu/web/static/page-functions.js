// The Functions page (#/functions): a card for each function with its settings, instances,
// triggers and async invocation configs, and a form to invoke it.

import { CTL, FC, get, request } from "./api.js";
import { $, $$, fmtTime, html, part, pretty, seg, setHtml } from "./dom.js";
import { clock } from "./live.js";
import { guarded } from "./notice.js";
import { taskLink } from "./status.js";

// -- Functions ------------------------------------------------------------------------------
export function functionsView() {
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
