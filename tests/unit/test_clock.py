"""Clock and scheduler: exact values after each step, no sleeping."""

from __future__ import annotations

import asyncio
import collections
from datetime import datetime, timedelta, timezone

import pytest

from fcemu.clock import (
    ManualClock,
    RealClock,
    format_ms,
    new_event_loop,
    to_duration_ms,
    to_epoch_ms,
)
from fcemu.scheduler import Scheduler, SettleTimeout
from tests.constants import SECOND_MS, T0


def run(coro_fn):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro_fn())
    finally:
        loop.close()


def test_real_clock_reads_the_injected_source():
    ticks = iter([T0 * 1_000_000, (T0 + 1) * 1_000_000 + 999_999])
    clock = RealClock(time_source=lambda: next(ticks))
    assert clock.now_ms() == T0
    assert clock.now_ms() == T0 + 1
    assert clock.mode == "real"


def test_manual_clock_moves_only_forward():
    clock = ManualClock(T0)
    clock.move_to(T0 + 5)
    assert clock.now_ms() == T0 + 5
    with pytest.raises(ValueError, match=r"backwards.*reset"):
        clock.move_to(T0)
    assert repr(clock) == "ManualClock(now=2024-05-01T00:00:00.005Z)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, T0),
        (str(T0), T0),
        ("2024-05-01T00:00:00Z", T0),
        ("2024-05-01T08:00:00+08:00", T0),
        (datetime(2024, 5, 1, tzinfo=timezone.utc), T0),
        (datetime(2024, 5, 1), T0),
    ],
)
def test_to_epoch_ms(value, expected):
    assert to_epoch_ms(value) == expected


def test_to_epoch_ms_explains_bad_input():
    with pytest.raises(ValueError, match="ISO 8601"):
        to_epoch_ms("next tuesday")
    with pytest.raises(ValueError, match="ISO 8601"):  # one sign at most, not int()'s error
        to_epoch_ms("--5")


def test_to_duration_ms():
    assert to_duration_ms(1.5) == 1500
    assert to_duration_ms(timedelta(minutes=1)) == 60_000
    assert format_ms(T0 + 1) == "2024-05-01T00:00:00.001Z"


def test_timers_fire_in_due_order_with_the_clock_at_each_due_time():
    async def scenario():
        clock = ManualClock(T0)
        scheduler = Scheduler(clock)
        seen = []
        for delay in (3, 1, 2):
            scheduler.call_later(delay * SECOND_MS,
                                 lambda d=delay: seen.append((d, clock.now_ms())),
                                 name=f"t{delay}")
        now = await scheduler.advance(5 * SECOND_MS)
        return seen, now

    seen, now = run(scenario)
    assert seen == [(1, T0 + 1000), (2, T0 + 2000), (3, T0 + 3000)]
    assert now == T0 + 5000


def test_a_timer_set_by_a_firing_timer_fires_in_the_same_advance():
    async def scenario():
        clock = ManualClock(T0)
        scheduler = Scheduler(clock)
        seen = []

        def first():
            seen.append(clock.now_ms())
            scheduler.call_later(500, lambda: seen.append(clock.now_ms()), name="second")

        scheduler.call_later(1000, first, name="first")
        await scheduler.advance(2 * SECOND_MS)
        return seen

    assert run(scenario) == [T0 + 1000, T0 + 1500]


def test_timers_beyond_the_target_wait():
    async def scenario():
        clock = ManualClock(T0)
        scheduler = Scheduler(clock)
        seen = []
        scheduler.call_later(10 * SECOND_MS, lambda: seen.append("late"), name="late")
        await scheduler.advance(9 * SECOND_MS)
        before = list(seen)
        await scheduler.advance(1 * SECOND_MS)
        return before, seen

    assert run(scenario) == ([], ["late"])


def test_advance_waits_for_the_work_a_timer_started():
    async def scenario():
        clock = ManualClock(T0)
        scheduler = Scheduler(clock)
        done = []

        async def work():
            for _ in range(5):
                await asyncio.sleep(0)
            done.append(clock.now_ms())

        scheduler.call_later(SECOND_MS, work, name="work")
        await scheduler.advance(SECOND_MS)
        return done

    assert run(scenario) == [T0 + 1000]


def test_cancelled_timers_do_not_fire():
    async def scenario():
        scheduler = Scheduler(ManualClock(T0))
        seen = []
        timer = scheduler.call_later(SECOND_MS, lambda: seen.append(1), name="x")
        timer.cancel()
        await scheduler.advance(2 * SECOND_MS)
        return seen, scheduler.pending()

    assert run(scenario) == ([], [])


def test_moving_backwards_or_a_real_clock_is_refused_with_advice():
    async def scenario():
        manual = Scheduler(ManualClock(T0))
        with pytest.raises(ValueError, match="cannot move time backwards; use reset"):
            await manual.advance(-1)
        with pytest.raises(ValueError, match="cannot move time backwards"):
            await manual.set(T0 - 1)
        real = Scheduler(RealClock())
        with pytest.raises(ValueError, match="needs the manual clock"):
            await real.advance(1)

    run(scenario)


