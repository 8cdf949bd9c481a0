"""A worker process's requests: frames out, replies back (:class:`WorkerRequests`).

The half of :class:`fcemu.runtime.worker.WorkerInstance` that serves requests once the
process is up: each request is one frame on the process's stdin
(:mod:`fcemu.runtime.frames`, the protocol of :mod:`fcemu.runtime._worker_main`) and one
reply frame back on its protocol pipe; its log (its base class,
:class:`~fcemu.runtime.worker_logs.WorkerLogs`) is the process's output between FC's
``FC Invoke Start``/``End`` markers (one request at a time), or the ``log`` frames of
its thread (``instanceConcurrency`` above 1).

The instance's requests share one deadline
timer; a request the pool's hand-off started (:meth:`WorkerRequests.begin`) is answered
by :meth:`WorkerRequests.finish`. A process that ends fails every pending request as a
crash (``Process exited unexpectedly``), a timeout kills the instance.
"""

from __future__ import annotations

import asyncio
import binascii
from typing import TYPE_CHECKING, Any

from fcemu.clock import real_monotonic
from fcemu.runtime.frames import FrameWriter, invoke_frame
from fcemu.runtime.invocation import (
    Invocation,
    Outcome,
    OutcomeKind,
    crash_outcome,
    kb_to_mb,
    timeout_outcome,
)
from fcemu.runtime.logs import end_marker
from fcemu.runtime.pool import Key
from fcemu.runtime.protocol import (
    INITIALIZATION_ERROR,
    RESULT_BODY,
    RESULT_CHILDREN,
    RESULT_ERROR_TYPE,
    RESULT_FIELDS,
    RESULT_KIND,
    RESULT_MAXRSS_KB,
    RESULT_REQUEST_ID,
)
from fcemu.runtime.worker_logs import WorkerLogs

if TYPE_CHECKING:
    from fcemu.models import Function
    from fcemu.runtime.contain import Containment

__all__ = ["WorkerRequests"]

#: Real seconds to wait for the rest of a request's log once its process has answered.
_LOG_DRAIN_S = 2.0
#: A pending request: its reply future, its deadline (loop time), when begin() began it.
_Pending = tuple[asyncio.Future[list[Any]], float | None, float | None]


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


