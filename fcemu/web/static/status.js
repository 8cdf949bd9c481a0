// The task statuses the console knows, their colours, and the pieces that show a task:
// its status badge and a link to its page.

import { html, seg } from "./dom.js";

export const STATUSES = ["Enqueued", "Processed", "Running", "Retrying", "Stopping", "Succeeded",
  "Failed", "Stopped", "Expired", "Invalid"];
export const TERMINAL = ["Succeeded", "Failed", "Stopped", "Expired", "Invalid"];
export const COLORS = { Succeeded: "#1e7a3c", Failed: "#b3261e", Stopped: "#6b3fa0", Expired: "#c0692b",
  Invalid: "#6b737c", Running: "#1a5fb4", Processed: "#1a5fb4", Enqueued: "#8a939d",
  Retrying: "#b07a00", Stopping: "#6b3fa0" };

export const badge = (status) => html`<span class="badge st-${status}" data-status="${status}">${status}</span>`;
export const taskLink = (fn, id) => html`<a href="#/task/${seg(fn)}/${seg(id)}">${id}</a>`;
