"""A threaded worker's output, per request: ``sys.stdout``/``sys.stderr`` become log frames.

The worker process (``_worker_main.py``) runs each request on its own thread when
its instance concurrency is above 1. :func:`install` then replaces ``sys.stdout``
and ``sys.stderr`` with :class:`RequestStream` proxies: what a request's thread
writes goes to :class:`RequestLogs`, which sends it line by line as
``{"type": "log", "request_id", "data"}`` frames, so concurrent requests keep
separate logs. Writes from threads that no request owns go to the stream the
proxy wraps (fd 2: the instance's own log).

Like :mod:`fcemu.runtime.handler_api`, which it takes the current request from,
this module imports only the standard library and nothing of fcemu: the worker,
run by path, loads it into its private package (``_worker_main._shared``), and only
when it runs requests on threads.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from .handler_api import current_request


class RequestLogs:
    """Per-request output of a threaded worker, sent as ``log`` frames line by line
    (``write``: what sends one frame's document)."""

    def __init__(self, write: Callable[[dict[str, Any]], None]) -> None:
        self._write = write
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, request_id: str, text: str) -> None:
        with self._lock:
            text = self._pending.pop(request_id, "") + text
            cut = text.rfind("\n") + 1
            if cut < len(text):
                self._pending[request_id] = text[cut:]
        if cut:
            self._write({"type": "log", "request_id": request_id, "data": text[:cut]})

    def write_line(self, request_id: str, line: str) -> None:
        """``line`` (ending in a newline) on a line of its own: after the request's pending
        output and a newline, if it wrote some without one at its end."""
        with self._lock:
            text = self._pending.pop(request_id, "")
        self._write({"type": "log", "request_id": request_id,
                     "data": f"{text}\n{line}" if text else line})

    def flush(self, request_id: str) -> None:
        with self._lock:
            text = self._pending.pop(request_id, "")
        if text:
            self._write({"type": "log", "request_id": request_id, "data": text})


class RequestStream:
    """``sys.stdout``/``sys.stderr`` of a threaded worker: a request's writes become its log."""

    def __init__(self, logs: RequestLogs, fallback: Any) -> None:
        self._logs = logs
        self._fallback = fallback

    def write(self, text: str) -> int:
        request_id = current_request.get()
        if request_id is None:  # a thread no request owns: the instance's log
            return int(self._fallback.write(text))
        self._logs.write(request_id, str(text))
        return len(text)

    def flush(self) -> None:
        if current_request.get() is None:
            self._fallback.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


def install(write: Callable[[dict[str, Any]], None]) -> RequestLogs:
    """Put :class:`RequestStream` proxies in place of ``sys.stdout`` and ``sys.stderr``;
    the :class:`RequestLogs` they write to, sending its frames with ``write``."""
    logs = RequestLogs(write)
    sys.stdout = RequestStream(logs, sys.stdout)
    sys.stderr = RequestStream(logs, sys.stderr)
    return logs
