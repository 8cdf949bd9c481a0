"""Emulator time: the clocks domain code reads, and the scheduler that fires timers on them.

Every timestamp, TTL, backoff and retention cut-off in fcemu is read from a
:class:`Clock` in integer milliseconds since the epoch (FC's unit). The
server's own event loop never reads that clock for its own scheduling: in
``real`` mode a timer is turned into a loop ``call_later`` (loop time is real
monotonic time), and in ``manual`` mode timers fire only when the clock is
moved (:meth:`Scheduler.advance`, :meth:`Scheduler.set`, :meth:`Scheduler.drain`).

Prior art: trio's ``MockClock`` (``jump`` + ``wait_all_tasks_blocked``).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal, Protocol, final

log = logging.getLogger("fcemu.clock")

# Captured once, inside containers that freezegun's module scan does not look
# into, so that freezing wall time in a test cannot stall the emulator's loop
# or move its real clock (DESIGN.md principle 2).
_REAL: Final[dict[str, Callable[[], Any]]] = {
    "monotonic": time.monotonic,
    "monotonic_ns": time.monotonic_ns,
    "time_ns": time.time_ns,
}
_WALL0_NS: Final[int] = _REAL["time_ns"]()
_MONO0_NS: Final[int] = _REAL["monotonic_ns"]()

TimerKind = Literal["task", "housekeeping"]

#: The latest time a clock can show: 9999-12-31T23:59:59.999Z (the end of ISO 8601's
#: four-digit years, and of what ``datetime`` and FC's RFC 3339 times can write).
MAX_EPOCH_MS: Final[int] = 253_402_300_799_999
#: The longest duration :func:`to_duration_ms` takes, either way.
MAX_DURATION_MS: Final[int] = MAX_EPOCH_MS


def real_monotonic() -> float:
    """Real monotonic seconds, immune to freezegun and time-machine."""
    return float(_REAL["monotonic"]())


def real_time_ns() -> int:
    """Real wall time in ns: the wall time at import plus real monotonic time since.

    time-machine patches ``time.time_ns`` at the C level, so a reference
    captured at import would still travel; monotonic time is never patched.
    """
    return _WALL0_NS + (int(_REAL["monotonic_ns"]()) - _MONO0_NS)


class Clock(Protocol):
    """The one source of emulator time.

    ``now_ms()`` returns integer milliseconds since the Unix epoch.
    ``mode`` is ``"real"`` or ``"manual"``.
    """

    mode: str

    def now_ms(self) -> int:
        """Current emulator time in epoch milliseconds."""
        ...


@final
class RealClock:
    """Wall time. ``time_source`` (epoch nanoseconds) can be pinned by tests."""

    mode = "real"

    def __init__(self, time_source: Callable[[], int] | None = None) -> None:
        self._time_source = time_source or real_time_ns

    def now_ms(self) -> int:
        return self._time_source() // 1_000_000

    def __repr__(self) -> str:
        return f"RealClock(now={format_ms(self.now_ms())})"


@final
class ManualClock:
    """A clock that moves only when told, never backwards."""

    mode = "manual"

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def move_to(self, ms: int) -> None:
        """Set the time; refuses to go backwards. Used by :class:`Scheduler`."""
        if ms < self._now:
            raise ValueError(
                f"time can't go backwards (now {format_ms(self._now)}, asked "
                f"{format_ms(ms)}); use reset() to start over"
            )
        self._now = int(ms)

    def rewind_to(self, ms: int) -> None:
        """Set the time, even backwards. Only follow mode does this, and only while
        nothing is scheduled or running (:mod:`fcemu.follow`)."""
        self._now = int(ms)

    def __repr__(self) -> str:
        return f"ManualClock(now={format_ms(self._now)})"


def format_ms(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, for messages and reprs."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_epoch_ms(value: int | float | str | datetime) -> int:
    """Normalise a point in time into integer epoch milliseconds.

    Accepts epoch milliseconds (int, or a digit string), a timezone-aware or
    UTC-naive :class:`datetime`, or an ISO 8601 string (``Z`` allowed).
    """
    if isinstance(value, bool):
        raise TypeError("a point in time cannot be a bool")
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return round(dt.timestamp() * 1000)
    if isinstance(value, (int, float)):
        return _epoch_in_range(value, value)
    text = str(value).strip()
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        if len(text) > 20:  # far out of range, and int() refuses 4300+ digits
            raise ValueError(f"{text[:24]}... is not a time: epoch milliseconds must be at "
                             f"most {MAX_EPOCH_MS}")
        return _epoch_in_range(int(text), value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: give ISO 8601 (2024-05-01T00:00:00Z) "
            "or epoch milliseconds"
        ) from None
    return to_epoch_ms(parsed)


def _epoch_in_range(ms: float, given: object) -> int:
    if not -MAX_EPOCH_MS <= ms <= MAX_EPOCH_MS:  # NaN fails too
        raise ValueError(f"{given!r} is not a time: epoch milliseconds must be finite and at "
                         f"most {MAX_EPOCH_MS} (9999-12-31T23:59:59.999Z) either way")
    return int(ms)


def to_duration_ms(value: int | float | timedelta) -> int:
    """Normalise a duration (seconds, or a timedelta) into integer milliseconds.

    Raises ValueError for NaN, infinities and durations beyond :data:`MAX_DURATION_MS`.
    """
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not -MAX_DURATION_MS <= seconds * 1000 <= MAX_DURATION_MS:  # NaN fails too
        raise ValueError(f"{value!r} is not a duration fcemu can use: give a finite number of "
                         f"seconds, at most {MAX_DURATION_MS // 1000} either way")
    return round(seconds * 1000)


class SettleTimeout(TimeoutError):
    """``settle()`` gave up; ``busy`` names what was still running."""

    def __init__(self, seconds: float, busy: list[str]) -> None:
        self.busy = busy
        shown = ", ".join(busy[:10]) + (f" (+{len(busy) - 10} more)" if len(busy) > 10 else "")
        super().__init__(f"work did not settle within {seconds:g}s; still busy: {shown}")


@dataclass(order=True)
class Timer:
    """A callback due at ``due_ms`` on the emulator clock."""

    due_ms: int
    seq: int
    name: str = field(compare=False)
    kind: TimerKind = field(compare=False)
    callback: Callable[[], object] = field(compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)
    fired: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Forget the timer; a no-op once fired."""
        self.cancelled = True


