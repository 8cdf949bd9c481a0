"""The worker process: runs one function's Python handler, in one process per instance.

Started by :mod:`fcemu.runtime.worker` as ``python <this file>`` with the
function's code directory as working directory and its environment (the
function's ``environmentVariables`` plus the ``FC_*`` variables) already set.
The file only uses the standard library and is run by path, so the handler's
process never imports fcemu, as on FC where ``/code`` is all a handler sees.

Protocol, on file descriptors the handler cannot write to by accident:

* The parent's frames arrive on the original stdin; the child moves that pipe
  to a private descriptor and puts ``/dev/null`` on fd 0.
* Replies leave on the original stdout, likewise moved to a private
  descriptor; fd 1 is then pointed at fd 2, so everything the handler
  writes at the file-descriptor level (C extensions, subprocesses) reaches the
  stderr pipe, which the parent reads as the instance's output.
* A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
  Bytes travel as Base64. The child sends ``{"type": "hello", "maxrss_kb"}``
  once started, then answers each ``{"type": "init"|"invoke", "request_id",
  "qualifier", "credentials"[, "payload"]}`` with ``{"type": "result",
  "request_id", "kind": "ok"|"error", "body", "error_type", "maxrss_kb",
  "children"}`` (``children``: whether the process has child processes now).
* Private settings arrive as ``FCEMU_*`` environment variables, removed from
  ``os.environ`` before user code runs: ``FCEMU_INSTANCE_CONCURRENCY`` and
  ``FCEMU_INITIALIZER`` (``module.function`` of
  ``instanceLifecycleConfig.initializer``, run once per instance on ``init``).

Logs come in two shapes, chosen by the instance concurrency:

* **One request at a time** (``instanceConcurrency`` 1, FC's default for
  Python): the handler runs on the main thread and everything it writes goes
  to fd 2, between ``FC Invoke Start RequestId: <id>`` and ``FC Invoke End
  RequestId: <id>`` lines (``FC Initialize …`` around the initializer, spec
  §12.2). The parent cuts a request's log out of the stream at those lines,
  so even fd-level output is attributed.
* **Several at once**: each request runs on its own thread, and
  ``sys.stdout``/``sys.stderr`` are proxies that send what a request's thread
  writes as ``{"type": "log", "request_id", "data"}`` frames (line-buffered,
  markers included), so concurrent requests keep separate logs. Writes from
  threads that no request owns, and fd-level output, go to fd 2: the
  instance's own log, attributed to no request.

The helpers :func:`make_context`, :func:`encode_result` and :func:`fc_stack`
are shared with the in-process runtime, so both runtimes give handlers the
same context and report results and errors alike.
"""

from __future__ import annotations

import base64
import contextvars
import importlib
import json
import logging
import os
import re
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from types import SimpleNamespace, TracebackType
from typing import Any, BinaryIO, NoReturn

_HEADER = struct.Struct(">I")
_FCEMU_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))
# Frames of the machinery between fcemu and the handler (thread pools, the
# event loop, import_module) that a traceback passes through before user code.
_PLUMBING = tuple(
    os.path.join(_STDLIB_DIR, name) for name in ("importlib", "concurrent", "asyncio", "threading")
)
_CREDENTIAL_ENV = {
    "access_key_id": "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "access_key_secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "security_token": "ALIBABA_CLOUD_SECURITY_TOKEN",
}
# spec §12.1: python3.12 and later have the new context shape (no credentials, a logger)
_NEW_CONTEXT = re.compile(r"^python3\.(1[2-9]|[2-9]\d)")
UNHANDLED = "UnhandledInvocationError"
#: x-fc-error-type of a failed or timed-out initializer (FC's Python lifecycle-hook docs).
INITIALIZATION_ERROR = "InitializationError"
#: The log format of FC's Python runtime: time, request ID, level, message.
LOG_FORMAT = "%(asctime)s %(request_id)s [%(levelname)s] %(message)s"

#: The request the current thread (or task) works for; None outside every request.
current_request: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fcemu_request_id", default=None)


