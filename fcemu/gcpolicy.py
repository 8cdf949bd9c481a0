"""The cyclic garbage collector's policy for retained task records (issue 13).

A retained task record lives for 7 days and is never part of a reference cycle: it is
freed by reference counting when retention or a reset drops it. Yet CPython's cyclic
collector walks every tracked object on each full collection, and full collections come
each time the long-lived objects grow by a quarter: with 100k retained tasks that was
29 % of the CPU and 220-490 ms pauses on a burst of submissions.

So every :data:`FREEZE_EVERY` steps of retained work (a task submitted, a task finished:
its attempt, events and result message are kept too), :func:`retained` collects what is
not frozen yet (garbage made since the last time: bounded by that many steps' worth of
objects) and then ``gc.freeze()``-s the survivors: later collections never walk them
again. Frozen objects are still freed by reference counting. What is lost: a frozen
object that later becomes part of unreachable cycle garbage is not reclaimed until
:func:`release` (``gc.unfreeze()``), which every new engine state (start, reset) calls.
fcemu's own records make no cycles, so this costs nothing in practice.

The step is small because the collection before each freeze is a pause that every
request in flight waits for, and it grows with the step: on a busy server, 10,000
submissions' worth took about 30 ms of CPU (the p99.9 of async submits); 1,000 took
1.5-1.9 ms and 500 take 0.9-1.1 ms, and the collector's CPU in all is lower, not higher
(each freeze empties the young generations too: per 20k submits, 500 spent about 31 ms
in the collector against 39 ms for 1,000). Finished tasks count because a drain of 100k
tasks made 100k tasks' worth of new long-lived objects that nothing froze: the natural
full collections walked them over and over (43 % of the drain's CPU). The first freeze
after a release waits :data:`FIRST_STEPS` times longer (it walks the whole process). The
process's very first freeze (nothing was ever handed back) collects only the young
generations (0 and 1): a full collection would walk the whole process, the modules and
the app (30-40 ms of CPU on the bench server, the p99.9 of a fresh server's first 20k
submits). What it misses, cycle garbage already in the oldest generation (left over from
start-up, or promoted in the first steps), is frozen until the next :func:`release`,
after which the first freeze collects in full again: a bounded, one-off amount.

Young collections: CPython collects its youngest generation each time 700 more tracked
objects were made than freed. A drain's attempts in flight (a batch of 128: their tasks,
coroutines, futures, contexts, about 25 tracked objects each) set that off about every 25
tasks, to walk objects that mostly die a moment later (about 5 % of a drain's
instructions). While the policy is on, each :func:`release` raises that threshold to
:data:`YOUNG_THRESHOLD` (when it is lower and not 0, which turns the collector's own
collections off): the freezes already collect what the retained work left, and a young
collection of that many objects takes about 0.1-0.3 ms of CPU (one of 700: 10-30 µs).

A snapshot restore loads a burst of long-lived records at once: :func:`promote` moves
them to the oldest generation without a walk, so no young collection walks them.

``FCEMU_GC_FREEZE_EVERY=0`` in the environment turns the policy off, promotion and the
young threshold included (another number sets the step).
"""

from __future__ import annotations

import gc
import os

#: Steps of retained work between two freezes (``FCEMU_GC_FREEZE_EVERY``; 0: never).
FREEZE_EVERY = int(os.environ.get("FCEMU_GC_FREEZE_EVERY", "500") or 0)

#: The first freeze after a :func:`release` waits this many times longer: everything was
#: just handed back, so its collection walks the whole process (tens of milliseconds), a
#: cost that only a state with that much work pays (a restore of 1000 tasks or a test's
#: few hundred tasks never do). Not more: until that freeze, the natural full collections
#: walk the whole process too (at 10 times, a submit burst's first 20k requests had two
#: such pauses of ~30 ms instead of one).
FIRST_STEPS = 2

#: The collector's first threshold while the policy is on (CPython's default: 700): a
#: drain's young collections went from about one per 25 tasks to one per 350, and its
#: instructions per task down by 4-5 % (``bench.bench_instructions drain``, both kinds).
YOUNG_THRESHOLD = 10_000

_since = [0]  # steps since the last freeze (process-wide, like the collector)
_first = [True]  # nothing frozen since the last release
_young_first = [True]  # nothing ever handed back: the first freeze may collect the young only


def retained(count: int = 1) -> None:
    """``count`` more steps of kept work (task records submitted or restored, tasks
    finished); freeze the survivors every FREEZE_EVERY steps (the first time after a
    release: FIRST_STEPS times that)."""
    if FREEZE_EVERY <= 0:
        return
    _since[0] += count
    if _since[0] >= (FREEZE_EVERY * FIRST_STEPS if _first[0] else FREEZE_EVERY):
        first = _first[0]
        _since[0], _first[0] = 0, False
        # walks only the objects not frozen yet (the process's first time: the young ones)
        gc.collect(1 if first and _young_first[0] else 2)
        gc.freeze()


def release() -> None:
    """A new engine state: give every frozen object back to the collector (and raise its
    young threshold to :data:`YOUNG_THRESHOLD`, see the module docstring)."""
    _since[0], _first[0] = 0, True
    if FREEZE_EVERY <= 0:
        return
    if gc.get_freeze_count():
        gc.unfreeze()
        _young_first[0] = False
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def promote() -> None:
    """Move every object the collector tracks to its oldest generation now, with no walk
    (``gc.freeze()`` then ``gc.unfreeze()``: two list splices), unless something is frozen
    (:func:`retained` froze it: it stays so). A snapshot restore calls it after its load.

    The records a restore loads (1000 tasks: about 5,000 tracked objects) are long-lived,
    yet all young: the next young collection would walk every one of them (0.5 to 1 ms, in
    the test that follows the restore or in the next restore), then a middle one again,
    only to promote them. Promoted at once, they are walked by full collections only, as
    they would be once promoted (issue 17: 12 % of a restore's instructions). Young cycle
    garbage made before (a restore makes none) is promoted too: it waits for the next full
    collection instead of the next young one, delayed but not kept. Nothing stays frozen.
    """
    if FREEZE_EVERY > 0 and not gc.get_freeze_count():
        gc.freeze()
        gc.unfreeze()
