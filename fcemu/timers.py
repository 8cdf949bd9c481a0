"""Timers as data: :class:`Timer`, and the runs of entries that waiting tasks share.

A :class:`Timer` is one callback due at a time on the emulator clock, ordered by (due
time, seq). A *run* is a timer that stands for many entries: consecutive
:meth:`fcemu.scheduler.Scheduler.call_each_at` calls with the same due time, callback,
label and kind, each entry a slot of the run's list with seq ``first + i``. No other
timer takes a seq between a run's entries, so the run fires them in the same order as
that many timers would. :class:`Runs` finds a run by an entry's seq (O(log runs)), for
cancelling an entry and reading it while it waits. Issue 13: a waiting task used to
hold a timer object and a callback object of its own, freed when it ran, which left
holes between the retained task records in the allocator's pools.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

__all__ = ["GONE", "Runs", "Timer", "TimerKind", "entries"]

TimerKind = Literal["task", "housekeeping", "trigger"]

#: A run's entry once cancelled.
GONE: Any = object()


@dataclass(order=True, slots=True)
class Timer:
    """A callback due at ``due_ms`` on the emulator clock (or a run of them)."""

    due_ms: int
    seq: int
    #: The name, or an object whose ``str()`` is the name, made when read; a run's label
    #: is called with an entry's item to name its timer.
    label: object = field(compare=False)
    kind: TimerKind = field(compare=False)
    #: Called with no argument; a run's, with an entry's item.
    callback: Callable[..., object] = field(compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)
    fired: bool = field(default=False, compare=False)
    #: A run's items, one per entry of seq ``first + i`` (:data:`GONE` once cancelled);
    #: None for a single timer. ``seq`` is then the seq of the next entry to fire.
    items: list[Any] | None = field(default=None, compare=False, repr=False)
    first: int = field(default=0, compare=False, repr=False)
    #: A run's entries fired so far, and those neither fired nor cancelled.
    done: int = field(default=0, compare=False, repr=False)
    live: int = field(default=0, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.label if isinstance(self.label, str) else str(self.label)

    def item_name(self, item: object) -> str:
        """The name of a run's timer for ``item``: its label called with the item."""
        label: Callable[[object], object] = self.label  # type: ignore[assignment]
        return str(label(item))

    def cancel(self) -> None:
        """Forget the timer; a no-op once fired."""
        self.cancelled = True


_FIRST = attrgetter("first")


class Runs:
    """The runs of a scheduler, in seq order, and the one the next entry may join
    (:meth:`fcemu.scheduler.Scheduler.call_each_at` joins it: same due time, callback,
    label and kind, the next seq)."""

    __slots__ = ("_over", "_runs", "open")

    def __init__(self) -> None:
        self._runs: list[Timer] = []
        self._over = 0
        #: The run that took the last seq (None: another timer took one since).
        self.open: Timer | None = None

    def start(self, due_ms: int, seq: int, callback: Callable[[Any], object], item: object,
              label: object, kind: TimerKind) -> Timer:
        """A new run of one entry, open for the next ones."""
        run = Timer(due_ms, seq, label, kind, callback, items=[item], first=seq, live=1)
        self._runs.append(run)
        self.open = run
        return run

    def find(self, seq: int) -> tuple[Timer, int] | None:
        """The run and index of an entry that still waits (None: fired or cancelled)."""
        runs = self._runs
        at = bisect.bisect_right(runs, seq, key=_FIRST) - 1
        if at < 0:
            return None
        run = runs[at]
        i = seq - run.first
        items = run.items
        if items is None or not run.done <= i < len(items) or items[i] is GONE:
            return None
        return run, i

    def cancel(self, seq: int) -> Timer | None:
        """Cancel an entry that still waits; its run when that was its last live entry
        (the run is then cancelled)."""
        found = self.find(seq)
        if found is None:
            return None
        run, i = found
        run.items[i] = GONE  # type: ignore[index]
        run.live -= 1
        if run.live:
            return None
        run.cancelled = True
        self.over(run)
        return run

    def over(self, run: Timer) -> None:
        """A run fired its last entry or was cancelled: drop the runs that are over when
        they are half the list (amortised O(1))."""
        if run is self.open:
            self.open = None
        self._over += 1
        if self._over * 2 > len(self._runs):
            self._runs = [r for r in self._runs if not (r.fired or r.cancelled)]
            self._over = 0

    def clear(self) -> None:
        self._runs.clear()
        self._over, self.open = 0, None


def entries(timers: list[Timer]) -> list[Timer]:
    """The timers, each run's waiting entries as timers of their own (made when read)."""
    out = []
    for t in timers:
        if t.items is None:
            out.append(t)
            continue
        for i in range(t.done, len(t.items)):
            item = t.items[i]
            if item is not GONE:
                out.append(Timer(t.due_ms, t.first + i, t.item_name(item), t.kind,
                                 functools.partial(t.callback, item)))
    return out
