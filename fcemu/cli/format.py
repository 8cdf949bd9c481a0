"""What the ``fcemu`` CLI prints: JSON or text on stdout, notes on stderr, and the views.

:class:`Output` sends a command's result as JSON (``--json``) or as text;
:func:`progress` shows a ticker on a terminal while a long call runs. The
views (tables, task timelines, queue messages) are pure functions from the
emulator's JSON documents to text, so they can be tested without a server.
Times are shown in UTC ISO 8601 with milliseconds, as the emulator clock
counts them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import IO, Any

__all__ = ["Output", "accepted", "clock_line", "destination", "from_mns", "functions_table",
           "iso", "messages_view", "parse_body", "parse_duration", "progress", "purged",
           "table", "task_view", "tasks_table"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ARN = re.compile(r"^acs:(?P<svc>[a-z]+):[^:]*:[^:]*:/?(?P<kind>queues|topics|functions|eventbus)"
                  r"/(?P<name>[^/]+)")


# -- where a command prints ------------------------------------------------------------------------

class Output:
    """Where a command prints: human text or JSON on stdout, notes on stderr."""

    def __init__(self, as_json: bool, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def emit(self, doc: Any, text: str | Callable[[], str]) -> None:
        """JSON ``doc`` with ``--json``, else the human ``text``."""
        if self.as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False), file=self.out)
        else:
            print(text() if callable(text) else text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)


@contextmanager
def progress(out: Output, what: str, after: float = 1.0) -> Iterator[None]:
    """While a long call runs, show ``what… 3s`` on a terminal's stderr (nothing otherwise)."""
    if not out.err.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(0.5 if time.monotonic() - started > after else after):
            out.err.write(f"\r{what}... {time.monotonic() - started:.0f}s")
            out.err.flush()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if time.monotonic() - started > after:
            out.err.write("\r\033[K")
            out.err.flush()


# -- views -----------------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, two spaces apart; ``(none)`` when there are no rows."""
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines)


def iso(ms: Any) -> str:
    """Epoch milliseconds as ``2024-05-01T00:00:00.000Z``; ``-`` when absent."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def destination(arn: str | None) -> str:
    """A destination ARN, short: ``queue:done``, ``function:next``, ``topic:t``."""
    if not arn:
        return "-"
    m = _ARN.match(arn)
    if not m:
        return arn
    kind = {"queues": "queue", "topics": "topic", "functions": "function",
            "eventbus": "eventbus"}[m["kind"]]
    return f"{kind}:{m['name']}"


def functions_table(functions: list[dict[str, Any]]) -> str:
    rows = []
    for f in functions:
        config = f.get("asyncConfig") or {}
        targets = config.get("destinationConfig") or {}
        rows.append([
            f.get("functionName", ""), f.get("runtime", ""), f.get("handler", ""),
            f"{f.get('timeout', '')}s", f"{f.get('memorySize', '')}MB",
            ("on" if config.get("asyncTask") else "off") if config else "-",
            str(config.get("maxAsyncRetryAttempts", "-")),
            destination((targets.get("onSuccess") or {}).get("destination")),
            destination((targets.get("onFailure") or {}).get("destination")),
        ])
    headers = ["FUNCTION", "RUNTIME", "HANDLER", "TIMEOUT", "MEMORY", "TASKS", "RETRIES",
               "ON SUCCESS", "ON FAILURE"]
    if any(f.get("versions") or f.get("aliases") for f in functions):
        headers += ["VERSIONS", "ALIASES"]
        for row, f in zip(rows, functions, strict=True):
            row += [",".join(v.get("versionId", "") for v in f.get("versions") or ()) or "-",
                    " ".join(map(alias, f.get("aliases") or ())) or "-"]
    return table(headers, rows)


def alias(doc: dict[str, Any]) -> str:
    """``prod=2`` or, with a canary, ``prod=2+3:10%``."""
    text = f"{doc.get('aliasName', '')}={doc.get('versionId', '')}"
    for version, weight in (doc.get("additionalVersionWeight") or {}).items():
        text += f"+{version}:{float(weight) * 100:g}%"
    return text


def _duration(task: dict[str, Any]) -> str:
    ms = task.get("durationMs")
    return f"{ms}ms" if isinstance(ms, int) else "-"


def tasks_table(tasks: list[dict[str, Any]], function: str | None) -> str:
    """One function's tasks; or, with ``function`` None, every function's (a FUNCTION column)."""
    rows = [[t.get("taskId", ""), t.get("status", ""), iso(t.get("startedTime")),
             iso(t.get("endTime")), _duration(t), str(t.get("alreadyRetriedTimes", 0)),
             t.get("destinationStatus") or "-", _short(t.get("taskErrorMessage") or "")]
            for t in tasks]
    headers = ["TASK", "STATUS", "STARTED", "ENDED", "DURATION", "RETRIES", "DESTINATION",
               "ERROR"]
    if function is None:
        headers = ["FUNCTION", *headers]
        rows = [[t.get("functionName", ""), *row] for t, row in zip(tasks, rows, strict=True)]
    body = table(headers, rows)
    return body if rows else f"no async tasks for {function or 'any function'}"


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def task_view(task: dict[str, Any], function: str) -> str:
    """A task record followed by its event timeline."""
    fields = [
        ("task", task.get("taskId")), ("function", f"{function} ({task.get('functionArn')})"),
        ("qualifier", task.get("qualifier")), ("status", task.get("status")),
        ("request", task.get("requestId")), ("started", iso(task.get("startedTime"))),
        ("ended", iso(task.get("endTime"))), ("duration", _duration(task)),
        ("retries", task.get("alreadyRetriedTimes")), ("instance", task.get("instanceId")),
        ("destination", task.get("destinationStatus")), ("error", task.get("taskErrorMessage")),
        ("payload", task.get("taskPayload")), ("result", task.get("returnPayload")),
    ]
    width = max(len(k) for k, _ in fields)
    lines = [f"{k.ljust(width)}  {v}" for k, v in fields if v not in (None, "", "-")]
    events = task.get("events") or []
    first = events[0].get("timestamp", 0) if events else 0
    rows = [[str(e.get("eventId", "")), e.get("status", ""), iso(e.get("timestamp")),
             f"+{e.get('timestamp', 0) - first}ms", e.get("eventDetail") or ""] for e in events]
    lines += ["", "events:", table(["#", "STATUS", "TIME", "SINCE START", "DETAIL"], rows)]
    return "\n".join(lines)


def accepted(doc: dict[str, Any]) -> str:
    text = f"accepted: task {doc['taskId']} (request {doc['requestId']})"
    task = doc.get("task")
    if task:
        text += f"\ntask {doc['taskId']} ended {task.get('status')}"
        if task.get("taskErrorMessage"):
            text += f": {task['taskErrorMessage']}"
    return text


def parse_body(body: str) -> Any:
    """A message body as JSON (raw, or Base64 of JSON); None when it is neither."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        return json.loads(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error):
        return None


