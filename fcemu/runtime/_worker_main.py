"""The worker process: runs one function's Python handler, one request at a time.

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
  writes (``print``, ``logging``, C-level writes to fd 1 or 2) reaches the
  stderr pipe, which the parent reads as the function's log.
* A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
  Bytes travel as Base64. The child sends ``{"type": "hello", "maxrss_kb"}``
  once started, then answers each ``{"request_id", "payload", "credentials"}``
  with ``{"type": "result", "kind": "ok"|"error", "body", "error_type",
  "maxrss_kb"}``.
* Around each request the child writes ``FC Invoke Start RequestId: <id>`` and
  ``FC Invoke End RequestId: <id>`` lines to fd 2 (spec §12.2); the parent
  cuts a request's log out of the stream at those lines.

The helpers :func:`make_context`, :func:`encode_result` and :func:`fc_stack`
are shared with the in-process runtime, so both runtimes give handlers the
same context and report results and errors alike.
"""

from __future__ import annotations

import base64
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
_NO_CREDENTIALS = re.compile(r"^python3\.(1[2-9]|[2-9]\d)")
UNHANDLED = "UnhandledInvocationError"


# -- shared with the in-process runtime ---------------------------------------


def make_context(request_id: str, function: dict[str, Any], region: str, account_id: str,
                 credentials: dict[str, str], stop_requested: threading.Event) -> SimpleNamespace:
    """The ``context`` argument of ``handler(event, context)`` (spec §12.1).

    ``function`` holds ``name``, ``handler``, ``memory``, ``timeout`` and
    ``runtime``. ``credentials`` is left out for python3.12 and later, as on FC.
    ``stop_requested`` is fcemu's own: set when the execution is stopped or
    timed out, for handlers that want to end cleanly.
    """
    meta = SimpleNamespace(name=function["name"], handler=function["handler"],
                           memory=function["memory"], timeout=function["timeout"])
    context = SimpleNamespace(request_id=request_id, function=meta, region=region,
                              account_id=account_id, stop_requested=stop_requested)
    if not _NO_CREDENTIALS.match(str(function.get("runtime", ""))):
        context.credentials = SimpleNamespace(**credentials)
    return context


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


class _Channel:
    """Length-prefixed JSON frames over the two protocol descriptors."""

    def __init__(self, reader: BinaryIO, out_fd: int) -> None:
        self._reader = reader
        self._out_fd = out_fd

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


class _RequestIdFilter(logging.Filter):
    """Adds the current request ID to log records, as FC's Python runtime does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = self.request_id
        return True


class _Worker:
    def __init__(self, channel: _Channel) -> None:
        env = os.environ
        self.channel = channel
        self.spec = env["FC_FUNCTION_HANDLER"]
        self.function = {"name": env["FC_FUNCTION_NAME"], "handler": self.spec,
                         "memory": int(env["FC_FUNCTION_MEMORY_SIZE"]),
                         "timeout": int(env["FC_TIMEOUT"]), "runtime": env["FC_RUNTIME"]}
        self.handler: Callable[..., Any] | None = None
        self.log_filter = _RequestIdFilter()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(request_id)s [%(levelname)s] %(message)s"))
        handler.addFilter(self.log_filter)
        logging.basicConfig(level=logging.INFO, handlers=[handler])

    def serve(self) -> None:
        self.channel.write({"type": "hello", "maxrss_kb": maxrss_kb()})
        while (request := self.channel.read()) is not None:
            self.channel.write(self.handle(request))

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id = request["request_id"]
        self.log_filter.request_id = request_id
        _log_line(f"FC Invoke Start RequestId: {request_id}")
        kind, body = self.run(request)
        _log_line(f"FC Invoke End RequestId: {request_id}")
        return {"type": "result", "kind": kind, "body": base64.b64encode(body).decode(),
                "error_type": UNHANDLED if kind == "error" else "", "maxrss_kb": maxrss_kb()}

    def run(self, request: dict[str, Any]) -> tuple[str, bytes]:
        """``("ok", body)`` or ``("error", error JSON)``; the error also goes to the log."""
        try:
            value = self.call(request)
        except HandlerLoadError as exc:
            _log_line(json.loads(exc.body)["errorMessage"])
            return "error", exc.body
        except Exception as exc:
            _log_line(format_exception(exc).rstrip("\n"))
            return "error", exception_body(exc)
        except BaseException as exc:  # sys.exit() and friends end the instance, as on FC
            _exit_now(exc)
        try:
            return "ok", encode_result(value)
        except (TypeError, ValueError) as exc:  # unsupported type, or json.dumps refusing it
            _log_line(f"{type(exc).__name__}: {exc}")
            return "error", error_doc(str(exc), type(exc).__name__, [])

    def call(self, request: dict[str, Any]) -> object:
        credentials: dict[str, str] = request["credentials"]
        for key, name in _CREDENTIAL_ENV.items():
            os.environ[name] = credentials[key]
        if self.handler is None:
            self.handler = load_handler(self.spec)
        env = os.environ
        context = make_context(request["request_id"], self.function, env["FC_REGION"],
                               env["FC_ACCOUNT_ID"], credentials, threading.Event())
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
