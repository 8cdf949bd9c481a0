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
accept connections, then speaks the custom-runtime contract to it: its initializer and
requests, and how what it prints becomes their logs, are
:class:`~fcemu.runtime.custom_requests.CustomRequests`' part
(:mod:`fcemu.runtime.custom_requests`). fcemu only ever connects to 127.0.0.1.
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
from fcemu.runtime.custom_requests import LOOPBACK, CustomRequests, ms_since
from fcemu.runtime.environ import handler_environment
from fcemu.runtime.invocation import Invocation, Outcome, OutcomeKind, crash_outcome
from fcemu.runtime.logs import framed, loop_turns
from fcemu.runtime.pool import Initializer, Instance, InstanceKilled, InstancePool, Key
from fcemu.runtime.pooled import PooledRuntime
from fcemu.runtime.ports import listening_ports, taken_hint, wrong_port
from fcemu.runtime.protocol import UNHANDLED, error_body
from fcemu.runtime.sandbox import Sandbox, instance_paths

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

#: Real seconds a new server gets to accept connections (FC: "must be ready within 120 s").
START_TIMEOUT_S = 120.0
#: Real seconds between two tries of a starting server's port.
_PORT_POLL_S = 0.02


class _NotStarted(Exception):
    """The server did not come up."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class CustomInstance(CustomRequests):
    """One custom-runtime server process of one function: its start here, its requests in
    :class:`~fcemu.runtime.custom_requests.CustomRequests`."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 runtime: CustomRuntime) -> None:
        super().__init__(function, key, instance_id, runtime.containment, runtime.session)
        self._runtime = runtime

    # -- start ------------------------------------------------------------------------

    async def _prepare(self, invocation: Invocation) -> Outcome | None:
        function, request_id = invocation.function, invocation.request_id
        assert function.code_dir is not None
        config = CustomRuntimeConfig.of(function)
        started = real_monotonic()
        self._starting(invocation)
        try:
            await self._spawn(config, invocation)
            await self._wait_for_port(config)
        except (OSError, _NotStarted, InstanceKilled) as exc:
            self.healthy = False
            await self.kill()
            logs = self.log.take_all()
            if request_id in self.stopped or self.retired:  # killed on purpose while starting
                kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
                return crash_outcome(ms_since(started), self.final_mem_mb, kind=kind,
                                     instance_id=self.instance_id, logs=framed(request_id, logs))
            message = (f"The function cannot be started. Failed to start function instance. "
                       f"Error: {exc}\nLogs: {logs[-2000:]}")
            return Outcome("error", error_body(message, "FunctionNotStarted"), UNHANDLED,
                           ms_since(started), instance_id=self.instance_id,
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
                         else f"listen on {LOOPBACK}:$FC_SERVER_PORT (fcemu also puts that "
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
        return asyncio.open_connection(LOOPBACK, self.port)

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
        """Kill the server (:meth:`Instance.kill`; its PreStop hook first, when due), then
        drop its relay and HTTP client."""
        try:
            await self._run_pre_stop()
            await super().kill()
        finally:
            session, self._session = self._session, None
            if session is not None:
                await session.close()
            if self.sandbox is not None and self.sandbox.relay_dir is not None:
                shutil.rmtree(self.sandbox.relay_dir, ignore_errors=True)

    # -- the process ----------------------------------------------------------------------

    async def _collect_logs(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.log.feed(chunk)
        self.log.close()


def _key(function: Function) -> Key:
    return ("custom", function.name, function.version_id, function.function_id,
            function.modified_ms, function.code_checksum, str(function.code_dir), function.runtime,
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

