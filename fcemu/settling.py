"""Settling the scheduler's work, and moving a manual clock (:class:`Settling`).

The half of :class:`fcemu.scheduler.Scheduler` that waits: :meth:`Settling.settle`
returns once nothing is runnable at the current time (bounded in real time:
:class:`SettleTimeout` names what is still busy), and a manual clock moves
(:meth:`Settling.advance`, :meth:`Settling.set`, :meth:`Settling.drain`) by firing
each timer due on the way at its due time, settling after each. The timers and the
work they start are the scheduler's own (:mod:`fcemu.scheduler`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fcemu.clock import MAX_EPOCH_MS, ManualClock, RealClock, format_ms
from fcemu.timers import Timer, TimerKind

__all__ = ["SettleTimeout", "Settling"]


class SettleTimeout(TimeoutError):
    """``settle()`` gave up; ``busy`` names what was still running."""

    def __init__(self, seconds: float, busy: list[str]) -> None:
        self.busy = busy
        shown = ", ".join(busy[:10]) + (f" (+{len(busy) - 10} more)" if len(busy) > 10 else "")
        super().__init__(f"work did not settle within {seconds:g}s; still busy: {shown}")


class Settling:
    """The base of :class:`~fcemu.scheduler.Scheduler` that settles its work and moves a
    manual clock (see the module docstring); the scheduler sets the attributes declared
    here and fires the due timers (:meth:`_fire_due`)."""

    clock: RealClock | ManualClock
    #: Real seconds a settle waits by default.
    settle_timeout: float
    #: The work in flight: its coroutine -> its task (named after the work).
    _work: dict[Coroutine[Any, Any, Any], asyncio.Task[Any]]
    #: Settled when the work runs out: what :meth:`settle` waits on (None: nobody waits).
    _idle: asyncio.Future[None] | None

    def _fire_due(self) -> None:
        raise NotImplementedError

    def pending(self, kind: TimerKind | None = None) -> list[Timer]:
        raise NotImplementedError

    def next_due(self, kind: TimerKind | None = None) -> int | None:
        raise NotImplementedError

    def _due_now(self) -> bool:
        due = self.next_due()
        return due is not None and due <= self.clock.now_ms()

    def busy(self) -> list[str]:
        """Names of in-flight work and of timers due but not yet fired."""
        now = self.clock.now_ms()
        due = [f"timer {t.name}" for t in self.pending() if t.due_ms <= now]
        return sorted(task.get_name() for task in self._work.values()) + due

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
            if self._work:  # one future for the work running out, not a callback per task
                idle = self._idle
                if idle is None:
                    idle = self._idle = loop.create_future()
                await asyncio.wait((idle,), timeout=remaining)

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
