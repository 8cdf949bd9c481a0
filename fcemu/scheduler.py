"""Timers on the emulator clock, the work they start, and settling it.

A :class:`Scheduler` keeps timers keyed by their due time on a
:class:`~fcemu.clock.Clock` and tracks the background work they (and
others) start. In ``real`` mode a timer is turned into a loop
``call_later`` (loop time is real monotonic time); in ``manual`` mode
timers fire only when the clock is moved (:meth:`Scheduler.advance`,
:meth:`Scheduler.set`, :meth:`Scheduler.drain`), in due order, each with the
clock at its due time, and a move returns only once the work they started
has settled (:meth:`Scheduler.settle`, bounded in real time:
:class:`SettleTimeout`; both, with the manual clock's moves, in :mod:`fcemu.settling`).

Due timers fire in bounded batches (:data:`BATCH`): when a burst falls due at once (a
drain of 100k tasks), the next batch fires once the work the last one started is down to
half a batch, so the loop keeps serving HTTP and memory holds a batch of running
attempts, not every task at once. The earliest timer, overall or of one kind, is a heap
top: O(log n) per timer (issue 13). Waiting tasks use :meth:`Scheduler.call_each_at`:
consecutive entries with one due time share one heap entry (:mod:`fcemu.timers`).

Prior art: trio's ``MockClock`` (``jump`` + ``wait_all_tasks_blocked``).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import types
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from fcemu.clock import ManualClock, RealClock
from fcemu.settling import SettleTimeout, Settling
from fcemu.timers import GONE, Runs, Timer, TimerKind, entries

__all__ = ["BATCH", "Scheduler", "SettleTimeout", "Timer", "TimerKind"]

log = logging.getLogger("fcemu.scheduler")
_COROUTINE = types.CoroutineType  # checked by type first: inspect's checks are calls
#: A timer's work is a task made directly while the loop has no task factory: what the
#: loop's ``create_task`` makes then, without its two Python calls (issue 13: one per attempt).
_Task = asyncio.Task

#: At most this many due timers fire before the loop runs other callbacks; the next batch
#: fires when the work started is down to half of it. Not more: the attempts in flight
#: (their coroutines, futures, contexts: ~25 tracked objects each) are what every young and
#: policy collection of the cyclic GC walks; at 512 that was a fifth of a drain's CPU
#: (issue 13). 64 to 192 in flight still keep every default instance slot (16) busy.
BATCH = 128


class Scheduler(Settling):
    """Timers on the emulator clock plus tracking of in-flight work.

    Runs only on the emulator's loop. ``spawn`` registers background work
    (handler runs, deliveries) so that :meth:`settle` knows when everything
    started at the current time has finished.
    """

    def __init__(self, clock: RealClock | ManualClock, *, settle_timeout: float = 60.0) -> None:
        self.clock = clock
        self.settle_timeout = settle_timeout
        self._timers: list[Timer] = []
        #: The same timers, one heap per kind (for next_due(kind)); fired or cancelled
        #: entries are dropped when they reach the top.
        self._kinds: dict[str, list[Timer]] = {}
        #: Due timers left for the next batch.
        self._backlog = False
        self._seq = itertools.count()
        #: The work in flight: its coroutine (what :meth:`_tracked` awaits) -> its task.
        self._work: dict[Coroutine[Any, Any, Any], asyncio.Task[Any]] = {}
        #: Settled when the work runs out: what :meth:`settle` waits on (None: nobody waits).
        self._idle: asyncio.Future[None] | None = None
        self._wakeup: asyncio.TimerHandle | None = None
        self._soon = False
        #: The runs of :meth:`call_each_at` (fcemu.timers).
        self._runs = Runs()
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
        name: object,
        kind: TimerKind = "task",
    ) -> Timer:
        """Run ``callback`` when the clock reaches ``due_ms``.

        A callback returning an awaitable is spawned as tracked work. ``name`` is a string,
        or an object whose ``str()`` is the name (made only when read).
        """
        timer = Timer(int(due_ms), next(self._seq), name, kind, callback)
        heapq.heappush(self._timers, timer)
        heapq.heappush(self._kinds.setdefault(kind, []), timer)
        self._arm(timer)
        return timer

    def call_each_at(self, due_ms: int, callback: Callable[[Any], object], item: object, *,
                     label: Callable[[Any], object], kind: TimerKind = "task") -> int:
        """Run ``callback(item)`` when the clock reaches ``due_ms``: a timer as
        :meth:`call_at` makes (the same order, batches and settling), named
        ``str(label(item))``, with no object of its own but its seq. Consecutive entries
        with the same due time, callback, label and kind (a burst of waiting tasks) share
        one heap entry, a run (:mod:`fcemu.timers`), each entry a slot of its list.
        Returns the entry's seq: its handle for :meth:`cancel_entry` and :meth:`entry`."""
        due, seq = int(due_ms), next(self._seq)
        # the open run takes the entry if it continues it: the same due time, label,
        # callback and kind, and the seq that follows its last (inline: issue 13)
        run = self._runs.open
        if (run is not None and run.due_ms == due and run.label is label
                and run.items is not None and run.first + len(run.items) == seq
                and run.callback == callback and run.kind == kind and not run.cancelled):
            run.items.append(item)
            run.live += 1
            return seq
        run = self._runs.start(due, seq, callback, item, label, kind)
        heapq.heappush(self._timers, run)
        heapq.heappush(self._kinds.setdefault(kind, []), run)
        self._arm(run)
        return seq

    def call_each_at_all(self, due_ms: int, callback: Callable[[Any], object],
                         items: Sequence[object], *, label: Callable[[Any], object],
                         kind: TimerKind = "task") -> range:
        """:meth:`call_each_at` for each of ``items`` in turn, all at once (a restore's
        waiting tasks): the same entries in the same run, with no call each. Returns
        their seqs, in the order of ``items``."""
        if not items:
            return range(0)
        first = self.call_each_at(due_ms, callback, items[0], label=label, kind=kind)
        run = self._runs.open  # the run the first joined or started: the rest continue it
        assert run is not None and run.items is not None
        run.items.extend(items[1:])
        run.live += len(items) - 1
        self._seq = itertools.count(first + len(items))
        return range(first, first + len(items))

    def entry(self, seq: int) -> tuple[int, object] | None:
        """A :meth:`call_each_at` entry's (due time, label) while it waits (None once
        fired or cancelled)."""
        found = self._runs.find(seq)
        return None if found is None else (found[0].due_ms, found[0].label)

    def cancel_entry(self, seq: int) -> None:
        """Forget a :meth:`call_each_at` entry; a no-op once fired."""
        self._runs.cancel(seq)

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
        timers, fired = self._timers, 0
        self._backlog = False
        while timers and (timers[0].cancelled or timers[0].due_ms <= now):
            if fired >= BATCH:  # the rest when the work is down to half a batch
                self._backlog = True
                if len(self._work) <= BATCH // 2:
                    self._soon = True
                    asyncio.get_running_loop().call_soon(self._fire_due)
                return
            timer = timers[0]
            if timer.items is not None and not timer.cancelled:
                fired = self._run_entries(timer, fired)
                continue
            heapq.heappop(timers)
            if not timer.cancelled:
                self._run(timer)
                fired += 1
        self._rearm()

    def _run_entries(self, run: Timer, fired: int) -> int:
        """Fire the entries of the run at the heap top in turn, while it stays there and the
        batch has room: ``fired`` plus the entries fired (a cancelled one fires nothing).
        An entry's seq becomes the next one's; no other timer has a seq between, so the run
        stays where it is in both heaps, unless an entry's callback adds an earlier timer:
        checked after each, as :meth:`_fire_due` does (one call per run, not per entry:
        issue 13)."""
        items, timers, loop = run.items, self._timers, asyncio.get_running_loop()
        assert items is not None
        while True:
            i = run.done
            item, run.done = items[i], i + 1
            if run.done < len(items):
                run.seq = run.first + run.done
            else:
                run.fired = True
                heapq.heappop(timers)
                self._runs.over(run)
            if item is not GONE:
                fired += 1
                run.live -= 1
                try:
                    result = run.callback(item)
                except Exception as exc:
                    self._failed(f"timer {run.item_name(item)}", exc)
                    result = None
                if type(result) is _COROUTINE:  # spawn's and item_name's, inline (issue 13)
                    name: Any = run.label(item)  # type: ignore[operator]
                    if type(name) is not str:
                        name = str(name)
                    if getattr(loop, "_task_factory", None) is None:  # create_task's, inline
                        self._work[result] = _Task(self._tracked(result), loop=loop, name=name)
                    else:
                        self._work[result] = loop.create_task(self._tracked(result), name=name)
                elif result is not None and inspect.isawaitable(result):
                    self.spawn(result, name=run.item_name(item))
            if run.fired or fired >= BATCH or run.cancelled or timers[0] is not run:
                return fired

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
        """Live timers in due order, optionally of one kind (a run's entries each as a
        timer of its own, made when read)."""
        live = [t for t in self._timers if not t.cancelled and kind in (None, t.kind)]
        return sorted(entries(live))

    def next_due(self, kind: TimerKind | None = None) -> int | None:
        """The earliest live timer's due time (of one kind): a heap top, O(log n)."""
        heap = self._timers if kind is None else self._kinds.get(kind, [])
        while heap and (heap[0].cancelled or heap[0].fired):
            heapq.heappop(heap)
        return heap[0].due_ms if heap else None

    # -- work ----------------------------------------------------------------

    def spawn(self, work: Awaitable[Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``work`` as tracked background work on the loop. It reports its own end
        (:meth:`_tracked`): a done callback would cost a loop turn of its own (issue 13)."""
        coro: Coroutine[Any, Any, Any] = (
            work if type(work) is _COROUTINE or inspect.iscoroutine(work)
            else _await(work)
        )
        task = self._work[coro] = asyncio.get_running_loop().create_task(self._tracked(coro),
                                                                          name=name)
        return task

    async def _tracked(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro``, then tell what waits for the work to settle, or for the backlog's
        next batch; a failure is reported (and marked as read), a cancellation is not.
        The work is found by ``coro``, its key in ``_work``: no ``current_task()`` (a
        Python call in 3.11, two with the loop's: issue 13)."""
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            task = self._work.get(coro) or asyncio.current_task()
            if task is not None:
                task.add_done_callback(_retrieve)
                self._failed(task.get_name(), exc)
            raise
        finally:
            work = self._work
            work.pop(coro, None)
            if not work and self._idle is not None:
                self._set_idle()
            if self._backlog and not self._soon and len(work) <= BATCH // 2:
                self._soon = True
                asyncio.get_running_loop().call_soon(self._fire_due)

    def _set_idle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None and not idle.done():
            idle.set_result(None)

    def _failed(self, what: str, exc: BaseException) -> None:
        log.error("%s failed", what, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure(what, exc)

    async def close(self) -> None:
        """Cancel every timer and every piece of in-flight work."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._kinds.clear()
        self._runs.clear()
        self._backlog = False
        tasks = list(self._work.values())
        for task in tasks:
            tracked: Any = task.get_coro()  # a _tracked that never ran: close its work (or
            if inspect.getcoroutinestate(tracked) == inspect.CORO_CREATED:  # it warns that
                inspect.getcoroutinelocals(tracked)["coro"].close()  # it was never awaited)
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._work.clear()
        self._set_idle()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a failed task's exception as read (reported when its work ended)."""
    task.exception()
