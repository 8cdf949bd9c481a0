"""fcemu.scheduler at scale: due timers fire in bounded batches, in due order, and the
earliest timer of a kind is found without sorting (issue 13)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.clock import ManualClock, RealClock
from fcemu.scheduler import BATCH, Scheduler
from tests.constants import SECOND_MS, T0


def test_a_burst_fires_in_bounded_batches_in_due_order() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        scheduler = Scheduler(ManualClock(T0))
        order: list[int] = []
        peak = 0

        async def work() -> None:
            nonlocal peak
            peak = max(peak, len(scheduler._work))
            for _ in range(3):
                await asyncio.sleep(0)

        def fire(i: int) -> object:
            order.append(i)
            return work()

        total = 5 * BATCH + 7
        for i in range(total):
            scheduler.call_at(T0 + SECOND_MS + i % 3, lambda i=i: fire(i), name=f"t{i}")
        now = await scheduler.drain(timeout=30)
        return order, peak, now

    order, peak, now = asyncio.run(scenario())
    assert sorted(order) == list(range(5 * BATCH + 7))
    by_due = sorted(order, key=lambda i: (i % 3, i))
    assert order == by_due
    assert peak <= 2 * BATCH  # a batch, and the next one once half of it is done
    assert now == T0 + SECOND_MS + 2


def test_a_real_clock_burst_runs_to_the_end_in_batches() -> None:
    async def scenario() -> int:
        scheduler = Scheduler(RealClock())
        done = asyncio.Event()
        seen = 0

        def fire() -> None:
            nonlocal seen
            seen += 1
            if seen == 3 * BATCH:
                done.set()

        now = scheduler.clock.now_ms()
        for _ in range(3 * BATCH):
            scheduler.call_at(now, fire, name="t")
        await asyncio.wait_for(done.wait(), timeout=30)
        await scheduler.close()
        return seen

    assert asyncio.run(scenario()) == 3 * BATCH


@settings(max_examples=100, deadline=None)
@given(timers=st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["task", "housekeeping"]),
                                 st.booleans()), max_size=40))
def test_next_due_of_a_kind_is_the_earliest_live_one(
        timers: list[tuple[int, str, bool]]) -> None:
    async def scenario() -> None:
        scheduler = Scheduler(ManualClock(T0))
        live: list[tuple[int, str]] = []
        for due, kind, cancel in timers:
            timer = scheduler.call_at(T0 + 1 + due, lambda: None, name="t",
                                      kind=kind)  # type: ignore[arg-type]
            if cancel:
                timer.cancel()
            else:
                live.append((T0 + 1 + due, kind))
        for kind in (None, "task", "housekeeping"):
            wanted = [d for d, k in live if kind in (None, k)]
            assert scheduler.next_due(kind) == (min(wanted) if wanted else None)  # type: ignore[arg-type]
        await scheduler.close()

    asyncio.run(scenario())
