"""What in-process handlers print and log, captured per request.

An in-process handler shares the emulator's process, so its output cannot be
read from a pipe. Instead, while a request runs, a context variable names its
:class:`Capture`; ``sys.stdout`` and ``sys.stderr`` are wrapped in proxies that
send a write to the capture of the current context (and everything else to
the stream they wrap), and a handler on the root logger copies log records
emitted in that context, formatted as FC's Python runtime does. Sync handlers
run in a copied context on the thread pool, ``async def`` handlers in their
own task, so concurrent requests never mix their logs; threads a handler
starts itself are not followed (their output goes where it always goes).

The proxies are (re)installed before every in-process request, because
pytest's output capture replaces ``sys.stdout`` between tests.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from typing import Any

from fcemu.runtime.handler_api import LogFormatter
from fcemu.runtime.logs import LOG_KEEP, LOG_LIMIT

_current: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "fcemu_capture", default=None)
# StreamHandler.emit writing to a proxied stream: the capture handler already has the record
_STREAM_EMIT = logging.StreamHandler.emit.__code__
#: ``context.getLogger()`` of in-process handlers (``context.logger`` on python3.12 too);
#: INFO and up reach the log.
FUNCTION_LOGGER = "fcemu.function"


class Capture:
    """The output of one request, newest ``LOG_KEEP`` characters kept past ``LOG_LIMIT``."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._parts: list[str] = []
        self._size = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            if self._size > LOG_LIMIT:
                kept = "".join(self._parts)[-LOG_KEEP:]
                dropped = self._size - len(kept)
                self._parts = [f"[fcemu: {dropped} characters of log dropped]\n", kept]
                self._size = len(kept)

    def text(self) -> str:
        with self._lock:  # what a handler wrote may hold lone surrogates: not UTF-8
            return "".join(self._parts).encode("utf-8", "replace").decode()

    def activate(self) -> None:
        """Make this the capture of the current context (a copied one, or a task's)."""
        _current.set(self)


class _Proxy:
    """``sys.stdout``/``sys.stderr`` while in-process handlers run."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        capture = _current.get()
        if capture is None:
            return int(self._inner.write(text))
        if sys._getframe(1).f_code is not _STREAM_EMIT:
            capture.write(str(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _current.get() is None:
            self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CaptureHandler(logging.Handler):
    """Copies records emitted while a request runs into its capture."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(LogFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        capture = _current.get()
        if capture is None:
            return
        record.request_id = capture.request_id
        try:
            capture.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


_HANDLER = _CaptureHandler()


def install() -> None:
    """Put the proxies on ``sys.stdout``/``sys.stderr`` and the handler on the root logger."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Proxy):
            setattr(sys, name, _Proxy(stream))
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)


def function_logger() -> logging.Logger:
    """The logger ``context.getLogger()`` returns to in-process handlers."""
    logger = logging.getLogger(FUNCTION_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger
