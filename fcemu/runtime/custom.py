"""Custom runtime: the function is an HTTP server, started from ``customRuntimeConfig``.

For ``runtime: custom`` / ``custom.debian10|11|12`` fcemu runs
``customRuntimeConfig.command + args`` (default ``<code>/bootstrap``, as FC's
``/code/bootstrap``; read by :mod:`fcemu.runtime.custom_config`) in the unpacked
code directory, contained (:mod:`fcemu.runtime.contain`: whatever it starts ends
with the instance),
with FC's environment only (:mod:`fcemu.runtime.environ`: ``FC_*``, the
credential variables, the function's ``environmentVariables``, FC's default
search paths).

Ports. In ``bwrap`` containment (:mod:`fcemu.runtime.sandbox`) each instance
has a network namespace of its own: the app listens on its configured port
(``customRuntimeConfig.port``, default 9000, also ``FC_SERVER_PORT`` and
``FC_CUSTOM_LISTEN_PORT``) exactly as written, the command and args run
unchanged at ``/code``, and fcemu reaches the app through a Unix socket the
launcher relays to that port once the app accepts connections (the health
check). In the other containments each instance gets a free port of its own
instead: it is passed as ``FC_SERVER_PORT`` and ``FC_CUSTOM_LISTEN_PORT``, it
replaces the configured port wherever that number appears in ``args``, a
leading ``/code`` or ``/opt`` in the command or args is replaced by the real
directory, and a server that listens on another port (or exits while the
configured port is taken) fails the start at once with what to change.

fcemu waits (at most :data:`START_TIMEOUT_S`, FC's 120 s) for the server to
accept connections, then speaks the custom-runtime contract (spec §12.2;
:mod:`fcemu.runtime.custom_wire`):

* ``POST /initialize`` once per instance when an initializer is configured
  (2xx is success; anything else fails the requests with
  ``InitializationError``);
* ``POST /invoke`` per request, body = the event, with the ``x-fc-*`` request
  headers; HTTP 200 (and ``x-fc-status`` absent or 200) is success and the
  body is the result; 404 or ``x-fc-status: 404`` (or any other status) is a
  function error (``UnhandledInvocationError``) whose body is passed on;
* an HTTP trigger's request instead goes through as it came (FC's web functions,
  "HTTP calls": method, path and query, the client's headers plus the ``x-fc-*``
  ones, body), and the server's status, headers and body are the answer;
  ``x-fc-status`` only reports the outcome.

What the server prints (stdout and stderr) is the function's log. With one
request at a time, everything printed while a request runs is its log,
framed by the FC markers (markers the server prints itself are not
doubled). With ``instanceConcurrency`` above 1 a request's log is what the
server printed between its own ``FC Invoke Start/End RequestId: <id>`` lines
(so it includes lines of requests that overlapped it); other output is the
instance's log. fcemu only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from fcemu.clock import real_monotonic
from fcemu.runtime.contain import Containment
from fcemu.runtime.custom_config import CustomRuntimeConfig, make_executable
from fcemu.runtime.custom_wire import outcome_of, request_headers, request_of, send
from fcemu.runtime.environ import handler_environment
from fcemu.runtime.invocation import (
    Invocation,
    Outcome,
    OutcomeKind,
    crash_outcome,
    timeout_outcome,
)
from fcemu.runtime.logs import (
    end_marker,
    framed,
    loop_turns,
    start_marker,
    strip_markers,
)
from fcemu.runtime.pool import (
    Initializer,
    Instance,
    InstanceKilled,
    InstancePool,
    Key,
    init_timeout_outcome,
)
from fcemu.runtime.pooled import PooledRuntime
from fcemu.runtime.ports import listening_ports, taken_hint, wrong_port
from fcemu.runtime.protocol import INITIALIZATION_ERROR, UNHANDLED, error_body
from fcemu.runtime.sandbox import Sandbox, instance_paths

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

#: Real seconds a new server gets to accept connections (FC: "must be ready within 120 s").
START_TIMEOUT_S = 120.0
#: Real seconds to wait for a server's own End line, or for its output after a kill.
_LOG_DRAIN_S = 2.0
#: Real seconds a server whose connection broke gets to be seen dead (a crash, not an error).
_EXIT_GRACE_S = 0.5
#: Real seconds between two tries of a starting server's port.
_PORT_POLL_S = 0.02
_LOOPBACK = "127.0.0.1"


class _NotStarted(Exception):
    """The server did not come up."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        return int(sock.getsockname()[1])


