"""Worker runtime: Python handlers (``index.handler``) in warm worker processes.

Each instance is one child process running :mod:`fcemu.runtime._worker_main`
(the protocol is described there) in the function's code directory. An
instance serves up to ``instanceConcurrency`` requests at once (each on its
own thread in the child when that is above 1) and stays warm for the next
request of the same function, so module-level state survives between
invocations as on FC. Instances are pooled and capped by
:class:`fcemu.runtime.pool.InstancePool`.

``instanceLifecycleConfig.initializer`` (``{"handler": "index.initialize",
"timeout": 5}``) runs ``initialize(context)`` once per instance before its
first request, with its own timeout (the function's when absent). A failure
or timeout fails the requests waiting for that instance with
``InitializationError`` and the instance is destroyed, so the next request
starts a new one and runs the initializer again (FC's lifecycle-hook docs).

Every instance is contained (:mod:`fcemu.runtime.contain`), so a timeout, a
stop, going over ``memorySize`` or :meth:`WorkerRuntime.close` kills whatever
the handler started along with it; in ``bwrap`` containment it runs in a
sandbox (:mod:`fcemu.runtime.sandbox`: its code at ``/code``, its layers at
``/opt``, a private ``/tmp``) that keeps the host's network, so a handler can
call the emulator or other services on loopback. The handler sees only FC's
environment (:mod:`fcemu.runtime.environ`, FC's default search paths).
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.clock import real_monotonic
from fcemu.runtime.contain import Containment
from fcemu.runtime.environ import handler_environment
from fcemu.runtime.frames import credentials_doc, invoke_frame
from fcemu.runtime.invocation import (
    Invocation,
    Outcome,
    OutcomeKind,
    crash_outcome,
    kb_to_mb,
    timeout_outcome,
)
from fcemu.runtime.logs import end_marker, framed, start_marker
from fcemu.runtime.pipes import FrameSink
from fcemu.runtime.pool import (
    Initializer,
    Instance,
    InstanceKilled,
    InstancePool,
    Key,
    init_timeout_outcome,
)
from fcemu.runtime.pooled import PooledRuntime
from fcemu.runtime.protocol import (
    ENV_INITIALIZER,
    ENV_INSTANCE_CONCURRENCY,
    ENV_LOG_PROJECT,
    ENV_LOG_STORE,
    INITIALIZATION_ERROR,
    UNHANDLED,
    encode_frame,
    error_body,
)
from fcemu.runtime.sandbox import Sandbox, instance_paths

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

_MAIN = str(Path(__file__).with_name("_worker_main.py"))
#: Real seconds a new process gets to say hello (interpreter start, not the handler's import).
_START_TIMEOUT_S = 30.0
#: Real seconds to wait for the rest of a request's log once its process has answered.
_LOG_DRAIN_S = 2.0
#: A request's log kept from ``log`` frames (threaded workers): its newest characters.
_REQUEST_LOG_LIMIT = 1024 * 1024


class _WorkerGone(Exception):
    """The process died or closed its protocol pipe."""


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


def _ms_since(started: float) -> int:
    return int((real_monotonic() - started) * 1000)


class WorkerInstance(Instance):
    """One worker process of one function."""

    def __init__(self, function: Function, key: Key, instance_id: str, python: str,
                 pass_env: tuple[str, ...] = (), contained: Containment | None = None) -> None:
        super().__init__(function, key, instance_id, contained)
        self.python = python
        self.pass_env = pass_env
        self.threaded = self.capacity > 1
        #: The instance runs in a bubblewrap sandbox (its paths are ``/code`` and ``/opt``).
        self.sandboxed = False
        # self.log (fd-level output) is cut per request at the markers when requests run
        # one at a time; otherwise all of it is the instance's own log.
        self._request_logs: dict[str, list[str]] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: The loop time by which each pending request must have its reply, and the one timer
        #: that watches them (:meth:`_deadlines_due`).
        self._deadlines: dict[str, float] = {}
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self._write_lock = asyncio.Lock()
        self._pipe_closed = False
        self._stdin: asyncio.StreamWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Started, and its initializer (if any) succeeded: it takes requests.
        self._warm = False
        #: When each request that :meth:`begin` started began (real seconds).
        self._began: dict[str, float] = {}

    # -- start ------------------------------------------------------------------------

    async def _prepare(self, invocation: Invocation) -> Outcome | None:
        function, request_id = invocation.function, invocation.request_id
        assert function.code_dir is not None
        try:
            self.sandboxed = (await self.chosen_containment()).sandboxed
            env, sandbox = self.environment(invocation), None
            if self.sandboxed:
                sandbox = Sandbox(function.code_dir, function.opt_dir)
                env = sandbox.inside(env)
            await self._spawn(function.code_dir, env, sandbox)
        except (OSError, _WorkerGone, InstanceKilled, asyncio.TimeoutError) as exc:
            self.healthy = False
            await self.kill()
            logs = self._take_log(request_id)
            if request_id in self.stopped or self.retired:  # killed on purpose while starting
                kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
                return crash_outcome(0, self.final_mem_mb or self.peak_mb(), kind=kind,
                                     instance_id=self.instance_id, logs=logs)
            message = (f"the worker process of function '{function.name}' failed to start "
                       f"({exc or type(exc).__name__}); its output: {logs[-2000:]}")
            return Outcome("error", error_body(message, "WorkerStartError"), UNHANDLED,
                           instance_id=self.instance_id, logs=logs)
        initializer = Initializer.of(function)
        failed = None if initializer is None else await self._initialize(invocation, initializer)
        self._warm = failed is None
        return failed

    def command(self) -> list[str]:
        """The worker's command line (a worker in another language speaks the same protocol)."""
        return [self.python, _MAIN]

    def environment(self, invocation: Invocation) -> dict[str, str]:
        """The worker process's environment (host paths: in a sandbox, those of the code
        and layer directories are then given as ``/code`` and ``/opt``)."""
        return _environment(invocation, self.instance_id, self.pass_env, self.sandboxed)

    async def _spawn(self, cwd: Path, env: dict[str, str], sandbox: Sandbox | None) -> None:
        if self.retired or not self.healthy:
            raise _WorkerGone("the instance was stopped before it started")

        self._loop = asyncio.get_running_loop()
        self._hello = self._loop.create_future()
        self._hello.add_done_callback(_consume)
        frames, logs = FrameSink(self._on_frame, self._frames_ended), _LogSink(self)
        pipe = asyncio.subprocess.PIPE
        await self.spawn(self.command(), cwd=cwd, env=env, stdin=pipe, stdout=pipe,
                         stderr=pipe, readers=lambda: [frames.wait_end(), logs.wait_end()],
                         sandbox=sandbox, sinks={1: frames, 2: logs})
        assert self.proc is not None
        self._stdin = self.proc.stdin
        hello = await self.unless_killed(asyncio.shield(self._hello), _START_TIMEOUT_S)
        self.reported_kb = int(hello.get("maxrss_kb", 0))

    async def _initialize(self, invocation: Invocation, init: Initializer) -> Outcome | None:
        """Run the initializer; an outcome (the requests fail) when it fails or times out."""
        request_id = invocation.request_id
        request = {"type": "init", "request_id": request_id, "qualifier": invocation.qualifier,
                   "version_id": invocation.function.version_id,
                   "credentials": credentials_doc(invocation.credentials)}
        started = real_monotonic()
        try:
            with self.watching_memory():
                reply = await self._call(request_id, encode_frame(request), init.timeout)
        except asyncio.TimeoutError:
            duration_ms, memory = _ms_since(started), self.peak_mb()
            self.healthy = False
            await self.kill()
            return init_timeout_outcome(init.timeout, duration_ms, memory,
                                        instance_id=self.instance_id,
                                        logs=self._take_log(request_id, "Initialize"))
        except _WorkerGone:
            return await self._gone(request_id, started, "Initialize")
        self.reported_kb = max(self.reported_kb, int(reply["maxrss_kb"]))
        if self.over_memory(int(reply["maxrss_kb"]), not reply.get("children", True)):
            return await self._gone(request_id, started, "Initialize")
        if not self.threaded:
            await self.log.wait_for(end_marker(request_id, "Initialize"), _LOG_DRAIN_S)
        if reply["kind"] == "ok":
            # the initializer's log goes in front of the first request's log
            init_log = self._take_log(request_id, "Initialize")
            self._request_logs.setdefault(request_id, []).insert(0, init_log)
            return None
        self.healthy = False  # FC destroys an instance whose initializer failed
        return Outcome("error", base64.b64decode(reply["body"]), INITIALIZATION_ERROR,
                       _ms_since(started), kb_to_mb(int(reply["maxrss_kb"])), self.instance_id,
                       self._take_log(request_id, "Initialize"))

    # -- requests ---------------------------------------------------------------------

    async def execute(self, invocation: Invocation) -> Outcome:
        function, request_id = invocation.function, invocation.request_id
        started = real_monotonic()
        self.watch_begin()  # watching_memory(), without a generator per request
        try:
            try:
                reply = await self._call(request_id, invoke_frame(invocation),
                                         function.timeout)
            finally:
                self._watching -= 1
        except asyncio.TimeoutError:
            return await self._timed_out(invocation, started)
        except _WorkerGone:
            return await self._gone(request_id, started)
        return await self._answer(invocation, started, reply)

    def begin(self, invocation: Invocation, reply: asyncio.Future[Any]) -> bool:
        """Start the request now (the pool's hand-off) if the instance is warm and its frame
        goes into the pipe without waiting: nothing else is waiting to write, and nothing
        of an earlier frame is still queued for the pipe."""
        stdin = self._stdin
        if (not self._warm or not self.healthy or self.retired or self._pipe_closed
                or stdin is None or self.exited or self.stopping or self._write_lock.locked()
                or stdin.transport.get_write_buffer_size() > 0):
            return False
        request_id = invocation.request_id
        self._began[request_id] = real_monotonic()
        self.watch_begin()
        self._send(request_id, invoke_frame(invocation), invocation.function.timeout, reply)
        return True

    async def finish(self, invocation: Invocation) -> Outcome:
        """The outcome of a request :meth:`begin` started; its reply has come."""
        request_id = invocation.request_id
        started = self._began.pop(request_id)
        future = self._pending.pop(request_id)
        self._deadlines.pop(request_id, None)
        self._watching -= 1
        try:
            reply = future.result()
        except asyncio.TimeoutError:
            return await self._timed_out(invocation, started)
        except _WorkerGone:
            return await self._gone(request_id, started)
        return await self._answer(invocation, started, reply)

    def abandon(self, request_id: str) -> None:
        if self._began.pop(request_id, None) is not None:
            self._watching -= 1
            self._deadlines.pop(request_id, None)
            future = self._pending.pop(request_id, None)
            if future is not None and future.done() and not future.cancelled():
                future.exception()  # retrieved

    async def _timed_out(self, invocation: Invocation, started: float) -> Outcome:
        duration_ms = _ms_since(started)
        memory = self.peak_mb()  # before the kill: /proc forgets a dead process
        self.healthy = False
        await self.kill()
        return timeout_outcome(invocation.function.timeout, duration_ms, memory,
                               instance_id=self.instance_id,
                               logs=self._take_log(invocation.request_id))

    async def _answer(self, invocation: Invocation, started: float,
                      reply: dict[str, Any]) -> Outcome:
        request_id, reported = invocation.request_id, int(reply["maxrss_kb"])
        self.reported_kb = max(self.reported_kb, reported)
        if self.over_memory(reported, not reply.get("children", True)):
            return await self._gone(request_id, started)
        duration_ms = _ms_since(started)
        end = None
        if not self.threaded:
            end = end_marker(request_id)
            if not self.log.has(end):  # it usually came with the reply: no waiting then
                await self.log.wait_for(end, _LOG_DRAIN_S)
        return Outcome(reply["kind"], base64.b64decode(reply["body"]), reply["error_type"],
                       duration_ms, self.seen_peak_mb(), self.instance_id,
                       self._take_log(request_id, end=end))

    async def _gone(self, request_id: str, started: float, phase: str = "Invoke") -> Outcome:
        """The process died (or went over memorySize) during a request: a crash, the
        out-of-memory error, or ``stopped`` if a stop killed it."""
        duration_ms = _ms_since(started)
        memory = self.final_mem_mb or self.peak_mb()
        self.healthy = False
        await self.kill()
        logs = self._take_log(request_id, phase)
        if self.oom_kb:
            return self.oom_outcome(request_id, duration_ms, logs, phase)
        kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
        outcome = crash_outcome(duration_ms, memory, kind=kind, instance_id=self.instance_id,
                                logs=logs)
        if phase == "Initialize":
            outcome.error_type = INITIALIZATION_ERROR
        return outcome

    async def _call(self, request_id: str, frame: bytes,
                    timeout: float | None = None) -> dict[str, Any]:
        """Send one request's frame and wait for its reply; _WorkerGone if the process ends first,
        ``asyncio.TimeoutError`` after ``timeout`` real seconds.

        The deadline is noted for the instance's deadline timer (no task per request, as
        ``asyncio.wait_for`` would make, nor a timer to arm and cancel per request); a frame
        goes into the pipe whole, so only a pipe that is full (a large payload, a worker not
        reading) waits, in order, to drain.
        """
        stdin = self._stdin
        assert stdin is not None
        if self._pipe_closed or self.exited:
            raise _WorkerGone("process ended")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        deadline = self._send(request_id, frame, timeout, future)
        try:
            if stdin.transport.get_write_buffer_size() > 0 or self._write_lock.locked():
                async with self._write_lock:
                    left = None if deadline is None else max(0.0, deadline - loop.time())
                    await asyncio.wait_for(stdin.drain(), left)
            return await future
        except ConnectionError as exc:
            raise _WorkerGone(str(exc)) from exc
        finally:
            self._deadlines.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # a deadline that fired while the pipe drained: retrieved
            self._pending.pop(request_id, None)

    def _send(self, request_id: str, frame: bytes, timeout: float | None,
              future: asyncio.Future[Any]) -> float | None:
        """Note the request's reply future and deadline, and write its frame (whole: the pipe
        transport keeps what the pipe cannot take yet); the deadline (loop time)."""
        self._pending[request_id] = future
        deadline = None
        if timeout is not None:
            loop = self._loop
            assert loop is not None
            deadline = self._deadlines[request_id] = loop.time() + timeout
            timer = self._deadline_timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._deadline_timer = loop.call_at(deadline, self._deadlines_due)
        assert self._stdin is not None
        self._stdin.write(frame)
        return deadline

    def _deadlines_due(self) -> None:
        """The deadline timer: time out each pending request whose deadline has come, then
        wait for the earliest left. Requests one after another keep it armed for an earlier
        request's deadline; firing then, it finds theirs later and waits for those."""
        self._deadline_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for request_id, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[request_id]
                future = self._pending.get(request_id)
                if future is not None:
                    _time_out(future)
        if self._deadlines and not self._pipe_closed:
            self._deadline_timer = loop.call_at(min(self._deadlines.values()),
                                                self._deadlines_due)

    def _take_log(self, request_id: str, phase: str = "Invoke", end: bytes | None = None) -> str:
        """The request's log (``end``: its End marker, when the caller has it already)."""
        if self.threaded:
            text = "".join(self._request_logs.pop(request_id, []))
            last = end_marker(request_id, phase).decode()
            if not text.endswith(last):  # the process died before the End line
                text += ("" if text.endswith("\n") or not text else "\n") + last
            if not text.startswith("FC "):
                text = framed(request_id, "", phase)[:-len(last)] + text
            return text
        before = "".join(self._request_logs.pop(request_id, ()))
        return before + self.log.take(start_marker(request_id, phase),
                                      end or end_marker(request_id, phase))

    # -- the process ----------------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        """Route a frame from the child (in the pipe's callback): hello, log lines, results."""
        kind = frame.get("type")
        if kind == "result":
            future = self._pending.get(frame["request_id"])
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "log":
            self._add_log(frame["request_id"], frame["data"])
        elif kind == "hello" and self._hello is not None and not self._hello.done():
            self._hello.set_result(frame)

    def _frames_ended(self) -> None:
        """The protocol pipe ended (or carried a broken frame): nothing more will answer."""
        self._pipe_closed = True
        if self._deadline_timer is not None:  # it would keep the instance until it fired
            self._deadline_timer.cancel()
            self._deadline_timer = None
        for future in [*self._pending.values(), self._hello]:
            if future is not None and not future.done():
                future.set_exception(_WorkerGone("process ended"))

    def _add_log(self, request_id: str, data: str) -> None:
        parts = self._request_logs.setdefault(request_id, [])
        parts.append(data.encode("utf-8", "replace").decode())  # no lone surrogates
        if sum(len(p) for p in parts) > _REQUEST_LOG_LIMIT and len(parts) > 1:
            dropped = len(parts[1])
            parts[1] = f"[fcemu: {dropped} characters of log dropped]\n"


