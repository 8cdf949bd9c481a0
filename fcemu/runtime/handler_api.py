"""The Python handler's side of FC: its ``context``, its result, its errors and logs.

Shared by the two runtimes that run Python handlers, so that a handler
behaves the same in both: the worker process (``_worker_main.py``, which
loads this file by path, without importing fcemu) and the in-process
runtime (:mod:`fcemu.runtime.inprocess`); the worker's result frame and the
environment its requests' contexts read are here too. Standard library only; the one
other module it imports is :mod:`fcemu.runtime.protocol` (relatively, so
that the worker's private package finds it too).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from binascii import b2a_base64
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from types import SimpleNamespace, TracebackType
from typing import Any

from .protocol import FRAME_HEADER, error_body

_FCEMU_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))
# Frames of the machinery between fcemu and the handler (thread pools, the
# event loop, import_module) that a traceback passes through before user code.
_PLUMBING = tuple(
    os.path.join(_STDLIB_DIR, name) for name in ("importlib", "concurrent", "asyncio", "threading")
)
# spec §12.1: python3.12 and later have the new context shape (no credentials, a logger)
_NEW_CONTEXT = re.compile(r"^python3\.(1[2-9]|[2-9]\d)")
#: Whether a runtime's contexts have the new shape, by runtime (a handful of names).
_NEW_SHAPE: dict[str, bool] = {}
#: The log format of FC's Python runtime: time, request ID, level, message.
LOG_FORMAT = "%(asctime)s %(request_id)s [%(levelname)s] %(message)s"

#: How ``os.environ`` encodes names and values in its dictionary (bytes to bytes).
_ENV_ENCODING = sys.getfilesystemencoding()
#: The credential variables: the key in ``credentials``, the name, the name as encoded.
_CREDENTIAL_KEYS = tuple((key, name, name.encode(_ENV_ENCODING, "surrogateescape")) for key, name
                         in (("access_key_id", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
                             ("access_key_secret", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
                             ("security_token", "ALIBABA_CLOUD_SECURITY_TOKEN")))
_REGION_KEY, _ACCOUNT_KEY = (name.encode(_ENV_ENCODING, "surrogateescape")
                             for name in ("FC_REGION", "FC_ACCOUNT_ID"))
#: The type of ``os.environ`` (a handler may replace it with another mapping).
_Environ = type(os.environ)
#: The request the current thread (or task) works for; None outside every request.
current_request: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fcemu_request_id", default=None)
#: Guards the first build of a :class:`StopFlag`'s condition (two threads may ask at once).
_COND_LOCK = threading.Lock()


class StopFlag(threading.Event):
    """``context.stop_requested``: a ``threading.Event`` whose condition (with the default
    reentrant lock: ``Event()`` builds it on a plain ``Lock``, which lacks three methods
    ``Condition`` looks up, each raised and caught: 4.7 against 0.3 µs) is made when first
    used, by :meth:`set`, :meth:`wait` or :meth:`clear`; :meth:`is_set` reads the flag."""

    def __init__(self) -> None:
        self._flag = False

    def __getattr__(self, name: str) -> Any:
        if name != "_cond":
            raise AttributeError(name)
        with _COND_LOCK:  # only reached while the condition is missing
            cond = self.__dict__.get("_cond")
            if cond is None:
                cond = self.__dict__["_cond"] = threading.Condition()
        return cond


def make_context(request_id: str, function: dict[str, Any], region: str, account_id: str,
                 credentials: dict[str, str], stop_requested: threading.Event,
                 logger: logging.Logger | None = None) -> SimpleNamespace:
    """The ``context`` argument of ``handler(event, context)`` (spec §12.1).

    ``function`` holds ``name``, ``handler``, ``memory``, ``timeout`` and
    ``runtime``, and optionally ``qualifier``, ``version_id``, ``log_project``
    and ``log_store``. python3.12 and later get FC's new shape: ``function``
    with ``version_id`` and ``qualifier``, ``logger`` and ``getLogger()``,
    ``log_project``/``log_store``, no ``credentials``. Earlier versions get
    ``credentials``, a ``service`` (``name``, ``log_project``, ``log_store``,
    ``qualifier``, ``version_id``), a four-field ``function`` and ``getLogger()``
    (``logger``, or the root logger without one).
    ``stop_requested`` is fcemu's own: set when the execution is stopped or
    timed out, for handlers that want to end cleanly.
    """
    base = {"name": function["name"], "handler": function["handler"],
            "memory": function["memory"], "timeout": function["timeout"]}
    runtime = str(function.get("runtime", ""))
    new = _NEW_SHAPE.get(runtime)
    if new is None:
        new = _NEW_SHAPE[runtime] = _NEW_CONTEXT.match(runtime) is not None
    return _context(base, new, function.get("log_project", ""), function.get("log_store", ""),
                    request_id, function.get("qualifier"), function.get("version_id"), region,
                    account_id, credentials, stop_requested, logger)


class ContextMaker:
    """:func:`make_context` for the requests of one function: what they share (the
    ``function`` fields, the context's shape) is worked out once, by the constructor; each
    :meth:`make` builds a new context of new objects, as :func:`make_context` does."""

    __slots__ = ("_base", "_log_project", "_log_store", "_new")

    def __init__(self, function: dict[str, Any]) -> None:
        self._base = {"name": function["name"], "handler": function["handler"],
                      "memory": function["memory"], "timeout": function["timeout"]}
        self._new = _NEW_CONTEXT.match(str(function.get("runtime", ""))) is not None
        self._log_project = function.get("log_project", "")
        self._log_store = function.get("log_store", "")

    def make(self, request_id: str, qualifier: object, version_id: object, region: str,
             account_id: str, credentials: dict[str, str],
             stop_requested: threading.Event) -> SimpleNamespace:
        """One request's context (``qualifier`` "LATEST" and ``version_id`` "" when empty)."""
        return _context(self._base, self._new, self._log_project, self._log_store, request_id,
                        qualifier, version_id, region, account_id, credentials,
                        stop_requested, None)


def _context(base: dict[str, Any], new: bool, log_project: str, log_store: str,
             request_id: str, qualifier: object, version_id: object, region: str,
             account_id: str, credentials: dict[str, str], stop_requested: threading.Event,
             logger: logging.Logger | None) -> SimpleNamespace:
    qualifier = str(qualifier or "LATEST")
    version_id = str(version_id or "")
    if new:
        log = logger if logger is not None else logging.getLogger()
        meta = SimpleNamespace(**base, version_id=version_id, qualifier=qualifier)
        context = SimpleNamespace(account_id=account_id, request_id=request_id, function=meta,
                                  logger=log, log_project=log_project, log_store=log_store,
                                  region=region, stop_requested=stop_requested)
        context.getLogger = lambda: log
        return context
    # FC 3.0 has no services; the struct stays for code written for FC 2.0 (name "")
    service = SimpleNamespace(name="", log_project=log_project, log_store=log_store,
                              qualifier=qualifier, version_id=version_id)
    # getLogger(): FC's logging page shows context.getLogger().info(...) on these too
    return SimpleNamespace(request_id=request_id, credentials=SimpleNamespace(**credentials),
                           function=SimpleNamespace(**base), service=service, region=region,
                           account_id=account_id, stop_requested=stop_requested,
                           getLogger=_root_logger if logger is None else lambda: logger)


def _root_logger() -> logging.Logger:
    """``context.getLogger()`` of a worker's python3.9/3.10 contexts: the root logger."""
    return logging.getLogger()


def encode_result(value: object) -> bytes:
    """A handler's return value as the response body; TypeError for other types."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if value is None:
        return b""
    if isinstance(value, (dict, list, int, float)):  # bool is an int
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    raise TypeError(
        f"handler returned a {type(value).__name__}; return bytes, str, None, "
        "or a JSON-serializable dict, list, number or bool"
    )


def result_frame(request_id: str, kind: str, body: bytes, error_type: str, maxrss_kb: int,
                 children: bool) -> bytes:
    """The ``result`` frame (``protocol.RESULT_*``), ``body`` in Base64: the bytes
    :func:`~.protocol.encode_frame` makes of that array, without its encoder's passes."""
    data = b"".join((
        b'["result",', encode_basestring_ascii(request_id).encode(), b",",
        encode_basestring_ascii(kind).encode(), b',"', b2a_base64(body, newline=False), b'",',
        encode_basestring_ascii(error_type).encode(),
        b",%d,%s]" % (maxrss_kb, b"true" if children else b"false")))
    return FRAME_HEADER.pack(len(data)) + data


def request_environment(credentials: dict[str, str]) -> tuple[str, str]:
    """A worker request's ``(region, account_id)``: ``FC_REGION`` and ``FC_ACCOUNT_ID`` as
    the environment holds them, once the credential variables are set to ``credentials``
    where it holds other values (usually the last request's: no ``putenv`` then). A handler
    run in-process shares the server's environment instead. ``os.environ``'s own
    dictionary (bytes to bytes) is read as its getters read it, without their calls,
    unless the handler replaced ``os.environ``."""
    env = os.environ
    data = getattr(env, "_data", None) if type(env) is _Environ else None
    if not isinstance(data, dict):
        for key, name, _ in _CREDENTIAL_KEYS:
            if env.get(name) != credentials[key]:
                env[name] = credentials[key]
        return env["FC_REGION"], env["FC_ACCOUNT_ID"]
    for key, name, raw_name in _CREDENTIAL_KEYS:
        value, raw = credentials[key], data.get(raw_name)
        if raw is None or raw.decode(_ENV_ENCODING, "surrogateescape") != value:
            env[name] = value
    region, account_id = data.get(_REGION_KEY), data.get(_ACCOUNT_KEY)
    if region is None or account_id is None:  # os.environ raises its KeyError
        return env["FC_REGION"], env["FC_ACCOUNT_ID"]
    return (region.decode(_ENV_ENCODING, "surrogateescape"),
            account_id.decode(_ENV_ENCODING, "surrogateescape"))


def user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    """The frames of a traceback that belong to the handler's code, not to fcemu."""
    frames: list[traceback.FrameSummary] = []
    for frame in traceback.extract_tb(tb):
        path = frame.filename
        if path.startswith((_FCEMU_DIR + os.sep, "<frozen importlib")):
            continue
        if not frames and path.startswith(_PLUMBING):
            continue
        frames.append(frame)
    return frames


def fc_stack(tb: TracebackType | None) -> list[list[str]]:
    """The FC ``stackTrace``: user frames as ``[File "p", line n, in f, source]`` (spec §6.2)."""
    return [[f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""]
            for f in user_frames(tb)]


def format_exception(exc: BaseException) -> str:
    """A traceback of the user frames only, as Python prints it, for the function's log."""
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(user_frames(exc.__traceback__))
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def exception_message(exc: BaseException) -> str:
    """``str(exc)``; ``<unprintable X object>`` (as Python's traceback module long printed it)
    when the exception's ``__str__`` raises."""
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__} object>"