class CustomInstance(Instance):
    """One custom-runtime server process of one function."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 runtime: CustomRuntime) -> None:
        super().__init__(function, key, instance_id, runtime.containment)
        self._runtime = runtime
        self.port = 0
        self._init_logs: dict[str, str] = {}
        #: The instance's sandbox (``bwrap`` containment): the app is reached through its relay.
        self.sandbox: Sandbox | None = None
        self._session: aiohttp.ClientSession | None = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "port": self.port}

    # -- start ------------------------------------------------------------------------

    async def _prepare(self, invocation: Invocation) -> Outcome | None:
        function, request_id = invocation.function, invocation.request_id
        assert function.code_dir is not None
        config = CustomRuntimeConfig.of(function)
        started = real_monotonic()
        try:
            await self._spawn(config, invocation)
            await self._wait_for_port(config)
        except (OSError, _NotStarted, InstanceKilled) as exc:
            self.healthy = False
            await self.kill()
            logs = self.log.take_all()
            if request_id in self.stopped or self.retired:  # killed on purpose while starting
                kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
                return crash_outcome(_ms_since(started), self.final_mem_mb, kind=kind,
                                     instance_id=self.instance_id, logs=framed(request_id, logs))
            message = (f"The function cannot be started. Failed to start function instance. "
                       f"Error: {exc}\nLogs: {logs[-2000:]}")
            return Outcome("error", error_body(message, "FunctionNotStarted"), UNHANDLED,
                           _ms_since(started), instance_id=self.instance_id,
                           logs=framed(request_id, logs))
        await loop_turns()
        self.log.spill()  # what the server printed while starting is the instance's own log
        initializer = Initializer.of(function)
        return None if initializer is None else await self._initialize(invocation, initializer)

    async def _spawn(self, config: CustomRuntimeConfig, invocation: Invocation) -> None:
        function = invocation.function
        assert function.code_dir is not None
        if self.retired or not self.healthy:
            raise _NotStarted("the instance was stopped before it started")
        code_dir, opt_dir = function.code_dir, function.opt_dir
        sandboxed = (await self.chosen_containment()).sandboxed
        if sandboxed:  # its own network: the configured port, everything as written
            self.port = config.port
            self.sandbox = Sandbox(code_dir, opt_dir, Path(tempfile.mkdtemp(prefix="fcemu-relay-")),
                                   config.port)
            argv = config.argv_as_written()
            make_executable(self.sandbox.host_path(argv[0]), code_dir)
        else:
            self.port = _free_port()
            argv = config.argv(code_dir, self.port, opt_dir)
            make_executable(argv[0], code_dir)
        env = instance_paths(
            handler_environment(invocation, self.instance_id, self._runtime.pass_env),
            runtime=function.runtime, variables=function.environment_variables,
            code_dir=code_dir, opt_dir=opt_dir, sandboxed=sandboxed)
        env.update({"FC_SERVER_PORT": str(self.port), "FC_CUSTOM_LISTEN_PORT": str(self.port)})
        await self.spawn(argv, cwd=code_dir, env=env, stdin=asyncio.subprocess.DEVNULL,
                         stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                         readers=lambda: [self._collect_logs()], sandbox=self.sandbox)

    async def _wait_for_port(self, config: CustomRuntimeConfig) -> None:
        deadline = real_monotonic() + START_TIMEOUT_S
        while True:
            if self.stopping:  # stop, reset, shutdown: the start ends at once
                raise _NotStarted("the instance was stopped while it started")
            if self.exited:
                assert self.proc is not None
                raise _NotStarted(f"the start command exited with code {self.proc.returncode} "
                                  f"before listening{self._port_hint(config)}")
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                _, writer = await self.unless_killed(self._connect(), 1.0)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            self._check_listening(config)
            if real_monotonic() > deadline:
                where = (f"listen on port {config.port} (0.0.0.0 or 127.0.0.1)" if self.sandbox
                         else f"listen on {_LOOPBACK}:$FC_SERVER_PORT (fcemu also puts that "
                         f"port in place of {config.port} in args)")
                raise _NotStarted(
                    f"Function instance health check failed on port {self.port} in "
                    f"{START_TIMEOUT_S:g} seconds: {where}")
            # polling a process coming up (not waiting in a test); a kill ends the wait
            await self.until_killed(_PORT_POLL_S)

    def _connect(self) -> Any:
        """A connection to the app: through the sandbox's relay, or to its port."""
        if self.sandbox is not None and self.sandbox.relay_socket is not None:
            return asyncio.open_unix_connection(str(self.sandbox.relay_socket))
        return asyncio.open_connection(_LOOPBACK, self.port)

    def _check_listening(self, config: CustomRuntimeConfig) -> None:
        """A server listening on another port than its own will never pass the health
        check: say so now (:func:`fcemu.runtime.ports.wrong_port`)."""
        if self.tree is not None:
            problem = wrong_port(listening_ports(self.tree.pids()), self.port, config.port,
                                 sandboxed=self.sandbox is not None)
            if problem:
                raise _NotStarted(problem)

    def _port_hint(self, config: CustomRuntimeConfig) -> str:
        return "" if self.sandbox is not None else taken_hint(config.port)

    async def kill(self) -> None:
        """Kill the server (:meth:`Instance.kill`), then drop its relay and HTTP client."""
        try:
            await super().kill()
        finally:
            session, self._session = self._session, None
            if session is not None:
                await session.close()
            if self.sandbox is not None and self.sandbox.relay_dir is not None:
                shutil.rmtree(self.sandbox.relay_dir, ignore_errors=True)

    async def _initialize(self, invocation: Invocation, init: Initializer) -> Outcome | None:
        """``POST /initialize``; an outcome (the requests fail) when it fails or times out."""
        request_id = invocation.request_id
        started = real_monotonic()
        try:
            with self.watching_memory():
                status, body, _ = await asyncio.wait_for(
                    send(self._client(), self._origin, "POST", "/initialize", b"",
                         list(request_headers(invocation, init).items())), init.timeout)
        except asyncio.TimeoutError:
            memory = self.peak_mb()
            self.healthy = False
            await self.kill()
            return init_timeout_outcome(init.timeout, _ms_since(started), memory,
                                        instance_id=self.instance_id,
                                        logs=await self._init_log(request_id))
        except aiohttp.ClientError as exc:
            outcome = await self._broken(request_id, started, exc)
            if self.oom_kb:
                return self.oom_outcome(request_id, outcome.duration_ms,
                                        await self._init_log(request_id), "Initialize")
            outcome.error_type = INITIALIZATION_ERROR
            return _with_logs(outcome, await self._init_log(request_id))
        if self.over_memory():
            await self.kill()
            return self.oom_outcome(request_id, _ms_since(started),
                                    await self._init_log(request_id), "Initialize")
        logs = await self._init_log(request_id)
        if 200 <= status < 300:
            self._init_logs[request_id] = logs
            return None
        self.healthy = False  # FC destroys an instance whose initializer failed
        body = body or error_body(f"the initializer answered HTTP {status}")
        return Outcome("error", body, INITIALIZATION_ERROR, _ms_since(started), self.peak_mb(),
                       self.instance_id, logs)

    async def _init_log(self, request_id: str) -> str:
        await loop_turns()
        text = strip_markers(request_id, self.log.take_all(), "Initialize")
        return framed(request_id, text, "Initialize")

    # -- requests ---------------------------------------------------------------------

    async def execute(self, invocation: Invocation) -> Outcome:
        function, request_id = invocation.function, invocation.request_id
        if self.capacity == 1:
            await loop_turns()
            self.log.spill()  # printed between requests: nobody's
        self.peak_mb()  # measured while it lives: a crash reports the last figure
        started = real_monotonic()
        request = send(self._client(), self._origin, *request_of(invocation))
        try:
            with self.watching_memory():
                status, body, headers = await asyncio.wait_for(request, function.timeout)
        except asyncio.TimeoutError:
            duration_ms, memory = _ms_since(started), self.peak_mb()
            self.healthy = False
            await self.kill()
            return timeout_outcome(function.timeout, duration_ms, memory,
                                   instance_id=self.instance_id,
                                   logs=await self._request_log(request_id))
        except aiohttp.ClientError as exc:
            outcome = await self._broken(request_id, started, exc)
            if self.oom_kb:
                return self.oom_outcome(request_id, outcome.duration_ms,
                                        await self._request_log(request_id))
            return _with_logs(outcome, await self._request_log(request_id))
        if self.over_memory():  # a peak between two readings: FC's kernel would have seen it
            await self.kill()
            return self.oom_outcome(request_id, _ms_since(started),
                                    await self._request_log(request_id))
        duration_ms, memory = _ms_since(started), self.seen_peak_mb()
        return outcome_of(invocation, status, body, headers, duration_ms=duration_ms,
                          memory_mb=memory, instance_id=self.instance_id,
                          logs=await self._request_log(request_id))

    @property
    def _origin(self) -> str:
        return f"http://{_LOOPBACK}:{self.port}"

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP client: the runtime's, or one of this instance's own on its relay."""
        if self.sandbox is None or self.sandbox.relay_socket is None:
            return self._runtime.session()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(str(self.sandbox.relay_socket), limit=0),
                timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def _broken(self, request_id: str, started: float, exc: Exception) -> Outcome:
        """The connection failed mid-request: a crash if the server died, else an error."""
        duration_ms = _ms_since(started)
        memory = self.final_mem_mb or self.peak_mb()
        if self.tree is not None and not self.exited:  # a dying server drops its connections
            await self.tree.wait(_EXIT_GRACE_S)
        if self.exited or request_id in self.stopped or self.retired or self.oom_kb:
            self.healthy = False
            await self.kill()
            kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
            return crash_outcome(duration_ms, memory, kind=kind, instance_id=self.instance_id)
        message = f"the custom runtime's connection failed: {exc or type(exc).__name__}"
        return Outcome("error", error_body(message, type(exc).__name__), UNHANDLED,
                       duration_ms, memory, self.instance_id)

    async def _request_log(self, request_id: str) -> str:
        before = self._init_logs.pop(request_id, "")
        await loop_turns()
        start, end = start_marker(request_id), end_marker(request_id)
        if self.capacity == 1:
            text = self.log.take_all()
        else:  # only what the server framed itself (spec §12.2) can be told apart
            if self.log.has(start):
                await self.log.wait_for(end, _LOG_DRAIN_S if not self.exited else 0)
            text = self.log.copy(start, end)
            if self.active <= 1:  # nobody else is running: the rest is the instance's
                self.log.spill()
        return before + framed(request_id, strip_markers(request_id, text))

    # -- the process ----------------------------------------------------------------------

    async def _collect_logs(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.log.feed(chunk)
        self.log.close()


def _with_logs(outcome: Outcome, logs: str) -> Outcome:
    outcome.logs = logs
    return outcome


def _ms_since(started: float) -> int:
    return int((real_monotonic() - started) * 1000)


def _key(function: Function) -> Key:
    return ("custom", function.name, function.function_id, function.modified_ms,
            function.code_checksum, str(function.code_dir), function.runtime,
            repr(function.custom_runtime_config), function.instance_concurrency,
            repr(function.instance_lifecycle_config))


class CustomRuntime(PooledRuntime):
    """Runs custom-runtime functions: an HTTP server per instance, in the shared pool."""

    def __init__(self, ids: IdGenerator, pool: InstancePool, *, pass_env: tuple[str, ...] = (),
                 contained: Containment | None = None) -> None:
        super().__init__(ids, pool, pass_env=pass_env, contained=contained)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP client every instance uses (created on the loop, on first use)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    def _check(self, function: Function) -> Outcome | None:
        if function.code_dir is None:
            message = f"function '{function.name}' has no code directory to run"
            return Outcome("error", error_body(message, "CodeNotFound"), UNHANDLED)
        try:
            CustomRuntimeConfig.of(function)
        except ValueError as exc:
            return Outcome("error", error_body(str(exc), "FunctionNotStarted"), UNHANDLED)
        return None

    def _key(self, function: Function) -> Key:
        return _key(function)

    def _make(self, function: Function, key: Key) -> Instance:
        return CustomInstance(function, key, self._ids.instance_id(), self)

    async def discard(self, function_name: str) -> None:
        """Kill every server of the function, busy ones included (their requests crash)."""
        await self.pool.discard(function_name)

    async def close(self) -> None:
        """Kill and reap every server and close the HTTP client."""
        await self.pool.close()
        if self._session is not None:
            await self._session.close()