class Scheduler:
    """Timers on the emulator clock plus tracking of in-flight work.

    Runs only on the emulator's loop. ``spawn`` registers background work
    (handler runs, deliveries) so that :meth:`settle` knows when everything
    started at the current time has finished.
    """

    def __init__(self, clock: RealClock | ManualClock, *, settle_timeout: float = 60.0) -> None:
        self.clock = clock
        self.settle_timeout = settle_timeout
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._work: dict[asyncio.Task[Any], str] = {}
        self._wakeup: asyncio.TimerHandle | None = None
        self._soon = False
        #: Called with (what, exception) when a timer or background work fails unexpectedly.
        self.on_failure: Callable[[str, BaseException], None] | None = None

    # -- timers -------------------------------------------------------------

    @property
    def manual(self) -> bool:
        return isinstance(self.clock, ManualClock)

    def call_at(
        self,
        due_ms: int,
        callback: Callable[[], object],
        *,
        name: str,
        kind: TimerKind = "task",
    ) -> Timer:
        """Run ``callback`` when the clock reaches ``due_ms``.

        A callback returning an awaitable is spawned as tracked work.
        """
        timer = Timer(int(due_ms), next(self._seq), name, kind, callback)
        heapq.heappush(self._timers, timer)
        self._arm(timer)
        return timer

    def call_later(
        self, delay_ms: int, callback: Callable[[], object], *, name: str,
        kind: TimerKind = "task",
    ) -> Timer:
        """Run ``callback`` ``delay_ms`` from now on the emulator clock."""
        return self.call_at(self.clock.now_ms() + int(delay_ms), callback, name=name, kind=kind)

    def _arm(self, timer: Timer) -> None:
        if timer.due_ms <= self.clock.now_ms():
            if not self._soon:
                self._soon = True
                asyncio.get_running_loop().call_soon(self._fire_due)
        elif not self.manual and timer is self._timers[0]:
            self._rearm()

    def _rearm(self) -> None:
        """Real mode: one loop wake-up for the earliest timer, in real monotonic time."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        if self.manual or not self._timers:
            return
        delay = max(0.0, (self._timers[0].due_ms - self.clock.now_ms()) / 1000) + 0.001
        self._wakeup = asyncio.get_running_loop().call_later(delay, self._fire_due)

    def _fire_due(self) -> None:
        self._soon = False
        now = self.clock.now_ms()
        while self._timers and (self._timers[0].cancelled or self._timers[0].due_ms <= now):
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._run(timer)
        self._rearm()

    def _run(self, timer: Timer) -> None:
        timer.fired = True
        try:
            result = timer.callback()
        except Exception as exc:
            self._failed(f"timer {timer.name}", exc)
            return
        if inspect.isawaitable(result):
            self.spawn(result, name=timer.name)

    def pending(self, kind: TimerKind | None = None) -> list[Timer]:
        """Live timers in due order, optionally of one kind."""
        return sorted(t for t in self._timers if not t.cancelled and kind in (None, t.kind))

    def next_due(self, kind: TimerKind | None = None) -> int | None:
        live = self.pending(kind)
        return live[0].due_ms if live else None

    # -- work ----------------------------------------------------------------

    def spawn(self, work: Awaitable[Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``work`` as tracked background work on the loop."""
        coro: Coroutine[Any, Any, Any] = (
            work if inspect.iscoroutine(work) else _await(work)
        )
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._work[task] = name
        task.add_done_callback(self._work_done)
        return task

    def _work_done(self, task: asyncio.Task[Any]) -> None:
        self._work.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self._failed(self._work_name(task), task.exception())  # type: ignore[arg-type]

    @staticmethod
    def _work_name(task: asyncio.Task[Any]) -> str:
        return task.get_name()

    def _failed(self, what: str, exc: BaseException) -> None:
        log.error("%s failed", what, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure(what, exc)

    def _due_now(self) -> bool:
        now = self.clock.now_ms()
        return any(not t.cancelled and t.due_ms <= now for t in self._timers)

    def busy(self) -> list[str]:
        """Names of in-flight work and of timers due but not yet fired."""
        now = self.clock.now_ms()
        due = [f"timer {t.name}" for t in self.pending() if t.due_ms <= now]
        return sorted(self._work.values()) + due

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until nothing is runnable at the current time.

        Bounded by ``timeout`` real seconds; raises :class:`SettleTimeout`
        naming what is still busy.
        """
        limit = self.settle_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            # Let callbacks scheduled with call_soon (due timers, task wake-ups) run.
            for _ in range(3):
                await asyncio.sleep(0)
            self._fire_due()
            if not self._work and not self._due_now():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SettleTimeout(limit, self.busy())
            waiters = list(self._work)
            if waiters:
                await asyncio.wait(waiters, timeout=remaining)

    # -- moving a manual clock ---------------------------------------------------

    def _manual_clock(self, verb: str) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise ValueError(
                f"clock.{verb}() needs the manual clock; this emulator runs on the real "
                "clock (start it with clock='manual')"
            )
        return self.clock

    async def advance(self, delta_ms: int, *, timeout: float | None = None) -> int:
        """Move a manual clock forward by ``delta_ms``, firing timers in due order."""
        if delta_ms < 0:
            raise ValueError(
                "clock.advance() cannot move time backwards; use reset() to start over"
            )
        clock = self._manual_clock("advance")
        return await self.set(clock.now_ms() + int(delta_ms), timeout=timeout)

    async def set(self, target_ms: int, *, timeout: float | None = None) -> int:
        """Move a manual clock to ``target_ms``.

        Settles first, then fires each timer due by ``target_ms`` with the
        clock at that timer's due time, settling after each, and returns the
        new time once everything started has settled.
        """
        clock = self._manual_clock("set")
        if target_ms > MAX_EPOCH_MS:
            raise ValueError(f"clock.set() cannot move past {format_ms(MAX_EPOCH_MS)} "
                             f"(asked {target_ms} ms)")
        if target_ms < clock.now_ms():
            raise ValueError(
                f"clock.set() cannot move time backwards (now {format_ms(clock.now_ms())}, "
                f"asked {format_ms(target_ms)}); use reset() to start over"
            )
        await self.settle(timeout)
        while True:
            due = self.next_due()
            if due is None or due > target_ms:
                break
            clock.move_to(max(due, clock.now_ms()))
            self._fire_due()
            await self.settle(timeout)
        clock.move_to(target_ms)
        await self.settle(timeout)
        return clock.now_ms()

    async def drain(self, *, timeout: float | None = None, max_steps: int = 100_000) -> int:
        """Manual clock: settle, jump to the next task timer, repeat until no task work remains.

        Housekeeping timers (retention, SMQ visibility) never count as task
        work, but those falling due on the way fire in order.
        """
        clock = self._manual_clock("drain")
        await self.settle(timeout)
        for _ in range(max_steps):
            due = self.next_due("task")
            if due is None:
                return clock.now_ms()
            await self.set(max(due, clock.now_ms()), timeout=timeout)
        busy = [f"drain stopped after {max_steps} steps", *self.busy()]
        raise SettleTimeout(0, busy)

    async def close(self) -> None:
        """Cancel every timer and every piece of in-flight work."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = list(self._work)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._work.clear()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class RealTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is real monotonic time even under freezegun."""

    def time(self) -> float:
        return real_monotonic()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop the emulator runs on (see :class:`RealTimeEventLoop`)."""
    return RealTimeEventLoop()
