"""fcemu.scheduler's entries (``call_each_at``): consecutive entries with one due time
share a run, and fire, cancel, list and name exactly as that many timers would (issue 13:
a waiting task holds no timer object of its own)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.clock import ManualClock
from fcemu.scheduler import BATCH, Scheduler
from tests.constants import SECOND_MS, T0

# One step: (a plain timer?, due offset, label, cancelled?, cancelled before the clock
# moves or halfway through?).
_STEP = st.tuples(st.booleans(), st.integers(0, 3), st.sampled_from(["a", "b"]),
                  st.booleans(), st.booleans())


class _Label:
    def __init__(self, why: str) -> None:
        self.why = why

    def __call__(self, item: object) -> str:
        return f"{item} {self.why}"


_LABELS = {why: _Label(why) for why in "ab"}


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_STEP, max_size=60), mid=st.integers(0, 4))
def test_entries_fire_list_and_cancel_as_timers_would(
        steps: list[tuple[bool, int, str, bool, bool]], mid: int) -> None:
    """Against a model of one timer per step: the fired order, pending(), entry() and
    next_due(), with cancels before the clock moves and halfway through."""
    async def scenario() -> None:
        scheduler = Scheduler(ManualClock(T0))
        fired: list[int] = []
        handles: list[Any] = []
        waiting: dict[int, tuple[int, int, str]] = {}  # step -> (due, seq, name)

        def fire(i: object) -> None:
            fired.append(int(str(i)))

        for i, (plain, due, why, _, _) in enumerate(steps):
            at = T0 + SECOND_MS + due
            if plain:
                timer = scheduler.call_at(at, lambda i=i: fire(i), name=f"{i} {why}")
                handles.append(timer)
                waiting[i] = (at, timer.seq, f"{i} {why}")
            else:
                seq = scheduler.call_each_at(at, fire, i, label=_LABELS[why])
                handles.append(seq)
                waiting[i] = (at, seq, f"{i} {why}")
                assert scheduler.entry(seq) == (at, _LABELS[why])
        wanted = dict(waiting)

        def cancel(early: bool) -> None:
            for i, (_, _, _, drop, first) in enumerate(steps):
                if drop and first is early and i in waiting:
                    handle = handles[i]
                    if isinstance(handle, int):
                        scheduler.cancel_entry(handle)
                        assert scheduler.entry(handle) is None
                    else:
                        handle.cancel()
                    del waiting[i], wanted[i]

        def check() -> None:
            assert [(t.due_ms, t.seq, t.name) for t in scheduler.pending()] == \
                sorted(waiting.values())
            dues = [due for due, _, _ in waiting.values()]
            assert scheduler.next_due("task") == (min(dues) if dues else None)

        cancel(early=True)
        check()
        await scheduler.set(T0 + SECOND_MS + mid - 1)  # fires the dues before `mid`
        for i, (due, seq, _) in list(waiting.items()):
            if due < T0 + SECOND_MS + mid:
                del waiting[i]
                if isinstance(handles[i], int):
                    assert scheduler.entry(seq) is None  # fired
        check()
        cancel(early=False)
        check()
        await scheduler.drain(timeout=30)
        assert fired == [i for _, _, i in sorted((d, s, i) for i, (d, s, _) in wanted.items())]
        assert scheduler.pending() == [] and scheduler.next_due() is None

    asyncio.run(scenario())


def test_a_burst_of_entries_is_one_heap_entry_and_fires_in_bounded_batches() -> None:
    async def scenario() -> tuple[list[int], int, int, list[str]]:
        scheduler = Scheduler(ManualClock(T0))
        order: list[int] = []
        peak = 0

        async def work() -> None:
            nonlocal peak
            peak = max(peak, len(scheduler._work))
            for _ in range(3):
                await asyncio.sleep(0)

        def fire(i: object) -> object:
            order.append(int(str(i)))
            return work()

        total = 5 * BATCH + 7
        for i in range(total):
            scheduler.call_each_at(T0 + SECOND_MS, fire, i, label=_LABELS["a"])
        assert len(scheduler._timers) == 1  # one run
        names = [t.name for t in scheduler.pending()[:2]]
        now = await scheduler.drain(timeout=30)
        return order, peak, now, names

    order, peak, now, names = asyncio.run(scenario())
    assert order == list(range(5 * BATCH + 7))
    assert peak <= 2 * BATCH  # a batch, and the next one once half of it is done
    assert now == T0 + SECOND_MS
    assert names == ["0 a", "1 a"]


def test_timers_an_entry_adds_or_cancels_fire_in_due_order_amid_its_run() -> None:
    """A run's entries fire one after the other while the run stays at the heap top (issue
    13: one call per run); a timer an entry's callback adds before the run's next entry
    fires first, one after it later, and an entry it cancels never fires: as with one
    timer each."""
    async def scenario() -> list[str]:
        scheduler = Scheduler(ManualClock(T0))
        order: list[str] = []
        seqs: list[int] = []
        due = T0 + SECOND_MS

        def fire(item: object) -> None:
            order.append(str(item))
            if item == 1:  # an earlier timer, a later run, and the run's own entry 3 gone
                scheduler.call_at(due - 500, lambda: order.append("earlier"), name="x")
                scheduler.call_each_at(due, fire, "later", label=_LABELS["a"])
                scheduler.cancel_entry(seqs[3])
            if item == 2:  # one more due now: after the run's other entries
                scheduler.call_at(due, lambda: order.append("same due"), name="y")

        seqs.extend(scheduler.call_each_at(due, fire, i, label=_LABELS["a"]) for i in range(5))
        await scheduler.advance(SECOND_MS, timeout=30)
        return order

    assert asyncio.run(scenario()) == ["0", "1", "earlier", "2", "4", "later", "same due"]


def test_a_failing_entry_is_reported_with_its_name() -> None:
    async def scenario() -> list[str]:
        scheduler = Scheduler(ManualClock(T0))
        failures: list[str] = []
        scheduler.on_failure = lambda what, exc: failures.append(what)

        def fire(item: object) -> None:
            if item == "bad":
                raise RuntimeError(item)

        for item in ("good", "bad", "good"):
            scheduler.call_each_at(T0 + 1, fire, item, label=_LABELS["b"])
        await scheduler.drain(timeout=30)
        return failures

    assert asyncio.run(scenario()) == ["timer bad b"]


# A group of entries: (a plain timer before it?, due offset, label, how many items).
_GROUP = st.tuples(st.booleans(), st.integers(-1, 3), st.sampled_from(["a", "b"]),
                   st.integers(0, 4))


@settings(max_examples=100, deadline=None)
@given(groups=st.lists(_GROUP, max_size=12), cancels=st.lists(st.integers(0, 40), max_size=5))
def test_entries_set_all_at_once_are_those_set_one_by_one(
        groups: list[tuple[bool, int, str, int]], cancels: list[int]) -> None:
    """call_each_at_all (a restore's waiting tasks) is call_each_at for each item: the same
    seqs, runs, names, cancels and firing order, also after a plain timer or another due."""
    async def scenario(at_once: bool) -> tuple[list[Any], ...]:
        scheduler = Scheduler(ManualClock(T0))
        fired: list[str] = []
        seqs: list[int] = []
        for g, (plain, due, why, count) in enumerate(groups):
            if plain:
                scheduler.call_at(T0 + due, lambda g=g: fired.append(f"t{g}"), name=f"t{g}")
            items = [f"{g}.{i}" for i in range(count)]
            if at_once:
                seqs += scheduler.call_each_at_all(T0 + due, fired.append, items,
                                                   label=_LABELS[why])
            else:
                seqs += [scheduler.call_each_at(T0 + due, fired.append, item,
                                                label=_LABELS[why]) for item in items]
        for i in cancels:
            if i < len(seqs):
                scheduler.cancel_entry(seqs[i])
        listed = [(t.due_ms, t.seq, t.name) for t in scheduler.pending()]
        entries = [scheduler.entry(seq) for seq in seqs]
        runs = len(scheduler._timers)
        await asyncio.sleep(0)  # those due already fire unasked
        await scheduler.drain(timeout=30)
        return seqs, listed, entries, [runs], fired

    async def both() -> None:
        assert await scenario(at_once=True) == await scenario(at_once=False)

    asyncio.run(both())
