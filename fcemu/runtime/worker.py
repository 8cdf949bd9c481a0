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
``instanceLifecycleConfig.preStop`` runs ``pre_stop(context)`` (a ``prestop`` frame,
request ID ``<instanceId>-prestop``), within its timeout, before the pool's kill of a
started, idle instance (:meth:`Instance.pre_stop_due`); what it logs is the instance's.

Every instance is contained (:mod:`fcemu.runtime.contain`), so a timeout, a
stop, going over ``memorySize`` or :meth:`WorkerRuntime.close` kills whatever
the handler started along with it; in ``bwrap`` containment it runs in a
sandbox (:mod:`fcemu.runtime.sandbox`: its code at ``/code``, its layers at
``/opt``, a private ``/tmp``) that keeps the host's network, so a handler can
call the emulator or other services on loopback. The handler sees only FC's
environment (:mod:`fcemu.runtime.environ`, FC's default search paths).

A warm instance serves a request whose function has its pool key (:func:`_key`); the
runtime keeps the last key made for a function object, and UpdateFunction, which changes
a function in place, says so first (:func:`function_changed`): every key is made again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fcemu.clock import RealTimeEventLoop, real_monotonic
from fcemu.runtime.contain import Containment
from fcemu.runtime.environ import handler_environment
from fcemu.runtime.frames import FrameWriter, credentials_doc
from fcemu.runtime.instance import PreStop
from fcemu.runtime.invocation import (
    Credentials,
    Invocation,
    Outcome,
    OutcomeKind,
    crash_outcome,
    kb_to_mb,
)
from fcemu.runtime.logs import end_marker
from fcemu.runtime.pipes import FrameSink, PipeDrain
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
    ENV_PRE_STOP,
    INITIALIZATION_ERROR,
    RESULT_BODY,
    RESULT_CHILDREN,
    RESULT_KIND,
    RESULT_MAXRSS_KB,
    UNHANDLED,
    encode_frame,
    error_body,
)
from fcemu.runtime.sandbox import Sandbox, instance_paths
from fcemu.runtime.worker_requests import (
    _LOG_DRAIN_S,
    WorkerRequests,
    _consume,
    _ms_since,
    _WorkerGone,
)

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

_MAIN = str(Path(__file__).with_name("_worker_main.py"))
#: Real seconds a new process gets to say hello (interpreter start, not the handler's import).
_START_TIMEOUT_S = 30.0


class WorkerInstance(WorkerRequests):
    """One worker process of one function: its start here, its requests in
    :class:`~fcemu.runtime.worker_requests.WorkerRequests`."""

    def __init__(self, function: Function, key: Key, instance_id: str, python: str,
                 pass_env: tuple[str, ...] = (), contained: Containment | None = None) -> None:
        super().__init__(function, key, instance_id, contained)
        self.python = python
        self.pass_env = pass_env
        #: The instance runs in a bubblewrap sandbox (its paths are ``/code`` and ``/opt``).
        self.sandboxed = False
        self.pre_stop = PreStop.of(function)
        #: The qualifier the PreStop hook's context gets (the starting request's).
        self._qualifier = "LATEST"
        self._version_id = function.version_id
        #: Whether the PreStop hook ran and answered (``None``: it did not run).
        self.pre_stopped: bool | None = None

    # -- start ------------------------------------------------------------------------

    async def _prepare(self, invocation: Invocation) -> Outcome | None:
        function, request_id = invocation.function, invocation.request_id
        assert function.code_dir is not None
        self._qualifier = invocation.qualifier
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

    async def kill(self) -> None:
        if self.pre_stop is not None and self.pre_stop_due():
            await self._run_pre_stop(self.pre_stop)
        await super().kill()

    async def _run_pre_stop(self, pre_stop: PreStop) -> None:
        """The PreStop hook, within its timeout; whatever happens, the kill follows."""
        request_id = f"{self.instance_id}-prestop"
        request = {"type": "prestop", "request_id": request_id,
                   "qualifier": self._qualifier, "version_id": self._version_id,
                   "credentials": credentials_doc(Credentials())}
        self.pre_stopped = False
        with contextlib.suppress(Exception):
            reply = await asyncio.wait_for(self._call(request_id, encode_frame(request)),
                                           pre_stop.timeout)
            self.pre_stopped = reply[RESULT_KIND] == "ok"

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
        assert self.proc is not None and self.tree is not None
        assert self.proc.stdin is not None
        self._frames = FrameWriter(self.proc.stdin)
        self._real_time = type(self._loop).time is RealTimeEventLoop.time
        log_pipe = self.tree.pipe(2)
        if log_pipe is not None and not self.threaded:
            self._log_drain = PipeDrain(log_pipe, logs)
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
        reported = int(reply[RESULT_MAXRSS_KB])
        self.reported_kb = max(self.reported_kb, reported)
        if self.over_memory(reported, not reply[RESULT_CHILDREN]):
            return await self._gone(request_id, started, "Initialize")
        if not self.threaded:
            await self.log.wait_for(end_marker(request_id, "Initialize"), _LOG_DRAIN_S)
        if reply[RESULT_KIND] == "ok":
            # the initializer's log goes in front of the first request's log
            init_log = self._take_log(request_id, "Initialize")
            self._request_logs.setdefault(request_id, []).insert(0, init_log)
            return None
        self.healthy = False  # FC destroys an instance whose initializer failed
        return Outcome("error", base64.b64decode(reply[RESULT_BODY]), INITIALIZATION_ERROR,
                       _ms_since(started), kb_to_mb(reported), self.instance_id,
                       self._take_log(request_id, "Initialize"))


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


#: How many times a Function was changed in place (:func:`function_changed`): a key that
#: :meth:`WorkerRuntime._key` keeps for a function object holds while this stays the same.
_changes = 0


def function_changed() -> None:
    """A Function object is being changed in place (``fcemu.engine.functions``'s
    UpdateFunction, before its first change): the key of every function object is made
    again (:meth:`WorkerRuntime._key`)."""
    global _changes
    _changes += 1


def _key(function: Function) -> Key:
    """What must match for a warm instance to be reused (an updated function is another; a
    version's instances are its own, even with the code of LATEST or another version)."""
    return ("worker", function.name, function.version_id, function.function_id,
            function.modified_ms, function.code_checksum, str(function.code_dir),
            function.handler, function.runtime, function.instance_concurrency,
            repr(function.instance_lifecycle_config))


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
        #: The function object of the last :meth:`_key`, :data:`_changes` then, and its key.
        self._last: tuple[Function, int, Key] | None = None

    def _check(self, function: Function) -> Outcome | None:
        if function.code_dir is None:
            message = f"function '{function.name}' has no code directory to run"
            return Outcome("error", error_body(message, "CodeNotFound"), UNHANDLED)
        return None

    def _key(self, function: Function) -> Key:
        """:func:`_key`; the same tuple again for the function object it was last made for
        while no function was changed in place since (:func:`function_changed`): issue 13,
        a new ``code_dir`` string to hash 2 to 3 times, and an 11-tuple made, per request."""
        last = self._last
        if last is not None and last[0] is function and last[1] == _changes:
            return last[2]
        key = _key(function)
        self._last = (function, _changes, key)
        return key

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
    pre_stop = PreStop.of(function)
    if pre_stop is not None:
        env[ENV_PRE_STOP] = pre_stop.handler
    log_config = function.extra.get("logConfig")
    if isinstance(log_config, dict):
        env[ENV_LOG_PROJECT] = str(log_config.get("project") or "")
        env[ENV_LOG_STORE] = str(log_config.get("logstore") or "")
    return env