class WorkerRequests(WorkerLogs):
    """The requests of one worker process (see the module docstring)."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 contained: Containment | None = None) -> None:
        super().__init__(function, key, instance_id, contained)
        #: Each request sent and not collected yet: its reply future (a ``result`` frame,
        #: ``protocol.RESULT_*``), the loop time by which it must have its reply (None: no
        #: timeout) and, if :meth:`begin` started it, when it began (real seconds): one entry
        #: a request, not a dictionary for each. One timer watches the deadlines
        #: (:meth:`_deadlines_due`).
        self._pending: dict[str, _Pending] = {}
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_at = 0.0
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self._pipe_closed = False
        #: The process's stdin, which takes the request frames (set once the process is up).
        self._frames: FrameWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The loop's time is :func:`real_monotonic` (the emulator's loop): a deadline is then
        #: reckoned from the time a request began, without asking the loop.
        self._real_time = False
        #: Started, and its initializer (if any) succeeded: it takes requests.
        self._warm = False

    # -- requests ---------------------------------------------------------------------

    async def execute(self, invocation: Invocation) -> Outcome:
        function, request_id = invocation.function, invocation.request_id
        started = real_monotonic()
        self.watch_begin(started)  # watching_memory(), without a generator per request
        frame = invoke_frame(invocation, self._mark_start(request_id))
        try:
            try:
                reply = await self._call(request_id, frame, function.timeout)
            finally:
                self._watching -= 1
        except asyncio.TimeoutError:
            return await self._timed_out(invocation, started)
        except _WorkerGone:
            return await self._gone(request_id, started)
        return self._answered_now(invocation, started, reply) or await self._answer(
            invocation, started, reply)

    def begin(self, invocation: Invocation, reply: asyncio.Future[Any]) -> bool:
        """Start the request now (the pool's hand-off) if the instance is warm and its frame
        goes into the pipe without waiting: nothing else is waiting to write, and nothing
        of an earlier frame is still queued for the pipe."""
        tree, frames = self.tree, self._frames
        if (not self._warm or not self.healthy or self.retired or self._pipe_closed
                or tree is None or tree.protocol.gone or self._killing.is_set()
                or frames is None or (frames.queued and not frames.free())):
            return False
        request_id = invocation.request_id
        began = real_monotonic()
        self.watch_begin(began)
        frame = invoke_frame(invocation, self._mark_start(request_id))
        self._send(request_id, frame, invocation.function.timeout, reply, began)
        return True

    async def finish(self, invocation: Invocation) -> Outcome:
        """The outcome of a request :meth:`begin` started; its reply has come."""
        request_id = invocation.request_id
        future, _, started = self._pending.pop(request_id)
        assert started is not None  # begin() noted it
        self._watching -= 1
        try:
            reply = future.result()
        except asyncio.TimeoutError:
            return await self._timed_out(invocation, started)
        except _WorkerGone:
            return await self._gone(request_id, started)
        # usually made at once, without a coroutine (an Outcome is always true)
        return self._answered_now(invocation, started, reply) or await self._answer(
            invocation, started, reply)

    def abandon(self, request_id: str) -> None:
        pending = self._pending.get(request_id)
        if pending is not None and pending[2] is not None:  # begin() started it
            self._watching -= 1
            del self._pending[request_id]
            future = pending[0]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved

    async def _timed_out(self, invocation: Invocation, started: float) -> Outcome:
        duration_ms = _ms_since(started)
        memory = self.peak_mb()  # before the kill: /proc forgets a dead process
        self.healthy = False
        await self.kill()
        return timeout_outcome(invocation.function.timeout, duration_ms, memory,
                               instance_id=self.instance_id,
                               logs=self._take_log(invocation.request_id))

    def _answered_now(self, invocation: Invocation, started: float,
                      reply: list[Any]) -> Outcome | None:
        """The outcome of an answered request, if it needs no waiting: the instance stayed
        within its memory, and the request's End line has come (with one request at a time,
        it usually came with the reply). None otherwise: then :meth:`_answer` makes it."""
        request_id, reported = invocation.request_id, int(reply[RESULT_MAXRSS_KB])
        if reported > self.reported_kb:
            self.reported_kb = reported
        now = real_monotonic()
        if self.over_memory(reported, not reply[RESULT_CHILDREN], now):
            return None
        start = end = None
        if not self.threaded:
            markers = self._markers
            if markers[0] is request_id:  # its lines, as _mark_start built them (usually)
                _, start, end = markers
            else:
                end = end_marker(request_id)
            if not self.log.has(end):
                return None
        # seen_peak_mb(), oom_kb being 0 here: comparisons cost a fraction of a max()
        peak = self._peak_kb if self._peak_kb > self.reported_kb else self.reported_kb
        # base64.b64decode without its Python wrapper (the worker's body is ASCII base64)
        return Outcome(reply[RESULT_KIND], binascii.a2b_base64(reply[RESULT_BODY]),
                       reply[RESULT_ERROR_TYPE], int((now - started) * 1000), kb_to_mb(peak),
                       self.instance_id, self._take_log(request_id, "Invoke", end, start))

    async def _answer(self, invocation: Invocation, started: float,
                      reply: list[Any]) -> Outcome:
        """The outcome of an answered request that :meth:`_answered_now` could not make at
        once: the instance went over its memory, or the End line is still to come (one
        request at a time: waited for, a bounded moment)."""
        request_id = invocation.request_id
        if self.oom_kb:
            return await self._gone(request_id, started)
        duration_ms, end = _ms_since(started), None
        if not self.threaded:
            end = end_marker(request_id)
            await self.log.wait_for(end, _LOG_DRAIN_S)
        return Outcome(reply[RESULT_KIND], binascii.a2b_base64(reply[RESULT_BODY]),
                       reply[RESULT_ERROR_TYPE], duration_ms, self.seen_peak_mb(),
                       self.instance_id, self._take_log(request_id, "Invoke", end))

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
                    timeout: float | None = None) -> list[Any]:
        """Send one request's frame and wait for its reply; _WorkerGone if the process ends first,
        ``asyncio.TimeoutError`` after ``timeout`` real seconds.

        The deadline is noted for the instance's deadline timer (no task per request, as
        ``asyncio.wait_for`` would make, nor a timer to arm and cancel per request); a frame
        goes into the pipe whole, so only a pipe that is full (a large payload, a worker not
        reading) waits, in order, to drain.
        """
        frames = self._frames
        assert frames is not None
        if self._pipe_closed or self.exited:
            raise _WorkerGone("process ended")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        deadline = self._send(request_id, frame, timeout, future)
        try:
            if frames.queued and not frames.free():
                async with frames.lock:
                    left = None if deadline is None else max(0.0, deadline - loop.time())
                    await asyncio.wait_for(frames.stdin.drain(), left)
            return await future
        except ConnectionError as exc:
            raise _WorkerGone(str(exc)) from exc
        finally:
            if future.done() and not future.cancelled():
                future.exception()  # a deadline that fired while the pipe drained: retrieved
            self._pending.pop(request_id, None)

    def _send(self, request_id: str, frame: bytes, timeout: float | None,
              future: asyncio.Future[Any], began: float | None = None) -> float | None:
        """Note the request's reply future and deadline, and write its frame (whole:
        :class:`FrameWriter`); the deadline (loop time). ``began``: :func:`real_monotonic`,
        read just before, when :meth:`begin` starts the request."""
        deadline = None
        if timeout is not None:
            loop = self._loop
            assert loop is not None
            now = began if began is not None and self._real_time else loop.time()
            deadline = now + timeout
            timer = self._deadline_timer
            if timer is None or self._deadline_at > deadline:
                if timer is not None:
                    timer.cancel()
                self._deadline_timer = loop.call_at(deadline, self._deadlines_due)
                self._deadline_at = deadline
        self._pending[request_id] = (future, deadline, began)
        assert self._frames is not None
        self._frames.write(frame)
        return deadline

    def _deadlines_due(self) -> None:
        """The deadline timer: time out each pending request whose deadline has come, then
        wait for the earliest left. Requests one after another keep it armed for an earlier
        request's deadline; firing then, it finds theirs later and waits for those (a request
        answered or timed out already has none left)."""
        self._deadline_timer = None
        loop = asyncio.get_running_loop()
        now, earliest = loop.time(), None
        for future, deadline, _ in list(self._pending.values()):
            if deadline is None or future.done():
                continue
            if deadline <= now:
                _time_out(future)
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None and not self._pipe_closed:
            self._deadline_at = earliest
            self._deadline_timer = loop.call_at(earliest, self._deadlines_due)

    # -- the process ----------------------------------------------------------------------

    def _on_frame(self, frame: Any) -> None:
        """Route a frame from the child (in the pipe's callback): results (arrays), hello,
        log lines; a result without all its fields breaks the protocol (``ValueError``)."""
        if frame.__class__ is list:
            if frame[0] != "result":
                return
            if len(frame) < RESULT_FIELDS:
                raise ValueError("a result frame without all its fields")
            request_id = frame[RESULT_REQUEST_ID]
            if self._unanswered:
                self._answered(request_id)
            pending = self._pending.get(request_id)
            if pending is not None and not pending[0].done():
                pending[0].set_result(frame)
            return
        kind = frame.get("type")
        if kind == "log":
            self._add_log(frame["request_id"], frame["data"])
        elif kind == "hello" and self._hello is not None and not self._hello.done():
            self._hello.set_result(frame)

    def _frames_ended(self) -> None:
        """The protocol pipe ended (or carried a broken frame): nothing more will answer."""
        self._pipe_closed = True
        if self._deadline_timer is not None:  # it would keep the instance until it fired
            self._deadline_timer.cancel()
            self._deadline_timer = None
        for future in [*(pending[0] for pending in self._pending.values()), self._hello]:
            if future is not None and not future.done():
                future.set_exception(_WorkerGone("process ended"))
