"""Metrics after a state load (fcemu.metrics.Metrics.loaded): a snapshot restore and a
durable restart start fresh metrics whose gauges (backlog, in process) are the restored
tasks', each live task counted as enqueued (and as dequeued once it had started), so no
later change of a restored task takes away what was never added (docs/state.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import fcemu
from fcemu.models import TaskStatus
from tests.unit.test_engine import deploy, run, submit

S = TaskStatus


def _counts(snapshot: dict[str, Any], function: str) -> tuple[int, int, int, int, int]:
    [row] = [f for f in snapshot["functions"] if f["functionName"] == function]
    return (row["enqueued"], row["dequeued"], row["backlog"], row["inProcess"],
            row["byStatus"]["Succeeded"])


def _flaky(event: bytes, context: object) -> bytes:
    if event == b"fail-once" and not getattr(_flaky, "failed", False):
        _flaky.failed = True  # type: ignore[attr-defined]
        raise RuntimeError("once")
    return b"ok"


def test_a_snapshot_restore_counts_the_waiting_tasks_it_puts_back() -> None:
    with fcemu.Emulator(clock="manual", seed=1) as emu:
        emu.register_function("a", _flaky)
        emu.put_async_invoke_config("a", asyncTask=True, maxAsyncRetryAttempts=1)
        emu.invoke("a", b"later", asynchronous=True, delay=60)  # Enqueued, not started
        emu.invoke("a", b"fail-once", asynchronous=True)  # Retrying after its first attempt
        emu.settle()
        assert sorted(t["status"] for t in emu.tasks("a")) == ["Enqueued", "Retrying"]
        before = _counts(emu.metrics(), "a")
        assert before == (2, 1, 2, 0, 0)
        snapshot = emu.snapshot()
        emu.restore(snapshot)
        assert _counts(emu.metrics(), "a") == before  # the gauges are the restored tasks'
        assert max(p["backlog"] for p in emu.metrics()["series"]) == 2
        emu.drain()
        assert _counts(emu.metrics(), "a") == (2, 2, 0, 0, 2)


def test_a_running_task_cut_short_by_a_restore_leaves_the_process_gauge_at_zero() -> None:
    async def scenario(engine: Any, runtime: Any) -> list[tuple[int, int, int, int, int]]:
        deploy(engine, retries=1)
        task = await submit(engine)
        for _ in range(10):
            await asyncio.sleep(0)
        assert task.status is S.RUNNING
        seen = [_counts(engine.task_metrics.snapshot(), "f")]
        engine.snapshot("mid")
        await engine.restore_snapshot("mid")  # its attempt is a crash: Retrying
        seen.append(_counts(engine.task_metrics.snapshot(), "f"))
        await engine.drain()
        seen.append(_counts(engine.task_metrics.snapshot(), "f"))
        return seen

    running, restored, drained = run(scenario, ["block", "ok"])
    assert running == (1, 1, 0, 1, 0)
    assert restored == (1, 1, 1, 0, 0)  # in process 1 -> 0 (not -1), into the backlog
    assert drained == (1, 1, 0, 0, 1)


def test_a_durable_restart_counts_the_waiting_tasks_it_loads(tmp_path: Path) -> None:
    data, code = tmp_path / "data", tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text("def handler(event, context):\n    return event\n")
    with fcemu.Emulator(clock="manual", seed=5, data_dir=data) as emu:
        emu.register_function("g", code=code)
        emu.invoke("g", b"1", asynchronous=True, delay=60)
        emu.invoke("g", b"2", asynchronous=True)
        emu.settle()
        assert _counts(emu.metrics(), "g") == (2, 1, 1, 0, 1)
    with fcemu.Emulator(clock="manual", seed=5, data_dir=data) as emu:
        # the finished task ended before these metrics began: only the waiting one counts
        assert _counts(emu.metrics(), "g") == (1, 0, 1, 0, 0)
        emu.drain()
        assert _counts(emu.metrics(), "g") == (1, 1, 0, 0, 1)
