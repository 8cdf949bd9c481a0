// The Metrics page (#/metrics): SVG charts of FC's async metrics over the last hour of
// emulator time, and the per-function table.

import { CTL, get } from "./api.js";
import { $, fmtDuration, fmtShort, html, setHtml } from "./dom.js";
import { COLORS, TERMINAL } from "./status.js";

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

export function metricsView() {
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
