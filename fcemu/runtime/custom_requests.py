"""A custom-runtime server's requests over HTTP, its initializer's too (:class:`CustomRequests`).

The half of :class:`fcemu.runtime.custom.CustomInstance` that speaks to the server once it
accepts connections, the custom-runtime contract (spec §12.2; its wire format in
:mod:`fcemu.runtime.custom_wire`):

* ``POST /initialize`` once per instance when an initializer is configured
  (2xx is success; anything else fails the requests with
  ``InitializationError``);
* ``POST /invoke`` per request, body = the event, with the ``x-fc-*`` request
  headers; HTTP 200 (and ``x-fc-status`` absent or 200) is success and the
  body is the result; 404 or ``x-fc-status: 404`` (or any other status) is a
  function error (``UnhandledInvocationError``) whose body is passed on;
* ``GET /pre-stop`` (FC's custom-runtime lifecycle hooks: the common request headers,
  ``x-fc-request-id`` ``<instanceId>-prestop``, the rest as the instance's first request
  had them) when a PreStop hook is configured, within its timeout, before the pool's
  kill of a started, idle instance (:meth:`Instance.pre_stop_due`); its answer only
  says whether it ran (``pre_stopped``), what it prints is the instance's log;
* an HTTP trigger's request instead goes through as it came (FC's web functions,
  "HTTP calls": method, path and query, the client's headers plus the ``x-fc-*``
  ones, body), and the server's status, headers and body are the answer;
  ``x-fc-status`` only reports the outcome.

A request goes to ``127.0.0.1`` and the instance's port with the runtime's HTTP client, or,
in ``bwrap`` containment, with the instance's own client on its sandbox's relay socket. A
connection that breaks mid-request is a crash if the server died, else an error; a timeout
or going over ``memorySize`` kills the instance.

What the server prints (stdout and stderr) is the function's log. With one
request at a time, everything printed while a request runs is its log,
framed by the FC markers (markers the server prints itself are not
doubled). With ``instanceConcurrency`` above 1 a request's log is what the
server printed between its own ``FC Invoke Start/End RequestId: <id>`` lines
(so it includes lines of requests that overlapped it); other output is the
instance's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from fcemu.clock import real_monotonic
from fcemu.runtime.custom_wire import outcome_of, request_headers, request_of, send
from fcemu.runtime.instance import PreStop
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
from fcemu.runtime.pool import Initializer, Instance, Key, init_timeout_outcome
from fcemu.runtime.protocol import INITIALIZATION_ERROR, UNHANDLED, error_body

if TYPE_CHECKING:
    from fcemu.models import Function
    from fcemu.runtime.contain import Containment
    from fcemu.runtime.sandbox import Sandbox

__all__ = ["LOOPBACK", "CustomRequests", "ms_since"]

#: Real seconds to wait for a server's own End line, or for its output after a kill.
_LOG_DRAIN_S = 2.0
#: Real seconds a server whose connection broke gets to be seen dead (a crash, not an error).
_EXIT_GRACE_S = 0.5
#: The only address fcemu connects to.
LOOPBACK = "127.0.0.1"


class CustomRequests(Instance):
    """The requests of one custom-runtime server (see the module docstring)."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 contained: Containment | None,
                 session: Callable[[], aiohttp.ClientSession]) -> None:
        super().__init__(function, key, instance_id, contained)
        #: The runtime's HTTP client (:meth:`fcemu.runtime.custom.CustomRuntime.session`).
        self._shared_session = session
        #: The port the server listens on (set as it starts).
        self.port = 0
        self._init_logs: dict[str, str] = {}
        #: The instance's sandbox (``bwrap`` containment): the app is reached through its relay.
        self.sandbox: Sandbox | None = None
        self._session: aiohttp.ClientSession | None = None
        self.pre_stop = PreStop.of(function)
        #: ``GET /pre-stop``'s headers, made from the request that started the instance.
        self._pre_stop_headers: dict[str, str] | None = None
        #: Whether ``GET /pre-stop`` answered 2xx (``None``: the hook did not run).
        self.pre_stopped: bool | None = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "port": self.port}

    # -- the initializer ----------------------------------------------------------------

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
            return init_timeout_outcome(init.timeout, ms_since(started), memory,
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
            return self.oom_outcome(request_id, ms_since(started),
                                    await self._init_log(request_id), "Initialize")
        logs = await self._init_log(request_id)
        if 200 <= status < 300:
            self._init_logs[request_id] = logs
            return None
        self.healthy = False  # FC destroys an instance whose initializer failed
        body = body or error_body(f"the initializer answered HTTP {status}")
        return Outcome("error", body, INITIALIZATION_ERROR, ms_since(started), self.peak_mb(),
                       self.instance_id, logs)

    def _starting(self, invocation: Invocation) -> None:
        """The instance starts for ``invocation``: its PreStop hook's headers (if it has one)
        are that request's, with the hook's own request ID."""
        if self.pre_stop is not None:
            request_id = f"{self.instance_id}-prestop"
            headers = request_headers(dataclasses.replace(invocation, request_id=request_id),
                                      None)
            del headers["content-type"]  # a GET without a body
            self._pre_stop_headers = headers

    async def _run_pre_stop(self) -> None:
        """``GET /pre-stop`` if the kill beginning now is one the hook runs before; within
        its timeout, whatever it answers (the kill follows)."""
        pre_stop, headers = self.pre_stop, self._pre_stop_headers
        if pre_stop is None or headers is None or not self.pre_stop_due():
            return
        self.pre_stopped = False
        with contextlib.suppress(Exception):
            status, _, _ = await asyncio.wait_for(
                send(self._client(), self._origin, "GET", "/pre-stop", b"",
                     list(headers.items())), pre_stop.timeout)
            self.pre_stopped = 200 <= status < 300

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
            duration_ms, memory = ms_since(started), self.peak_mb()
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
            return self.oom_outcome(request_id, ms_since(started),
                                    await self._request_log(request_id))
        duration_ms, memory = ms_since(started), self.seen_peak_mb()
        return outcome_of(invocation, status, body, headers, duration_ms=duration_ms,
                          memory_mb=memory, instance_id=self.instance_id,
                          logs=await self._request_log(request_id))

    @property
    def _origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP client: the runtime's, or one of this instance's own on its relay."""
        if self.sandbox is None or self.sandbox.relay_socket is None:
            return self._shared_session()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(str(self.sandbox.relay_socket), limit=0),
                timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def _broken(self, request_id: str, started: float, exc: Exception) -> Outcome:
        """The connection failed mid-request: a crash if the server died, else an error."""
        duration_ms = ms_since(started)
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


def _with_logs(outcome: Outcome, logs: str) -> Outcome:
    outcome.logs = logs
    return outcome


def ms_since(started: float) -> int:
    """Whole milliseconds since ``started`` (:func:`fcemu.clock.real_monotonic` seconds)."""
    return int((real_monotonic() - started) * 1000)