# -- shared with the in-process runtime ---------------------------------------


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
    ``qualifier``, ``version_id``) and a four-field ``function``.
    ``stop_requested`` is fcemu's own: set when the execution is stopped or
    timed out, for handlers that want to end cleanly.
    """
    qualifier = str(function.get("qualifier") or "LATEST")
    version_id = str(function.get("version_id") or "")
    log_project, log_store = function.get("log_project", ""), function.get("log_store", "")
    base = {"name": function["name"], "handler": function["handler"],
            "memory": function["memory"], "timeout": function["timeout"]}
    if _NEW_CONTEXT.match(str(function.get("runtime", ""))):
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
    return SimpleNamespace(request_id=request_id, credentials=SimpleNamespace(**credentials),
                           function=SimpleNamespace(**base), service=service, region=region,
                           account_id=account_id, stop_requested=stop_requested)


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


def error_doc(message: str, error_type: str, stack: list[list[str]]) -> bytes:
    """The Python runtime's error JSON (the same shape as ``fcemu.runtime.error_body``)."""
    doc = {"errorMessage": message, "errorType": error_type, "stackTrace": stack}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def exception_body(exc: BaseException) -> bytes:
    """The error JSON for an exception raised by a handler."""
    return error_doc(str(exc), type(exc).__name__, fc_stack(exc.__traceback__))


class RequestIdFilter(logging.Filter):
    """Adds the current request ID to log records, as FC's Python runtime does."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request.get() or ""
        return True


# -- the worker process --------------------------------------------------------


class HandlerLoadError(Exception):
    """The handler module or function could not be loaded; ``body`` is the error JSON."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body.decode())
        self.body = body


def load_handler(spec: str) -> Callable[..., Any]:
    """Import ``module.function`` (the module may be dotted: ``pkg.mod.fn``)."""
    module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise HandlerLoadError(error_doc(
            f"Invalid handler '{spec}': expected <module>.<function>, e.g. index.handler",
            "HandlerNotFound", []))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(error_doc(
            f"Unable to import module '{module_name}': {exc}", "ImportModuleError",
            fc_stack(exc.__traceback__))) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise HandlerLoadError(error_doc(
            f"Handler '{attr}' is missing on module '{module_name}'", "HandlerNotFound", []))
    return handler  # type: ignore[no-any-return]


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


def has_children() -> bool:
    """Whether this process has child processes (running or exited), without reaping any:
    if not, the parent need not look for them when it checks the instance's memory."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (AttributeError, OSError):  # no waitid here: assume there may be some
        return True
    return True


class _Channel:
    """Length-prefixed JSON frames over the two protocol descriptors; writes are atomic."""

    def __init__(self, reader: BinaryIO, out_fd: int) -> None:
        self._reader = reader
        self._out_fd = out_fd
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any] | None:
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack(header)
        data = self._reader.read(size)
        return json.loads(data) if len(data) == size else None

    def write(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, separators=(",", ":")).encode()
        view = memoryview(_HEADER.pack(len(data)) + data)
        with self._lock:
            while view:
                view = view[os.write(self._out_fd, view):]


def _take_protocol_fds() -> _Channel:
    """Move the protocol pipes off fds 0 and 1 so the handler cannot disturb them."""
    in_fd, out_fd = os.dup(0), os.dup(1)  # os.dup: not inherited by the handler's children
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return _Channel(os.fdopen(in_fd, "rb"), out_fd)


class _RequestLogs:
    """Per-request output of a threaded worker, sent as ``log`` frames line by line."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, request_id: str, text: str) -> None:
        with self._lock:
            text = self._pending.pop(request_id, "") + text
            cut = text.rfind("\n") + 1
            if cut < len(text):
                self._pending[request_id] = text[cut:]
        if cut:
            self._channel.write({"type": "log", "request_id": request_id, "data": text[:cut]})

    def flush(self, request_id: str) -> None:
        with self._lock:
            text = self._pending.pop(request_id, "")
        if text:
            self._channel.write({"type": "log", "request_id": request_id, "data": text})


