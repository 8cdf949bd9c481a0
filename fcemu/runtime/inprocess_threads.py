"""The in-process runtime's handler threads: the pool plain handlers run on, the job that
runs one, the hand-off of results back to the loop, and ``context.stop_requested``.

Each piece is the standard library's with the parts an in-process invocation never uses
left out (issue 13: the hand-off was a fifth of an in-process task's CPU):

* :class:`Executor` is a ``ThreadPoolExecutor`` (the same threads, queue, shutdown and
  interpreter-exit join) that takes a :class:`Job` straight into its queue
  (:meth:`Executor.run_soon`): no ``concurrent.futures.Future`` per invocation (a
  condition and its lock, set running and set done, each under that lock), no work item,
  no closure. Once all its threads are started it neither asks whether one is idle
  before queueing (the stock check waits on a condition whenever none is) nor counts a
  thread idle after each job (a semaphore release: a lock and a notify on the handler's
  thread).
* :class:`Handoff` brings finished jobs back to the loop: one ``call_soon_threadsafe``
  for every job that finishes before the loop gets to them.
* :class:`StopFlag` (:mod:`fcemu.runtime.handler_api`'s, shared with the worker process)
  is a ``threading.Event`` that builds its condition the first time a thread waits on it
  or sets it: most executions never do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread as _stdlib_pool
import contextvars
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fcemu.runtime.handler_api import StopFlag

__all__ = ["Executor", "Handoff", "Job", "StopFlag"]

class _Idle:
    """What the pool's threads count themselves idle on once all are started: nothing."""

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        return False

    def release(self, n: int = 1) -> None:
        pass


class Executor(ThreadPoolExecutor):
    """A thread pool for plain handlers (see the module docstring): ``submit`` works as
    ever; :meth:`run_soon` queues a :class:`Job` with no future."""

    def run_soon(self, job: Job) -> None:
        """Queue ``job`` for the next free thread (a new one while fewer than the most are
        started and none is idle); RuntimeError after shutdown, as ``submit``."""
        if self._shutdown or _stdlib_pool._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        self._work_queue.put(job)  # type: ignore[arg-type]
        if len(self._threads) < self._max_workers:
            self._adjust_thread_count()

    def _adjust_thread_count(self) -> None:
        if len(self._threads) < self._max_workers:
            super()._adjust_thread_count()
            if len(self._threads) >= self._max_workers:
                self._idle_semaphore = _Idle()  # type: ignore[assignment]


class Job:
    """One plain handler's run on a pool thread, and its result: ``value`` or ``error``,
    read on the loop once :class:`Handoff` has brought it back there (``settled``), unless
    given up on first (:meth:`cancel`: a timeout or stop; what it returns is dropped).

    It is also the pool's queue item: ``future.cancel()`` is what a shutdown that cancels
    queued work calls."""

    __slots__ = (
        "context",
        "dropped",
        "error",
        "handler",
        "handoff",
        "owner",
        "payload",
        "request_context",
        "settled",
        "value",
    )

    def __init__(self, handler: Callable[..., Any], payload: bytes, context: object,
                 request_context: contextvars.Context, handoff: Handoff, owner: Any) -> None:
        self.handler = handler
        self.payload = payload
        self.context = context
        self.request_context = request_context
        self.handoff = handoff
        #: Told on the loop when the job is back (``owner.awake()``): the execution.
        self.owner = owner
        self.value: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.dropped = False

    def run(self) -> None:
        """On a pool thread: the handler's value or exception, then back to the loop."""
        try:
            self.value = self.request_context.run(self.handler, self.payload, self.context)
        except BaseException as exc:  # the handler's failure is its outcome
            self.error = exc
        try:
            self.handoff.put(self)
        except BaseException:  # a closed loop: nobody is left to read the result
            pass

    @property
    def future(self) -> Job:
        return self

    def cancel(self) -> bool:
        """Give up on the job (its result is dropped when it comes); False once done."""
        if self.settled or self.dropped:
            return False
        self.dropped = True
        return True

    def done(self) -> bool:
        """Back on the loop, or given up on."""
        return self.settled or self.dropped


class Handoff:
    """Finished jobs, from the pool threads to the loop: one ``call_soon_threadsafe`` (a
    loop callback and a write to its wake-up socket) for all the jobs that finish before
    the loop gets to them, not one each (issue 13). A thread appends, then arms; the loop
    disarms, then takes every job: none is left behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._jobs: deque[Job] = deque()
        self._armed = False

    def put(self, job: Job) -> None:
        """On a pool thread."""
        self._jobs.append(job)
        if not self._armed:
            self._armed = True
            try:
                self.loop.call_soon_threadsafe(self._flush)
            except BaseException:
                self._armed = False
                raise

    def _flush(self) -> None:
        self._armed = False
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            if not job.dropped:  # not given up on (a timeout or stop leaves it pending)
                job.settled = True
            job.owner.awake()
