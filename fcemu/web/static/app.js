// fcemu console: plain ES2020 modules, no build step, no dependencies, each file served as
// it is from /_fcemu/ui/ (the list in fcemu/web/__init__.py). This one is the entry point:
// the hash router and start(). The rest: dom.js (templates, formatting), api.js (requests,
// signing, verify mode), notice.js (errors shown), status.js (task statuses, badges),
// live.js (clock bar, event stream, refresh) and a page-*.js for each page.

import { detectVerifyMode, whenSignedIn } from "./api.js";
import { $, $$, setHtml } from "./dom.js";
import { listen, refreshClock, setView } from "./live.js";
import { describe, guarded, notify } from "./notice.js";
import { clockView } from "./page-clock.js";
import { functionsView } from "./page-functions.js";
import { metricsView } from "./page-metrics.js";
import { queueView, queuesView } from "./page-queues.js";
import { taskView, tasksView } from "./page-tasks.js";

// -- routing --------------------------------------------------------------------------------
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
    if (m) {
      try { made = make(m); } catch (e) { if (!(e instanceof URIError)) throw e; } // a bad %-escape: as an unknown page
      break;
    }
  }
  if (!made) { location.hash = "#/tasks"; return; }
  const view = made;
  setView(view);
  const page = hash.split("/")[1];
  const active = { task: "tasks", queue: "queues" }[page] || page;
  $$("#nav a").forEach((a) => a.toggleAttribute("aria-current", false));
  const link = $(`#nav a[data-page="${active}"]`);
  if (link) link.setAttribute("aria-current", "page");
  // a fresh <main> for each page: the listeners a page's mount() put on the last one go
  // with it (kept, they acted once per earlier visit: Stop stopped the tasks seen before)
  const old = $("#main");
  const main = old.cloneNode(false);
  old.replaceWith(main);
  setHtml(main, view.shell());
  if (view.mount) view.mount(main);
  await guarded(view.refresh);
}
window.addEventListener("hashchange", route);

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
whenSignedIn(start); // the sign-in dialog (verify mode) starts again
start();