class _RequestStream:
    """``sys.stdout``/``sys.stderr`` of a threaded worker: a request's writes become its log."""

    def __init__(self, logs: _RequestLogs, fallback: Any) -> None:
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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _Worker:
    def __init__(self, channel: _Channel) -> None:
        env = os.environ
        self.channel = channel
        self.spec = env["FC_FUNCTION_HANDLER"]
        self.init_spec = env.pop("FCEMU_INITIALIZER", "")
        self.threaded = int(env.pop("FCEMU_INSTANCE_CONCURRENCY", "1") or 1) > 1
        self.function = {"name": env["FC_FUNCTION_NAME"], "handler": self.spec,
                         "memory": int(env["FC_FUNCTION_MEMORY_SIZE"]),
                         "timeout": int(env["FC_TIMEOUT"]), "runtime": env["FC_RUNTIME"],
                         "log_project": env.pop("FCEMU_LOG_PROJECT", ""),
                         "log_store": env.pop("FCEMU_LOG_STORE", "")}
        self.handler: Callable[..., Any] | None = None
        self.load_lock = threading.Lock()
        self.logs: _RequestLogs | None = None
        if self.threaded:
            self.logs = _RequestLogs(channel)
            sys.stdout = _RequestStream(self.logs, sys.stdout)
            sys.stderr = _RequestStream(self.logs, sys.stderr)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RequestIdFilter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])

    def serve(self) -> None:
        self.channel.write({"type": "hello", "maxrss_kb": maxrss_kb()})
        while (request := self.channel.read()) is not None:
            if self.threaded:
                threading.Thread(target=self.answer, args=(request,), daemon=True,
                                 name=f"fc-request-{request['request_id']}").start()
            else:
                self.answer(request)

    def answer(self, request: dict[str, Any]) -> None:
        request_id = request["request_id"]
        token = current_request.set(request_id)
        try:
            phase = "Initialize" if request.get("type") == "init" else "Invoke"
            self.log_line(f"FC {phase} Start RequestId: {request_id}")
            if phase == "Initialize":
                kind, body, error_type = self.initialize(request)
            else:
                kind, body, error_type = self.run(request)
            self.log_line(f"FC {phase} End RequestId: {request_id}")
            if self.logs is not None:
                self.logs.flush(request_id)
        finally:
            current_request.reset(token)
        self.channel.write({"type": "result", "request_id": request_id, "kind": kind,
                            "body": base64.b64encode(body).decode(), "error_type": error_type,
                            "maxrss_kb": maxrss_kb(), "children": has_children()})

    def log_line(self, text: str) -> None:
        request_id = current_request.get()
        if self.logs is not None and request_id is not None:
            self.logs.write(request_id, f"{text}\n")
        else:
            _log_line(text)

    def context(self, request: dict[str, Any]) -> SimpleNamespace:
        credentials: dict[str, str] = request["credentials"]
        for key, name in _CREDENTIAL_ENV.items():
            os.environ[name] = credentials[key]
        function = {**self.function, "qualifier": request.get("qualifier", "LATEST")}
        env = os.environ
        return make_context(request["request_id"], function, env["FC_REGION"],
                            env["FC_ACCOUNT_ID"], credentials, threading.Event())

    def initialize(self, request: dict[str, Any]) -> tuple[str, bytes, str]:
        """Run ``initializer(context)`` once; a failure is an ``InitializationError``."""
        try:
            initializer = load_handler(self.init_spec)
            initializer(self.context(request))
        except HandlerLoadError as exc:
            self.log_line(json.loads(exc.body)["errorMessage"])
            return "error", exc.body, INITIALIZATION_ERROR
        except Exception as exc:
            self.log_line(format_exception(exc).rstrip("\n"))
            return "error", exception_body(exc), INITIALIZATION_ERROR
        except BaseException as exc:  # sys.exit() and friends end the instance, as on FC
            _exit_now(exc)
        return "ok", b"", ""

    def run(self, request: dict[str, Any]) -> tuple[str, bytes, str]:
        """``("ok", body, "")`` or ``("error", error JSON, type)``; the error is logged too."""
        try:
            value = self.call(request)
        except HandlerLoadError as exc:
            self.log_line(json.loads(exc.body)["errorMessage"])
            return "error", exc.body, UNHANDLED
        except Exception as exc:
            self.log_line(format_exception(exc).rstrip("\n"))
            return "error", exception_body(exc), UNHANDLED
        except BaseException as exc:  # sys.exit() and friends end the instance, as on FC
            _exit_now(exc)
        try:
            return "ok", encode_result(value), ""
        except (TypeError, ValueError) as exc:  # unsupported type, or json.dumps refusing it
            self.log_line(f"{type(exc).__name__}: {exc}")
            return "error", error_doc(str(exc), type(exc).__name__, []), UNHANDLED

    def call(self, request: dict[str, Any]) -> object:
        context = self.context(request)
        with self.load_lock:
            if self.handler is None:
                self.handler = load_handler(self.spec)
        return self.handler(base64.b64decode(request["payload"]), context)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a handler may have replaced or closed them
            pass


def _log_line(text: str) -> None:
    _flush()
    os.write(2, f"{text}\n".encode())


def _exit_now(exc: BaseException) -> NoReturn:
    """Exit without waiting for threads the handler started (they would keep us alive)."""
    _flush()
    code = exc.code if isinstance(exc, SystemExit) else 1
    os._exit(code if isinstance(code, int) else 1)


def main() -> None:
    """Entry point of the worker process."""
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # this file's directory must not shadow the handler's modules
    sys.path.insert(0, os.getcwd())
    code = 0
    try:
        _Worker(_take_protocol_fds()).serve()
    except BrokenPipeError:  # the emulator has gone away
        pass
    except Exception:
        traceback.print_exc()
        code = 70
    _flush()
    os._exit(code)  # threads the handler left behind must not keep an orphan alive


if __name__ == "__main__":
    main()
