"""One warm instance of a function: its contained processes, its start, its kill.

An :class:`Instance` is one warm process tree of one function (started
through :mod:`fcemu.runtime.contain`, a
:class:`~fcemu.runtime.contained.Contained`). It serves up to
``instanceConcurrency`` requests at once, starts (and runs the function's
initializer, :class:`Initializer`) once, before its first request, and is
reused until it dies, is killed (timeout, stop, out of memory), is superseded
by an updated function, or has been idle for the pool's ``idle_seconds``.

``memorySize`` is enforced by its base class,
:class:`~fcemu.runtime.instance_memory.MemoryLimit`
(:mod:`fcemu.runtime.instance_memory`): an instance over it is killed and its
requests fail as FC reports an out-of-memory instance.

A kill (stop, reset, shutdown, retirement) during the start cancels it at
once: the start's waits (for the worker's hello, for the custom server's
port) also wait for :meth:`Instance.until_killed`, and :meth:`Instance.kill`
returns only once the start has ended, so no start outlives its instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Hashable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from fcemu.runtime.contain import Containment, containment
from fcemu.runtime.contained import Contained
from fcemu.runtime.instance_memory import MemoryLimit
from fcemu.runtime.invocation import Invocation, Outcome
from fcemu.runtime.logs import LogStream, framed
from fcemu.runtime.pipes import PipeSink
from fcemu.runtime.protocol import INITIALIZATION_ERROR, error_body
from fcemu.runtime.sandbox import Sandbox

if TYPE_CHECKING:
    from fcemu.models import Function

Key = Hashable
T = TypeVar("T")
#: Real seconds the output of a dead instance gets to arrive before its pipes are closed.
LOG_DRAIN_S = 0.5
#: Real seconds a kill waits for a start in progress to end (it ends at once; then cancelled).
START_END_S = 2 * LOG_DRAIN_S + 1.0


class InstanceKilled(Exception):
    """A kill began while the instance was waiting to start."""


class TimerHandle(Protocol):
    """A started timer (``asyncio.TimerHandle``, or a test's): it can be cancelled."""

    def cancel(self) -> None:
        """Make sure the timer never fires."""
        ...


H = TypeVar("H", bound="LifecycleHook")


@dataclass(frozen=True)
class LifecycleHook:
    """An ``instanceLifecycleConfig`` hook: its handler and timeout (s)."""

    handler: str
    timeout: int
    #: Its key in ``instanceLifecycleConfig``.
    KEY: ClassVar[str] = ""

    @classmethod
    def of(cls: type[H], function: Function) -> H | None:
        """The function's hook, or None when it has none."""
        config = (function.instance_lifecycle_config or {}).get(cls.KEY)
        if not isinstance(config, dict) or not config.get("handler"):
            return None
        timeout = config.get("timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            timeout = function.timeout  # fcemu: no timeout of its own → the function's
        return cls(str(config["handler"]), timeout)


@dataclass(frozen=True)
class Initializer(LifecycleHook):
    """``instanceLifecycleConfig.initializer``: ``module.function`` and its timeout (s)."""

    KEY: ClassVar[str] = "initializer"


@dataclass(frozen=True)
class PreStop(LifecycleHook):
    """``instanceLifecycleConfig.preStop``: its handler and timeout (s)."""

    KEY: ClassVar[str] = "preStop"


def init_timeout_outcome(timeout_s: int, duration_ms: int, max_memory_mb: int,
                         **kw: Any) -> Outcome:
    """fcemu's initializer timeout (FC documents the error type, not the text)."""
    message = (f"Function initialization timed out after {timeout_s} seconds "
               f"(maxMemoryUsage: {max_memory_mb}MB)")
    return Outcome("timeout", error_body(message), INITIALIZATION_ERROR, duration_ms,
                   max_memory_mb, **kw)


class Instance(MemoryLimit):
    """One warm process tree of one function. Subclasses run the process and its protocol."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 contained: Containment | None = None) -> None:
        #: The instance's processes; None until started.
        self.tree: Contained | None = None
        self._containment = contained
        #: The process's fd-level output; what belongs to no request is the instance's log.
        self.log = LogStream()
        self._spawning = False
        self._spawned = asyncio.Event()
        self._killing = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self.function_name = function.name
        #: Instances of a published version and of LATEST are kept apart (their own code).
        self.group = (function.name, function.version_id)
        self.key = key
        self.instance_id = instance_id
        self.capacity = max(1, function.instance_concurrency)
        #: Requests holding a slot now.
        self.active = 0
        #: False once the instance must take no more requests (dead, killed, failed init).
        self.healthy = True
        self.retired = False
        #: Requests stopped on this instance (their outcome is ``stopped``, not ``crash``).
        self.stopped: set[str] = set()
        super().__init__(function.memory_size)  # memorySize: final_mem_mb, oom_kb, the watch
        self.idle_timer: TimerHandle | None = None
        self._ready: asyncio.Future[Outcome | None] | None = None
        self._first_request = ""

    # -- start ------------------------------------------------------------------------

    async def prepare(self, invocation: Invocation) -> Outcome | None:
        """Start the process and run the initializer, once; None when ready.

        Every request that arrives while the instance starts waits for the
        same start. A failure outcome goes to each of them; its log belongs
        to the request that started the instance.
        """
        if self._ready is None:
            self._first_request = invocation.request_id
            self._ready = asyncio.ensure_future(self._prepare(invocation))
            self._ready.add_done_callback(_consume)
        ready = self._ready
        # a warm instance's start is long done: its result without a shield per request
        outcome = ready.result() if ready.done() else await asyncio.shield(ready)
        if outcome is not None and invocation.request_id != self._first_request:
            outcome = dataclasses.replace(outcome, logs=framed(invocation.request_id, ""))
        return outcome

    async def _prepare(self, invocation: Invocation) -> Outcome | None:
        raise NotImplementedError

    async def chosen_containment(self) -> Containment:
        """How this instance is contained (its command line and environment depend on it:
        ``/code`` paths and ports in a sandbox); the first choice of the process probes the
        launcher, off the loop."""
        if self._containment is None:
            self._containment = await asyncio.to_thread(containment)
        return self._containment

    async def spawn(self, command: Sequence[str], *, cwd: Path, env: dict[str, str],
                    stdin: int, stdout: int, stderr: int,
                    readers: Callable[[], list[Coroutine[Any, Any, None]]],
                    sandbox: Sandbox | None = None,
                    sinks: Mapping[int, PipeSink] | None = None) -> None:
        """Start the instance's processes and the tasks reading their output; in ``bwrap``
        containment inside ``sandbox`` (default: ``cwd`` at ``/code``). ``sinks`` read
        output pipes in their callbacks (:mod:`fcemu.runtime.pipes`); a reader then waits
        for its sink's end, so that a kill still drains that pipe.

        :raises ProcessLookupError: the instance was killed before it started.
        """
        if self._killing.is_set():
            raise ProcessLookupError("the instance was stopped before it started")
        self._spawning = True
        try:
            chosen = await self.chosen_containment()
            self.tree = await Contained.spawn(chosen, command, cwd=cwd, env=env, stdin=stdin,
                                              stdout=stdout, stderr=stderr, sandbox=sandbox,
                                              sinks=sinks)
            self._readers = [asyncio.create_task(reader) for reader in readers()]
        finally:
            self._spawning = False
            self._spawned.set()

    async def execute(self, invocation: Invocation) -> Outcome:
        """Run one request on the ready instance; never raises for handler failures."""
        raise NotImplementedError

    def begin(self, invocation: Invocation, reply: asyncio.Future[Any]) -> bool:
        """Start a request at once, from the pool's hand-off of a slot, if the instance is
        warm and can take it without waiting; ``reply`` is then settled with its answer
        (or its timeout, or the process's end), and :meth:`finish` makes its outcome.
        False (the request goes the usual way: :meth:`prepare`, :meth:`execute`) by default."""
        return False

    async def finish(self, invocation: Invocation) -> Outcome:
        """The outcome of a request :meth:`begin` started, once its reply is settled."""
        raise NotImplementedError

    def abandon(self, request_id: str) -> None:
        """Forget a request :meth:`begin` started whose caller was cancelled."""

    # -- the processes ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """A kill has begun: the instance serves nothing more and its start is cancelled."""
        return self._killing.is_set()

    async def until_killed(self, timeout: float | None) -> bool:
        """Wait (at most ``timeout`` real seconds) for a kill to begin; whether it has."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._killing.wait(), timeout)
        return self.stopping

    async def unless_killed(self, awaitable: Awaitable[T], timeout: float) -> T:
        """``awaitable``'s result, or :class:`InstanceKilled` as soon as a kill begins;
        ``asyncio.TimeoutError`` after ``timeout`` real seconds."""
        work = asyncio.ensure_future(awaitable)
        killed = asyncio.ensure_future(self._killing.wait())
        try:
            done, _ = await asyncio.wait({work, killed}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            killed.cancel()
            if not work.done():
                work.cancel()
                work.add_done_callback(_consume)
        if work in done:
            return work.result()
        if killed in done or self.stopping:
            raise InstanceKilled("the instance was stopped while it started")
        raise asyncio.TimeoutError

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        """The launcher's process: its pipes are the instance's stdin/stdout/stderr."""
        return self.tree.proc if self.tree is not None else None

    @property
    def exited(self) -> bool:
        tree = self.tree
        return tree is not None and tree.protocol.gone

    @property
    def pid(self) -> int | None:
        """The handler's own process (the worker, the custom runtime's command)."""
        return self.tree.handler_pid() if self.tree is not None else None

    def pre_stop_due(self) -> bool:
        """Whether a kill beginning now is one the PreStop hook runs before (if the function
        has one): the pool took a started, idle instance out of service (idle expiry, an
        updated or deleted function, a reset, shutdown); not a timeout, a stop, a crash, a
        failed start or initializer, or ``memorySize``."""
        started = self._ready
        return (self.retired and not self.stopping and self.active == 0 and not self.oom_kb
                and not self.stopped and self.tree is not None and not self.exited
                and started is not None and started.done() and not started.cancelled()
                and started.exception() is None and started.result() is None)

    async def kill(self) -> None:
        """Kill every process of the instance, then drain (boundedly) and close its output.

        Safe to repeat; never waits on a pipe some process may still hold. A start in
        progress is cancelled: this returns once it has ended.
        """
        self._killing.set()
        try:
            await self._kill()
        finally:
            await self._end_start()

    async def _end_start(self) -> None:
        start = self._ready
        if start is None or start.done() or start is asyncio.current_task():
            return
        await asyncio.wait({start}, timeout=START_END_S)
        if not start.done():  # a start that ignored the kill: it must not outlive it
            start.cancel()

    async def _kill(self) -> None:
        if self._spawning:
            await self._spawned.wait()
        watcher = self._watcher
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
        tree = self.tree
        if tree is None:
            return
        if not tree.exited:
            self.final_mem_mb = self.final_mem_mb or self.peak_mb()
        await tree.kill()
        proc = tree.proc
        if proc.stdin is not None:
            proc.stdin.close()
        readers = {r for r in self._readers if not r.done()}
        if readers:
            _, readers = await asyncio.wait(readers, timeout=LOG_DRAIN_S)
        tree.close()  # the readers see the end of their pipes
        if readers:
            _, readers = await asyncio.wait(readers, timeout=LOG_DRAIN_S)
            for reader in readers:
                reader.cancel()

    # -- what the pool shows ------------------------------------------------------------------

    def instance_log(self) -> str:
        """Output that belongs to no request (start-up, fd-level writes of threaded workers)."""
        return self.log.instance_log.decode("utf-8", "replace")

    def describe(self) -> dict[str, Any]:
        """What ``Runtimes.instances()`` shows of this instance."""
        return {"instanceId": self.instance_id, "functionName": self.function_name,
                "versionId": self.group[1], "pid": self.pid, "active": self.active,
                "capacity": self.capacity, "healthy": self.healthy,
                "memoryLimitMB": self.memory_limit_mb,
                "log": self.instance_log()}


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