def test_settle_is_bounded_and_names_what_is_busy():
    async def scenario():
        scheduler = Scheduler(ManualClock(T0))
        never = asyncio.Event()
        scheduler.spawn(never.wait(), name="stuck handler")
        with pytest.raises(SettleTimeout, match="stuck handler") as info:
            await scheduler.settle(timeout=0.05)
        await scheduler.close()
        return info.value.busy

    assert run(scenario) == ["stuck handler"]


def test_drain_runs_task_timers_but_not_housekeeping_alone():
    async def scenario():
        clock = ManualClock(T0)
        scheduler = Scheduler(clock)
        seen = []
        scheduler.call_later(60 * SECOND_MS, lambda: seen.append("retention"), name="r",
                             kind="housekeeping")
        scheduler.call_later(SECOND_MS, lambda: scheduler.call_later(
            4 * SECOND_MS, lambda: seen.append("task2"), name="t2"), name="t1")
        now = await scheduler.drain()
        return seen, now, [t.name for t in scheduler.pending()]

    seen, now, pending = run(scenario)
    assert seen == ["task2"]
    assert now == T0 + 5000
    assert pending == ["r"]


def test_failures_in_timers_are_reported_not_raised():
    async def scenario():
        scheduler = Scheduler(ManualClock(T0))
        failures = []
        scheduler.on_failure = lambda what, exc: failures.append((what, str(exc)))

        def boom():
            raise RuntimeError("boom")

        scheduler.call_later(0, boom, name="bad")
        await scheduler.settle()
        return failures

    assert run(scenario) == [("timer bad", "boom")]


def test_real_mode_fires_due_timers_from_the_loop():
    async def scenario():
        scheduler = Scheduler(RealClock())
        fired = asyncio.Event()
        scheduler.call_later(0, fired.set, name="now")
        await asyncio.wait_for(fired.wait(), timeout=5)
        await scheduler.settle()
        return fired.is_set()

    assert run(scenario)


@pytest.mark.parametrize(("debug", "lean"), [(False, True), (True, True), (False, False)])
def test_the_loop_call_soon_behaves_as_asyncio_own(debug: bool, lean: bool) -> None:
    """fcemu's loop queues ``call_soon`` callbacks without the stock method's two inner
    calls (issue 13): the same order, arguments, context, handle and cancellation as a
    stock selector loop's, in debug mode too, and a closed loop refuses the same way; a
    loop whose private state is not shaped as expected (``lean`` False) takes the stock
    way, and does the same."""
    import contextvars

    from fcemu.clock import new_event_loop

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def scenario(loop: asyncio.AbstractEventLoop) -> tuple[list[object], list[object]]:
        loop.set_debug(debug)
        seen: list[object] = []
        shapes: list[object] = []

        def note(*args: object) -> None:
            seen.append((args, var.get()))

        async def main() -> None:
            context = contextvars.copy_context()
            context.run(var.set, "theirs")
            handles = [loop.call_soon(note, 1), loop.call_soon(note, 2, "b", context=context),
                       loop.call_soon(note), loop.call_soon(note, 4)]
            handles[2].cancel()
            var.set("mine")  # after the calls: their contexts were copied before
            for handle in handles:
                shapes.append((type(handle), handle.cancelled(),
                               handle._context is context,
                               bool(getattr(handle, "_source_traceback", None))))
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            loop.call_soon(note)
        return seen, shapes

    from fcemu.clock import _stock_shaped

    loop = new_event_loop()
    assert loop._lean is _stock_shaped(loop) is True  # type: ignore[attr-defined]
    loop._lean = lean  # type: ignore[attr-defined]
    ours = scenario(loop)
    stock = scenario(asyncio.SelectorEventLoop())
    assert ours == stock
    assert ours[0] == [((1,), "unset"), ((2, "b"), "theirs"), ((4,), "unset")]
    assert [shape[3] for shape in ours[1]] == [debug] * 4


def test_a_loop_shaped_otherwise_is_not_taken_the_lean_way() -> None:
    """The lean ``call_soon`` reads asyncio's private ``_ready``, ``_closed`` and
    ``_debug``: a loop without them (as a later CPython might make it) is not lean."""
    from types import SimpleNamespace

    from fcemu.clock import _stock_shaped

    ready = collections.deque[object]()
    assert _stock_shaped(SimpleNamespace(_ready=ready, _closed=False, _debug=False))  # type: ignore[arg-type]
    for other in (SimpleNamespace(_ready=[], _closed=False, _debug=False),
                  SimpleNamespace(_closed=False, _debug=False),
                  SimpleNamespace(_ready=ready, _closed=0, _debug=False),
                  SimpleNamespace(_ready=ready, _closed=False)):
        assert not _stock_shaped(other)  # type: ignore[arg-type]
