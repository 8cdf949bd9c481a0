"""Edges of the Python API found by the session-20 plugin audit: ``reset()`` refuses the
settings a running emulator keeps, ``queue(...).last`` is the most recently sent message,
and a task listener that raises does not lose the other finished tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fcemu


async def _send(engine: Any, body: str, *, priority: int = 8, delay: int = 0) -> None:
    if not engine.smq.queue_exists("q"):
        engine.smq.create_queue("q")
    engine.smq.get_queue("q").send(body, priority=priority, delay_seconds=delay)


def test_reset_refuses_a_data_dir_or_durability_and_says_where_they_go(tmp_path: Path) -> None:
    with fcemu.Emulator(clock="manual", port=0) as emu:
        for change in ({"data_dir": tmp_path}, {"durability": "relaxed"}):
            with pytest.raises(ValueError, match=r"cannot change (data_dir|durability) of a "
                                                 r"running emulator; start another Emulator"):
                emu.reset(**change)
        assert emu.settings.data_dir is None and list(tmp_path.iterdir()) == []
        emu.reset(durability="strict", seed=3)  # unchanged values are fine
        assert emu.settings.seed == 3


def test_last_is_the_most_recently_sent_not_the_last_delivered() -> None:
    with fcemu.Emulator(clock="manual", port=0) as emu:
        queue = emu.queue("q")
        with pytest.raises(LookupError, match="no message on queue 'q'"):
            _ = queue.last
        emu.call(lambda e: _send(e, "low", priority=16))
        emu.clock.advance(1)
        emu.call(lambda e: _send(e, "high", priority=1))
        assert [m.body for m in queue.messages()] == ["high", "low"]  # delivery order
        assert queue.last.body == "high"
        emu.call(lambda e: _send(e, "low-again", priority=16))
        emu.call(lambda e: _send(e, "delayed", delay=60))
        assert queue.last.body == "delayed"


def test_a_listener_that_raises_does_not_lose_the_other_tasks() -> None:
    seen: list[str] = []

    def listener(task: dict[str, Any]) -> None:
        seen.append(task["taskId"])
        if task["taskId"] == "a":
            raise RuntimeError("listener bug")

    with fcemu.Emulator(clock="manual", port=0) as emu:
        emu.register_function("f", lambda event, context: event)
        emu.put_async_invoke_config("f", async_task=True)
        emu.task_listeners.append(listener)
        for task_id in "abc":
            emu.invoke("f", b"", asynchronous=True, task_id=task_id)
        with pytest.raises(RuntimeError, match="listener bug"):
            emu.drain()
        assert sorted(seen) == ["a", "b", "c"]
        emu.settle()
        assert sorted(seen) == ["a", "b", "c"]  # delivered once each
