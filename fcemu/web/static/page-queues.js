// The Queues & topics page (#/queues: counts, publish to a topic) and a queue's page
// (#/queue/<name>: its messages, send, purge).

import { CTL, get, post, request } from "./api.js";
import { $, fmtTime, html, pretty, seg, setHtml } from "./dom.js";
import { scheduleRefresh } from "./live.js";
import { guarded, notify } from "./notice.js";

// -- Queues and topics ----------------------------------------------------------------------
export function queuesView() {
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

export function queueView(name) {
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
