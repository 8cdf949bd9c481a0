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


def test_settle_waits_for_work_started_meanwhile_and_close_ends_the_wait() -> None:
    """settle() waits on one future for the work running out (issue 13: not a callback
    on each piece of work): work that work starts is waited for too; two settles wait
    together; close() ends a settle waiting on work it cancels."""
    async def scenario() -> tuple[list[str], bool]:
        scheduler = Scheduler(ManualClock(T0))
        done: list[str] = []
        gate = asyncio.Event()

        async def child(i: int) -> None:
            await gate.wait()
            done.append(f"child{i}")

        async def parent() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            for i in range(2):
                scheduler.spawn(child(i), name=f"child{i}")
            done.append("parent")

        async def opener() -> None:
            for _ in range(10):
                await asyncio.sleep(0)
            gate.set()

        scheduler.spawn(parent(), name="parent")
        scheduler.spawn(opener(), name="opener")
        await asyncio.gather(scheduler.settle(timeout=10), scheduler.settle(timeout=10))
        order = list(done)
        never = asyncio.Event()
        scheduler.spawn(never.wait(), name="stuck")
        waiting = asyncio.ensure_future(scheduler.settle(timeout=10))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        await scheduler.close()
        await asyncio.wait_for(waiting, timeout=5)
        return order, not scheduler._work

    order, empty = asyncio.run(scenario())
    assert order == ["parent", "child0", "child1"]
    assert empty
