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
  once started, then answers each ``{"type": "init"|"invoke"|"prestop", "request_id",
  "qualifier", "credentials"[, "payload", "markers"]}`` with a result, an array:
  ``["result", request_id, "ok"|"error", body, error_type, maxrss_kb, children]``
  (``children``: whether the process has child processes now; the positions are
  ``protocol.RESULT_*``).
* Private settings arrive as ``FCEMU_*`` environment variables, removed from
  ``os.environ`` before user code runs: ``FCEMU_INSTANCE_CONCURRENCY`` and
  ``FCEMU_INITIALIZER`` (``module.function`` of
  ``instanceLifecycleConfig.initializer``, run once per instance on ``init``) and
  ``FCEMU_PRE_STOP`` (``instanceLifecycleConfig.preStop``'s, run on ``prestop``, the
  instance's last request).

Logs come in two shapes, chosen by the instance concurrency:

* **One request at a time** (``instanceConcurrency`` 1, FC's default for
  Python): the handler runs on the main thread and everything it writes goes
  to fd 2, before the request's reply. The parent writes ``FC Invoke Start
  RequestId: <id>`` into its copy of that output as it sends the request, and
  ``FC Invoke End RequestId: <id>`` as it reads the reply, each after what
  the pipe holds by then (:mod:`fcemu.runtime.worker_logs`); this process
  writes them itself for an invoke frame with ``"markers": true`` (sent while it
  still runs an earlier request), and ``FC Initialize …`` / ``FC PreStop …`` around
  the hooks (spec §12.2). The
  parent cuts a request's log out of the stream at those lines, so even
  fd-level output is attributed.
* **Several at once**: each request runs on its own thread, and
  ``sys.stdout``/``sys.stderr`` are proxies that send what a request's thread
  writes as ``{"type": "log", "request_id", "data"}`` frames (line-buffered,
  markers included; :mod:`fcemu.runtime.thread_logs`), so concurrent requests
  keep separate logs. Writes from threads that no request owns, and fd-level
  output, go to fd 2: the instance's own log, attributed to no request.

What a handler is given and how its results and errors are reported
(:mod:`fcemu.runtime.handler_api`) is shared with the in-process runtime, so
both runtimes give handlers the same context and report alike; the frames,
error types and settings above are named once, in
:mod:`fcemu.runtime.protocol`, for this process and the server. This file
is run by path and must not import fcemu (its ``__init__`` starts the
server's imports), so it loads those two standard-library-only modules (and
``thread_logs``, when requests run on threads) as a package of its own,
:data:`_SHARED`, whose path is this directory: their relative imports of each
other work, nothing else of fcemu is imported, and no name of theirs can
shadow a module of the handler's (:func:`_shared`).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import traceback
from binascii import a2b_base64
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

#: The private package the shared modules are loaded into (its path: this directory).
_SHARED = "_fcemu_runtime_shared"
#: The phase (marker word) of a request frame's type other than ``invoke``.
_PHASES: dict[str | None, str] = {"init": "Initialize", "prestop": "PreStop"}


def _shared(name: str) -> ModuleType:
    """Import ``<this directory>/<name>.py`` as ``_fcemu_runtime_shared.<name>``, without
    running ``fcemu/__init__.py`` or ``fcemu/runtime/__init__.py``."""
    package = sys.modules.get(_SHARED)
    if package is None:
        package = ModuleType(_SHARED)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[_SHARED] = package
    return importlib.import_module(f"{_SHARED}.{name}")


if TYPE_CHECKING:
    from fcemu.runtime import handler_api, protocol, thread_logs
else:
    protocol = _shared("protocol")
    handler_api = _shared("handler_api")

current_request = handler_api.current_request
error_body = protocol.error_body
_DECODER = json.JSONDecoder()
#: A frame's JSON from its text (``json.loads`` of bytes first guesses their encoding).
_decode = _DECODER.decode
#: The decoder's scanner: ``(document, end)`` from a text and a start (:func:`_decode` checks
#: the text for whitespace, with two regular expressions, around that call).
_scan: Callable[[str, int], tuple[Any, int]] = vars(_DECODER)["scan_once"]


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
        raise HandlerLoadError(error_body(
            f"Invalid handler '{spec}': expected <module>.<function>, e.g. index.handler",
            "HandlerNotFound", []))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(error_body(
            f"Unable to import module '{module_name}': {handler_api.exception_message(exc)}",
            "ImportModuleError",
            handler_api.fc_stack(exc.__traceback__))) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise HandlerLoadError(error_body(
            f"Handler '{attr}' is missing on module '{module_name}'", "HandlerNotFound", []))
    return handler  # type: ignore[no-any-return]


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
        header = self._reader.read(protocol.FRAME_HEADER.size)
        if len(header) < protocol.FRAME_HEADER.size:
            return None
        (size,) = protocol.FRAME_HEADER.unpack(header)
        data = self._reader.read(size)
        if len(data) != size:
            return None
        text = data.decode()
        try:
            doc, end = _scan(text, 0)
        except StopIteration:  # not a JSON document where it starts (whitespace, say)
            end = -1
        # what _decode would give; it says what else a frame holds, or what is wrong there
        return doc if end == len(text) else _decode(text)  # type: ignore[no-any-return]

    def write(self, doc: dict[str, Any] | list[Any]) -> None:
        self.send(protocol.encode_frame(doc))

    def send(self, frame: bytes) -> None:
        """Write one encoded frame whole (usually one ``write``)."""
        with self._lock:
            written = os.write(self._out_fd, frame)
            if written < len(frame):
                view = memoryview(frame)[written:]
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
        self.init_spec = env.pop(protocol.ENV_INITIALIZER, "")
        self.pre_stop_spec = env.pop(protocol.ENV_PRE_STOP, "")
        self.threaded = int(env.pop(protocol.ENV_INSTANCE_CONCURRENCY, "1") or 1) > 1
        self.function = {"name": env["FC_FUNCTION_NAME"], "handler": self.spec,
                         "memory": int(env["FC_FUNCTION_MEMORY_SIZE"]),
                         "timeout": int(env["FC_TIMEOUT"]), "runtime": env["FC_RUNTIME"],
                         "log_project": env.pop(protocol.ENV_LOG_PROJECT, ""),
                         "log_store": env.pop(protocol.ENV_LOG_STORE, "")}
        self.handler: Callable[..., Any] | None = None
        self.contexts = handler_api.ContextMaker(self.function)
        self.peak_memory = handler_api.PeakMemory()
        self.load_lock = threading.Lock()
        self.logs: thread_logs.RequestLogs | None = None
        if self.threaded:  # loaded only here: an instance of concurrency 1 never needs it
            self.logs = _shared("thread_logs").install(channel.write)
        handler = _StderrHandler()
        handler.setFormatter(handler_api.LogFormatter())
        handler.addFilter(handler_api.RequestIdFilter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])

    def serve(self) -> None:
        self.channel.write({"type": "hello", "maxrss_kb": self.peak_memory.kb()})
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
            frame_type = request.get("type")
            phase = "Invoke" if frame_type == "invoke" else _PHASES.get(frame_type, "Invoke")
            # one request at a time, the server writes an Invoke's markers, unless it says
            markers = self.threaded or phase != "Invoke" or bool(request.get("markers"))
            if markers:
                self.log_line(f"FC {phase} Start RequestId: {request_id}")
            if phase == "Invoke":
                kind, body, error_type = self.run(request)
            elif phase == "Initialize":
                kind, body, error_type = self.hook(request, self.init_spec,
                                                   protocol.INITIALIZATION_ERROR)
            else:
                kind, body, error_type = self.hook(request, self.pre_stop_spec,
                                                   protocol.UNHANDLED)
            if markers:
                self.log_line(f"FC {phase} End RequestId: {request_id}")
            else:
                _flush()  # all it printed reaches the pipe before the reply
            if self.logs is not None:
                self.logs.flush(request_id)
        finally:
            current_request.reset(token)
        self.channel.send(handler_api.result_frame(request_id, kind, body, error_type,
                                                   self.peak_memory.kb(), has_children()))

    def log_line(self, text: str) -> None:
        request_id = current_request.get()
        if self.logs is not None and request_id is not None:
            self.logs.write_line(request_id, f"{text}\n")
        else:
            _log_line(text)

    def context(self, request: dict[str, Any]) -> SimpleNamespace:
        credentials: dict[str, str] = request["credentials"]
        region, account_id = handler_api.request_environment(credentials)
        return self.contexts.make(request["request_id"], request.get("qualifier", "LATEST"),
                                  request.get("version_id", ""), region, account_id,
                                  credentials, handler_api.StopFlag())

    def hook(self, request: dict[str, Any], spec: str, error_type: str
             ) -> tuple[str, bytes, str]:
        """Run a lifecycle hook, ``spec(context)``: the initializer, once, or the PreStop
        hook; a failure is an ``error_type`` error, logged."""
        try:
            hook = load_handler(spec)
            hook(self.context(request))
        except HandlerLoadError as exc:
            self.log_line(json.loads(exc.body)["errorMessage"])
            return "error", exc.body, error_type
        except Exception as exc:
            self.log_line(handler_api.format_exception(exc).rstrip("\n"))
            return "error", handler_api.exception_body(exc), error_type
        except BaseException as exc:  # sys.exit() and friends end the instance, as on FC
            _exit_now(exc)
        return "ok", b"", ""

    def run(self, request: dict[str, Any]) -> tuple[str, bytes, str]:
        """``("ok", body, "")`` or ``("error", error JSON, type)``; the error is logged too."""
        try:
            value = self.call(request)
        except HandlerLoadError as exc:
            self.log_line(json.loads(exc.body)["errorMessage"])
            return "error", exc.body, protocol.UNHANDLED
        except Exception as exc:
            self.log_line(handler_api.format_exception(exc).rstrip("\n"))
            return "error", handler_api.exception_body(exc), protocol.UNHANDLED
        except BaseException as exc:  # sys.exit() and friends end the instance, as on FC
            _exit_now(exc)
        try:
            return "ok", handler_api.encode_result(value), ""
        except Exception as exc:  # unsupported type, json.dumps refusing it, the value's code
            line, body = handler_api.encode_failure(exc)
            self.log_line(line)
            return "error", body, protocol.UNHANDLED

    def call(self, request: dict[str, Any]) -> object:
        context = self.context(request)
        handler = self.handler
        if handler is None:
            with self.load_lock:
                if self.handler is None:
                    self.handler = load_handler(self.spec)
                handler = self.handler
        # binascii: base64.b64decode without its wrapper (the payload is ASCII Base64)
        return handler(a2b_base64(request["payload"]), context)


def _flush() -> None:
    out, err, first_out, first_err = sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__
    for stream in (out, err, None if first_out is out else first_out,
                   None if first_err is err else first_err):
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