class _LogSink:
    """The worker's fd-level output (its stderr pipe), into the instance's log as it comes."""

    def __init__(self, instance: WorkerInstance) -> None:
        self._log = instance.log
        self._threaded = instance.threaded
        self.ended = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self._log.feed(data)
        if self._threaded:
            self._log.spill()

    def end(self) -> None:
        self._log.close()
        self.ended.set()

    async def wait_end(self) -> None:
        await self.ended.wait()


def _key(function: Function) -> Key:
    """What must match for a warm instance to be reused (an updated function is another)."""
    return ("worker", function.name, function.function_id, function.modified_ms,
            function.code_checksum, str(function.code_dir), function.handler, function.runtime,
            function.instance_concurrency, repr(function.instance_lifecycle_config))


class WorkerRuntime(PooledRuntime):
    """Runs Python handlers (``module.function`` in ``Function.code_dir``) in worker processes.

    :param ids: source of instance IDs.
    :param pool: the instance pool (and cap) shared with the other process runtimes.
    :param python: the interpreter the workers run.

    A timeout, a stop, a crash or going over ``memorySize`` kills the instance and every
    process it started (:mod:`fcemu.runtime.contain`); the next invocation starts a fresh
    process. :meth:`discard` kills all of a function's processes, so a request running on
    one of them ends as a crash.
    """

    def __init__(self, ids: IdGenerator, pool: InstancePool, *, python: str = sys.executable,
                 pass_env: tuple[str, ...] = (), contained: Containment | None = None) -> None:
        super().__init__(ids, pool, pass_env=pass_env, contained=contained)
        self._python = python

    def _check(self, function: Function) -> Outcome | None:
        if function.code_dir is None:
            message = f"function '{function.name}' has no code directory to run"
            return Outcome("error", error_body(message, "CodeNotFound"), UNHANDLED)
        return None

    def _key(self, function: Function) -> Key:
        return _key(function)

    def _make(self, function: Function, key: Key) -> Instance:
        return WorkerInstance(function, key, self._ids.instance_id(), self._python,
                              self.pass_env, self.containment)

    async def discard(self, function_name: str) -> None:
        """Kill every process of the function, busy ones included (their request crashes)."""
        await self.pool.discard(function_name)

    async def close(self) -> None:
        """Kill and reap every process; invocations still waiting get an error outcome."""
        await self.pool.close()


def _environment(invocation: Invocation, instance_id: str, pass_env: tuple[str, ...] = (),
                 sandboxed: bool = False) -> dict[str, str]:
    """The handler's environment (:mod:`fcemu.runtime.environ`, with FC's paths:
    :func:`fcemu.runtime.sandbox.instance_paths`) and the worker's settings."""
    function = invocation.function
    assert function.code_dir is not None
    env = instance_paths(handler_environment(invocation, instance_id, pass_env),
                         runtime=function.runtime, variables=function.environment_variables,
                         code_dir=function.code_dir, opt_dir=function.opt_dir,
                         sandboxed=sandboxed)
    env[ENV_INSTANCE_CONCURRENCY] = str(function.instance_concurrency)
    initializer = Initializer.of(function)
    if initializer is not None:
        env[ENV_INITIALIZER] = initializer.handler
    log_config = function.extra.get("logConfig")
    if isinstance(log_config, dict):
        env[ENV_LOG_PROJECT] = str(log_config.get("project") or "")
        env[ENV_LOG_STORE] = str(log_config.get("logstore") or "")
    return env