def exception_body(exc: BaseException) -> bytes:
    """The error JSON for an exception raised by a handler."""
    return error_body(exception_message(exc), type(exc).__name__, fc_stack(exc.__traceback__))


def encode_failure(exc: Exception) -> tuple[str, bytes]:
    """What :func:`encode_result` raising ``exc`` gives: the line for the function's log
    and the error JSON. Any exception: a type it refuses (TypeError), ``json.dumps``
    refusing a value (ValueError, RecursionError for a deeply nested one), or the value's
    own code failing as it is encoded."""
    message = exception_message(exc)
    return f"{type(exc).__name__}: {message}", error_body(message, type(exc).__name__, [])


class LogFormatter(logging.Formatter):
    """:data:`LOG_FORMAT`, its time as FC's logging page shows it (and fcemu's Node.js
    lines): UTC, ISO 8601 with milliseconds and ``Z`` (``2017-07-05T05:13:35.920Z``),
    whatever the machine's time zone."""

    converter = staticmethod(time.gmtime)
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)


class RequestIdFilter(logging.Filter):
    """Adds the current request ID to log records, as FC's Python runtime does."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request.get() or ""
        return True


def maxrss_kb() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` first: ``ru_maxrss`` survives ``exec`` on Linux, so in a fresh
    worker it can report the emulator's size instead of the worker's.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


class PeakMemory:
    """This process's peak resident size in KiB: one ``getrusage`` instead of reading
    ``/proc/self/status`` (``VmHWM``) after every request, where that gives the same figure.
    ``ru_maxrss`` survives ``exec`` (it may be the peak of the process the worker was started
    from): it is trusted once it is above its first figure, or if that was not above ``VmHWM``.
    """

    def __init__(self) -> None:
        #: ``getrusage`` and ``RUSAGE_SELF``, on Linux only (macOS counts bytes; elsewhere:
        #: /proc or nothing), looked up once.
        self._getrusage: Callable[[int], Any] | None = None
        self._who = 0
        if sys.platform == "linux":
            import resource

            self._getrusage, self._who = resource.getrusage, resource.RUSAGE_SELF
        self._start = None if self._getrusage is None else int(self._getrusage(self._who).ru_maxrss)
        exact = self._start is not None and self._start <= maxrss_kb()
        self._trusted_above = -1 if exact else self._start

    def kb(self) -> int:
        trusted_above = self._trusted_above
        if trusted_above is not None and self._getrusage is not None:
            peak = int(self._getrusage(self._who).ru_maxrss)
            if peak > trusted_above:
                self._trusted_above = -1
                return peak
        return maxrss_kb()
