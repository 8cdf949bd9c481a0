"""fcemu.scheduler's background work reports its own end (issue 13: no done callback, a
loop turn each): settling waits for it, a failure is reported once under the work's name
and never logged by asyncio as unretrieved, a cancellation is not a failure, and work
that a close cancels before it ever ran is closed without a never-awaited warning."""

from __future__ import annotations

import asyncio
import gc
import warnings

from fcemu.clock import ManualClock
from fcemu.scheduler import Scheduler
from tests.constants import T0


def test_work_ends_settle_and_failures_are_reported_once_by_name() -> None:
    failures: list[tuple[str, str]] = []
    unretrieved: list[object] = []

    async def scenario() -> tuple[list[str], object, BaseException | None, bool]:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: unretrieved.append(context))
        scheduler = Scheduler(ManualClock(T0))
        scheduler.on_failure = lambda what, exc: failures.append((what, repr(exc)))
        done: list[str] = []

        async def fine() -> str:
            await asyncio.sleep(0)
            done.append("fine")
            return "value"

        async def broken() -> None:
            await asyncio.sleep(0)
            raise KeyError("lost")

        async def cancelled() -> None:
            await asyncio.sleep(0)
            raise asyncio.CancelledError

        ok = scheduler.spawn(fine(), name="fine work")
        bad = scheduler.spawn(broken(), name="broken work")
        gone = scheduler.spawn(cancelled(), name="cancelled work")
        await scheduler.settle(timeout=10)
        assert not scheduler._work and not scheduler.busy()
        return done, ok.result(), bad.exception(), gone.cancelled()

    done, value, error, cancelled = asyncio.run(scenario())
    gc.collect()
    assert done == ["fine"] and value == "value"
    assert isinstance(error, KeyError) and cancelled
    assert failures == [("broken work", "KeyError('lost')")]
    assert unretrieved == []


def test_work_a_close_cancels_before_it_ran_is_closed_quietly() -> None:
    ran: list[int] = []

    async def scenario() -> list[bool]:
        scheduler = Scheduler(ManualClock(T0))

        async def work(i: int) -> None:
            ran.append(i)

        tasks = [scheduler.spawn(work(i), name=f"w{i}") for i in range(3)]
        await scheduler.close()  # before the loop ever stepped them
        return [task.cancelled() for task in tasks]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cancelled = asyncio.run(scenario())
        gc.collect()
    assert cancelled == [True, True, True] and ran == []


def test_busy_names_the_work_in_flight_by_its_name() -> None:
    # the work is kept by its coroutine (issue 13): busy() reads the names off its tasks
    async def scenario() -> tuple[list[str], list[str]]:
        scheduler = Scheduler(ManualClock(T0))
        gate = asyncio.get_running_loop().create_future()

        async def wait() -> None:
            await gate

        scheduler.spawn(wait(), name="b work")
        scheduler.call_each_at(T0, lambda item: wait(), "x", label=lambda item: f"a {item}")
        scheduler._fire_due()
        busy = scheduler.busy()
        gate.set_result(None)
        await scheduler.settle(timeout=10)
        return busy, scheduler.busy()

    assert asyncio.run(scenario()) == (["a x", "b work"], [])
