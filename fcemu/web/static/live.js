// Keeping the page current: the clock bar (emulator time, its buttons), the live event
// stream, and the refresh of the page shown when either says something changed.

import { CTL, get, post, request } from "./api.js";
import { $, fmtTime, html, setHtml, sleep } from "./dom.js";
import { guarded } from "./notice.js";

// -- the clock bar --------------------------------------------------------------------------
export const clock = { now: null, mode: "" };
export async function refreshClock() {
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
export async function clockAction(kind, seconds) {
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
function setLive(on) {
  const el = $("#live");
  el.className = "live " + (on ? "on" : "off");
  el.textContent = on ? "live" : "offline";
}
export async function listen() {
  let connected = false;
  for (;;) {
    try {
      const resp = await request("GET", CTL + "/events", { stream: true, headers: { accept: "text/event-stream" } });
      setLive(true);
      if (connected) scheduleRefresh(0); // again: what changed while it was down is not replayed
      connected = true;
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
          if (data) onEvent();
        }
      }
    } catch (e) { /* reconnect below */ }
    setLive(false);
    await sleep(1500);
  }
}
function onEvent() {
  scheduleRefresh(150); // whatever the event, the page shown may have changed
}

// -- the page shown, redrawn after a change -------------------------------------------------
let view = null;
let refreshTimer = null;
export function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await guarded(refreshClock);
    if (view && view.refresh) await guarded(view.refresh);
  }, delay);
}
export function setView(made) { view = made; }
