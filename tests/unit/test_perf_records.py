"""Compact retained records (issue 13): an attempt that printed nothing shares one log
string and reads back framed; latency metrics are histograms, not one entry per task."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import fcemu
from fcemu.engine import Engine
from fcemu.models import QUIET_LOG, Task
from fcemu.runtime.logs import framed


def _get(emu: fcemu.Emulator, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{emu.endpoint}{path}", timeout=10) as response:
        doc: dict[str, Any] = json.loads(response.read())
    return doc


def _record(emu: fcemu.Emulator, name: str, task_id: str) -> Task:
    async def go(engine: Engine) -> Task:
        return engine.task_record(name, task_id)
    return emu.call(go)


def test_a_quiet_attempt_shares_one_string_and_reads_back_framed() -> None:
    with fcemu.Emulator(clock="manual", seed=3) as emu:
        def talkative(event: bytes, context: object) -> bytes:
            print("hello from", event.decode())
            return event

        emu.register_function("quiet", lambda event, context: event)
        emu.register_function("talk", talkative)
        for name in ("quiet", "talk"):
            emu.put_async_invoke_config(name, asyncTask=True)
            emu.invoke(name, b"x", asynchronous=True, task_id=f"{name}-1")
        emu.drain()
        quiet, talk = _record(emu, "quiet", "quiet-1"), _record(emu, "talk", "talk-1")
        assert quiet.attempts[0].logs is QUIET_LOG
        assert talk.attempts[0].logs == framed(talk.request_id, "hello from x")
        empty = framed(quiet.request_id, "")
        assert quiet.attempt_log(quiet.attempts[0]) == empty
        logs = _get(emu, "/_fcemu/functions/quiet/async-tasks/quiet-1/logs")
        assert logs["logs"] == empty and logs["attempts"][0]["logs"] == empty
        talked = _get(emu, "/_fcemu/functions/talk/async-tasks/talk-1/logs")
        assert talked["logs"] == talk.attempts[0].logs


def test_latency_metrics_keep_one_count_per_distinct_latency() -> None:
    with fcemu.Emulator(clock="manual", seed=3) as emu:
        emu.register_function("job", lambda event, context: event)
        emu.put_async_invoke_config("job", asyncTask=True)
        for i in range(300):
            emu.invoke("job", b"{}", asynchronous=True, task_id=f"t-{i}",
                       delay=1 if i < 200 else 3)
        emu.drain()

        async def histograms(engine: Engine) -> list[dict[int, int]]:
            buckets = engine.task_metrics._buckets.values()  # the structure is the point
            return [h for b in buckets for h in b.end_latency.values()]
        [histogram] = emu.call(histograms)
        assert histogram == {1000: 200, 3000: 100}
        [row] = [f for f in emu.metrics()["functions"] if f["functionName"] == "job"]
        assert row["latencyMs"]["end"]["p50"] == 1000
        assert row["latencyMs"]["end"]["p99"] == 3000
        assert row["latencyMs"]["end"]["windowCount"] == 300


def test_a_burst_shares_its_due_time_and_first_event_and_holds_no_timer_each() -> None:
    """Tasks submitted in one millisecond with one delay keep one runnable-time int and
    one first-event log; while they wait, the scheduler holds one entry for them all
    (issue 13), and each still reads its own events and state row."""
    with fcemu.Emulator(clock="manual", seed=3) as emu:
        emu.register_function("job", lambda event, context: event)
        emu.put_async_invoke_config("job", asyncTask=True)
        for i in range(50):
            emu.invoke("job", b"{}", asynchronous=True, task_id=f"t-{i}", delay=2)
        emu.invoke("job", b"{}", asynchronous=True, task_id="later", delay=3)
        first, last, later = (_record(emu, "job", t) for t in ("t-0", "t-49", "later"))
        assert last.runnable_ms is first.runnable_ms
        assert last.event_log is first.event_log
        assert later.runnable_ms == first.runnable_ms + 1000
        assert [e.status.value for e in last.events] == ["Enqueued"]

        async def waiting(engine: Engine) -> tuple[int, list[Any]]:
            tasks = engine.tasks
            return (len(engine.scheduler.pending("task")),
                    [tasks.row(tasks.get("job", t))[1] for t in ("t-0", "t-49", "later")])
        count, wakes = emu.call(waiting)
        assert count == 51
        assert [w[0] for w in wakes] == [first.runnable_ms] * 2 + [later.runnable_ms]
        assert [w[2] for w in wakes] == ["start"] * 3
        assert wakes[0][1] < wakes[1][1] < wakes[2][1]
        emu.drain()
        assert [e.status.value for e in last.events] == [
            "Enqueued", "Processed", "Running", "Succeeded"]
        assert first.events[0] == last.events[0] and first.event_log is not last.event_log
