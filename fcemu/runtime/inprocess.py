"""In-process runtime: a Python callable registered through the Python API.

``handler(event: bytes, context)`` runs inside the emulator's own process:
plain functions on a thread pool this runtime owns, ``async def`` functions
as tasks on the emulator's loop. The context and the result/error shapes are
the worker runtime's (:mod:`fcemu.runtime.handler_api`), so a handler
behaves the same when it moves into a code directory. What a handler prints
or logs is captured per request (:mod:`fcemu.runtime.capture`) and framed by
the FC markers, as the worker runtime does.

The hand-off is lean (issue 13: it was a quarter of a sync invoke's CPU): a plain
handler's thread settles the invocation's one loop future with ``call_soon_threadsafe``
(no ``run_in_executor`` future chaining), and that future is also what a stop or the
timeout (one loop timer for every execution's limit) settles, so waiting costs no
``asyncio.wait``. Whether a handler is ``async`` is asked once per handler. The
process's resident size for ``max_memory_mb`` is read at most every
:data:`RSS_EVERY_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fcemu.clock import real_monotonic
from fcemu.runtime.capture import Capture, function_logger, install
from fcemu.runtime.handler_api import (
    encode_failure,
    encode_result,
    exception_body,
    format_exception,
    make_context,
    maxrss_kb,
)
from fcemu.runtime.inprocess_threads import Executor, Handoff, Job, StopFlag
from fcemu.runtime.invocation import (
    Invocation,
    Outcome,
    crash_outcome,
    kb_to_mb,
    timeout_outcome,
)
from fcemu.runtime.logs import framed
from fcemu.runtime.procfs import proc_status_kb
from fcemu.runtime.protocol import UNHANDLED, error_body

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator


#: How often (real seconds) the process's resident size is read again for max_memory_mb.
RSS_EVERY_S = 0.5


class _Execution:
    """One invocation's stop flag and wake-up, and whether it was stopped."""

    __slots__ = ("stop_flag", "stopped", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.stop_flag: threading.Event = StopFlag()
        #: Settled when the handler ends, the execution is stopped, or its time is up. The
        #: loop's Future, as its create_future() makes it, without that method's Python frame
        #: (issue 13: 1.3k instructions a task).
        self.wake: asyncio.Future[None] = asyncio.Future(loop=loop or asyncio.get_running_loop())
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        self.stop_flag.set()
        self.awake()

    def awake(self, *_: object) -> None:
        if not self.wake.done():
            self.wake.set_result(None)


#: How early the loop runs a timer (asyncio's ``_clock_resolution``): a limit this close
#: is due, as ``call_later``'s would be.
_RESOLUTION = time.get_clock_info("monotonic").resolution


class _Deadlines:
    """The executions' time limits, behind one loop timer for the earliest (issue 13: a
    ``call_later`` for each invocation, cancelled as soon as the handler returned, was a
    twentieth of a task's CPU). An ended execution's limit stays in the heap: those at the
    top go as limits are added, and all of them at once when they may be half the heap
    (asyncio's rule for its cancelled timers)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Execution]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._ended = 0  # executions ended since the last sweep (some may be gone already)

    def add(self, execution: _Execution, timeout_s: float) -> None:
        """Wake ``execution`` once ``timeout_s`` real seconds are over."""
        loop = asyncio.get_running_loop()
        at = loop.time() + timeout_s
        heap = self._heap
        while heap and heap[0][2].wake.done():
            heapq.heappop(heap)
        heapq.heappush(heap, (at, next(self._seq), execution))
        if self._timer is None or at < self._timer.when():
            self._arm(loop)

    def ended(self) -> None:
        """An execution with a limit ended (or was woken): sweep when many did."""
        self._ended += 1
        if self._ended > 64 and 2 * self._ended > len(self._heap):
            self._ended = 0
            self._heap = [entry for entry in self._heap if not entry[2].wake.done()]
            heapq.heapify(self._heap)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap = []

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            self._timer = loop.call_at(self._heap[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + _RESOLUTION
        heap = self._heap
        while heap and (heap[0][0] <= now or heap[0][2].wake.done()):
            heapq.heappop(heap)[2].awake()
        self._arm(loop)


class InProcessRuntime:
    """Runs ``Function.inprocess_handler`` callables in this process.

    Timeouts are ``function.timeout`` seconds of real time. An ``async def``
    handler that times out or is stopped is cancelled. A plain handler
    cannot be killed: its outcome (``timeout`` or ``stopped``) is returned at
    once and ``context.stop_requested`` (a :class:`threading.Event`) is set,
    but the thread runs on in the background until the handler returns, so a
    handler that loops should poll that flag. Such a thread keeps a pool slot
    busy meanwhile, and ``close()`` does not wait for it.

    ``max_memory_mb`` is the emulator process's own resident size (there is no
    separate instance to measure). Each function has one ``instance_id``,
    stable until :meth:`discard`.

    Such a handler cannot be isolated: it shares the server's environment
    (``os.environ``, not FC's), memory and process, so ``memorySize`` is not
    enforced, and what it starts is not contained (:mod:`fcemu.runtime.contain`).
    """

    def __init__(self, ids: IdGenerator, *, max_workers: int = 16) -> None:
        self._ids = ids
        self._executor = Executor(max_workers, thread_name_prefix="fcemu-handler")
        self._instances: dict[str, str] = {}
        self._running: dict[str, _Execution] = {}
        #: Per function: its handler and whether it is ``async`` (inspect's answer, kept
        #: while the handler is the same object: it is a tenth of a task's CPU otherwise).
        self._kinds: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._deadlines = _Deadlines()
        self._handoff: Handoff | None = None

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the callable once; failures, timeouts and stops come back as outcomes."""
        function = invocation.function
        handler = function.inprocess_handler
        assert handler is not None, "InProcessRuntime needs Function.inprocess_handler"
        instance_id = self._instance_id(function.name)
        execution = _Execution(asyncio.get_running_loop())
        log_config = function.extra.get("logConfig")
        log_config = log_config if isinstance(log_config, dict) else {}
        context = make_context(
            invocation.request_id,
            {"name": function.name, "handler": function.handler, "memory": function.memory_size,
             "timeout": function.timeout, "runtime": function.runtime,
             "qualifier": invocation.qualifier, "version_id": function.version_id,
             "log_project": log_config.get("project", ""),
             "log_store": log_config.get("logstore", "")},
            invocation.region, invocation.account_id, vars(invocation.credentials),
            execution.stop_flag, function_logger())
        self._running[invocation.request_id] = execution
        capture = Capture(invocation.request_id)
        install()
        started = real_monotonic()
        kind = self._kinds.get(function.name)
        if kind is None or kind[0] is not handler:
            kind = self._kinds[function.name] = (handler, _is_async(handler))
        work = self._start(handler, kind[1], invocation.payload, context, capture, execution)
        try:
            if not work.done():  # wait for the handler, a stop or the time limit
                self._deadlines.add(execution, function.timeout)
                try:
                    await execution.wake
                finally:
                    execution.awake()  # when cancelled: its limit can go with the next sweep
                    self._deadlines.ended()
            finished = work.done()  # False: timed out or stopped
        finally:
            self._running.pop(invocation.request_id, None)
            if not work.done():
                execution.stop_flag.set()
                work.cancel()
        duration_ms = int((real_monotonic() - started) * 1000)
        if execution.stopped:  # even if it returned: a handler may end early on the flag
            return crash_outcome(duration_ms, _rss_mb(), kind="stopped", instance_id=instance_id,
                                 logs=framed(invocation.request_id, capture.text()))
        if finished:
            if isinstance(work, Job):
                outcome = _returned(work.value, work.error, duration_ms, instance_id, capture)
            else:
                outcome = _result(work, duration_ms, instance_id, capture)
        else:
            outcome = timeout_outcome(function.timeout, duration_ms, _rss_mb(),
                                      instance_id=instance_id)
        outcome.logs = framed(invocation.request_id, capture.text())
        return outcome

    async def stop(self, request_id: str) -> bool:
        """Flag the execution and end it now with a ``stopped`` outcome."""
        execution = self._running.get(request_id)
        if execution is None:
            return False
        execution.stop()
        return True

    async def discard(self, function_name: str) -> None:
        """Forget the function's instance; the next invocation gets a new instance ID."""
        self._instances.pop(function_name, None)
        self._kinds.pop(function_name, None)

    async def close(self) -> None:
        """Stop every running execution and shut the thread pool down without waiting."""
        for execution in list(self._running.values()):
            execution.stop()
        self._deadlines.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _instance_id(self, function_name: str) -> str:
        if function_name not in self._instances:
            self._instances[function_name] = self._ids.instance_id()
        return self._instances[function_name]

    def _start(self, handler: Callable[..., Any], is_async: bool, payload: bytes,
               context: object, capture: Capture, execution: _Execution
               ) -> asyncio.Future[Any] | Job:
        if is_async:
            work = asyncio.ensure_future(_call_async(handler, payload, context, capture))
            # work abandoned on timeout may fail later, when nobody is left to read the error
            work.add_done_callback(_consume)
            work.add_done_callback(execution.awake)
            return work
        # a pool thread does not carry the context: run the handler in a copy of it
        request_context = contextvars.copy_context()
        request_context.run(capture.activate)
        loop = asyncio.get_running_loop()
        handoff = self._handoff
        if handoff is None or handoff.loop is not loop:
            handoff = self._handoff = Handoff(loop)
        job = Job(handler, payload, context, request_context, handoff, execution)
        self._executor.run_soon(job)  # at most one wake-up of the loop when it ends
        return job


async def _call_async(handler: Callable[..., Awaitable[Any]], payload: bytes,
                      context: object, capture: Capture) -> Any:
    capture.activate()  # this task's own context: the capture ends with it
    return await handler(payload, context)


def _is_async(handler: Callable[..., Any]) -> bool:
    # type(...).__call__ covers objects whose __call__ is an async def
    return (inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(type(handler).__call__))


def _consume(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()


def _result(work: asyncio.Future[Any], duration_ms: int, instance_id: str,
            capture: Capture) -> Outcome:
    memory = _rss_mb()
    if work.cancelled():
        body = error_body("the handler was cancelled", "CancelledError", [])
        return Outcome("error", body, UNHANDLED, duration_ms, memory, instance_id)
    exc = work.exception()
    value = work.result() if exc is None else None
    return _returned(value, exc, duration_ms, instance_id, capture, memory)


def _returned(value: Any, exc: BaseException | None, duration_ms: int, instance_id: str,
              capture: Capture, memory: int | None = None) -> Outcome:
    """The outcome of a handler that returned ``value`` or raised ``exc``."""
    if memory is None:
        memory = _rss_mb()
    if exc is not None:
        capture.write(format_exception(exc))  # the worker runtime logs it too
        return Outcome("error", exception_body(exc), UNHANDLED, duration_ms, memory, instance_id)
    if inspect.iscoroutine(value):
        value.close()  # a plain callable returned a coroutine: never awaited, say so below
    try:
        body = encode_result(value)
    except Exception as failure:  # unsupported type, json.dumps refusing it, the value's code
        line, body = encode_failure(failure)
        capture.write(f"{line}\n")
        return Outcome("error", body, UNHANDLED, duration_ms, memory, instance_id)
    return Outcome("ok", body, "", duration_ms, memory, instance_id)


_rss_cache: list[float] = [-RSS_EVERY_S, 0.0]  # [read at (monotonic s), MB]


def _rss_mb() -> int:
    """The emulator process's resident size (read at most every :data:`RSS_EVERY_S`), or
    its peak where /proc is missing."""
    now = real_monotonic()
    if now - _rss_cache[0] >= RSS_EVERY_S:
        kb = proc_status_kb("self", "VmRSS")
        _rss_cache[:] = [now, kb_to_mb(kb if kb is not None else maxrss_kb())]
    return int(_rss_cache[1])
