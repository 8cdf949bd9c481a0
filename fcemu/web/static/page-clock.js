// The Clock & faults page (#/clock): advance or set the emulator clock, and the scripted
// outcomes and destination faults in force.

import { CTL, get } from "./api.js";
import { $, fmtTime, html, setHtml, utcInput } from "./dom.js";
import { clock, clockAction } from "./live.js";

// -- Clock and faults -----------------------------------------------------------------------
export function clockView() {
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
