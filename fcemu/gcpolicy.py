"""The cyclic garbage collector's policy for retained task records (issue 13).

A retained task record lives for 7 days and is never part of a reference cycle: it is
freed by reference counting when retention or a reset drops it. Yet CPython's cyclic
collector walks every tracked object on each full collection, and full collections come
each time the long-lived objects grow by a quarter: with 100k retained tasks that was
29 % of the CPU and 220-490 ms pauses on a burst of submissions.

So every :data:`FREEZE_EVERY` retained tasks, :func:`retained` collects what is not
frozen yet (garbage made since the last time: bounded by that many tasks' worth of
objects, a few milliseconds) and then ``gc.freeze()``-s the survivors: later collections
never walk them again. Frozen objects are still freed by reference counting. What is
lost: a frozen object that later becomes part of unreachable cycle garbage is not
reclaimed until :func:`release` (``gc.unfreeze()``), which every new engine state (start,
reset) calls. fcemu's own records make no cycles, so this costs nothing in practice.

``FCEMU_GC_FREEZE_EVERY=0`` in the environment turns the policy off (another number sets
the step).
"""

from __future__ import annotations

import gc
import os

#: Retained tasks between two freezes (``FCEMU_GC_FREEZE_EVERY``; 0: never freeze).
FREEZE_EVERY = int(os.environ.get("FCEMU_GC_FREEZE_EVERY", "10000") or 0)

_since = [0]  # tasks retained since the last freeze (process-wide, like the collector)


def retained(count: int = 1) -> None:
    """``count`` more task records are kept; freeze the survivors every FREEZE_EVERY."""
    if FREEZE_EVERY <= 0:
        return
    _since[0] += count
    if _since[0] >= FREEZE_EVERY:
        _since[0] = 0
        gc.collect()  # walks only the objects not frozen yet
        gc.freeze()


def release() -> None:
    """A new engine state: give every frozen object back to the collector."""
    _since[0] = 0
    if FREEZE_EVERY > 0 and gc.get_freeze_count():
        gc.unfreeze()
