// The notice line at the top of the page: errors (and short confirmations) shown to the
// user, and guarded(), which runs an action and shows what went wrong instead of throwing.

import { ApiError } from "./api.js";
import { $ } from "./dom.js";

export function notify(message, kind = "error") {
  const el = $("#notice");
  el.textContent = message;
  el.className = kind === "info" ? "info" : "";
  el.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { el.hidden = true; }, kind === "info" ? 3000 : 9000);
}
export const describe = (e) => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e && e.message || e));
export async function guarded(fn) {
  try { return await fn(); } catch (e) { notify(describe(e)); return undefined; }
}
