"""fcemu.scheduler makes a timer's work task itself (issue 13: the loop's create_task's two
Python calls, inline) only while the loop has no task factory: with one, the factory makes
it, as ``loop.create_task`` would. Either way the work is named by its timer's label,
tracked and settled."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fcemu.clock import ManualClock
from fcemu.scheduler import Scheduler
from tests.constants import T0


def _fire(factory: bool) -> tuple[list[str], list[str], list[str]]:
    made: list[str] = []
    done: list[str] = []

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        if factory:
            def make(loop: asyncio.AbstractEventLoop,
                     coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
                made.append(coro.__qualname__)
                return asyncio.Task(coro, loop=loop)

            loop.set_task_factory(make)  # type: ignore[arg-type]
        scheduler = Scheduler(ManualClock(T0))
        names: list[str] = []

        async def work(item: str) -> None:
            task = asyncio.current_task()
            assert task is not None
            names.append(task.get_name())
            await asyncio.sleep(0)
            done.append(item)

        for item in ("a", "b"):
            scheduler.call_each_at(T0, work, item, label=lambda i: f"work {i}")
        await scheduler.settle(timeout=10)
        assert not scheduler._work and not scheduler.busy()
        return names

    names = asyncio.run(scenario())
    return names, made, done


def test_without_a_task_factory_the_work_is_a_named_asyncio_task() -> None:
    assert _fire(factory=False) == (["work a", "work b"], [], ["a", "b"])


def test_a_task_factory_makes_the_work() -> None:
    names, made, done = _fire(factory=True)
    tracked = [m for m in made if m == "Scheduler._tracked"]  # asyncio.run makes others
    assert (names, len(tracked), done) == (["work a", "work b"], 2, ["a", "b"])