def from_mns(message: dict[str, str]) -> dict[str, Any]:
    """A received MNS ``<Message>`` in the control API's shape."""
    def number(key: str) -> int | None:
        value = message.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else None

    return {"messageId": message.get("MessageId", ""), "body": message.get("MessageBody", ""),
            "enqueueTime": number("EnqueueTime"), "dequeueCount": number("DequeueCount"),
            "nextVisibleTime": number("NextVisibleTime"), "priority": number("Priority")}


def messages_view(queue: str, messages: list[dict[str, Any]], verb: str) -> str:
    """Each message's header line and its body (pretty JSON when it is JSON)."""
    if not messages:
        return f"queue {queue}: no messages"
    noun = "message" if len(messages) == 1 else "messages"
    lines = [f"queue {queue}: {len(messages)} {noun} {verb}"]
    for m in messages:
        lines.append(f"--- {m.get('messageId')}  enqueued {iso(m.get('enqueueTime'))}  "
                     f"dequeued {m.get('dequeueCount', 0)}x")
        parsed = m.get("bodyJson")
        lines.append(json.dumps(parsed, indent=2, ensure_ascii=False) if parsed is not None
                     else str(m.get("body", "")))
    return "\n".join(lines)


def purged(doc: dict[str, Any]) -> str:
    text = f"queue {doc['queue']}: purged {doc['purged']} message(s)"
    if doc["remaining"]:
        text += (f"; {doc['remaining']} not visible yet (delayed or being processed) were "
                 "left")
    return text


def clock_line(doc: dict[str, Any]) -> str:
    return f"{doc.get('mode', '?')} clock: {iso(doc.get('now'))} ({doc.get('now')})"


def parse_duration(text: str) -> float:
    """``90``, ``1.5``, ``90s``, ``5m``, ``2h``, ``1d`` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise ValueError(f"invalid duration {text!r}: use seconds (90, 1.5) or 90s, 5m, 2h, 1d")
    return float(m[1]) * _UNITS[m[2]]
