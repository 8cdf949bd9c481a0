"""A function's task records and the waiting tasks' wake-ups in shards
(fcemu.tasks.records): the same lookups, the same submission order; and a submit's first
event, told to the listeners and the metrics without the general event path."""

from __future__ import annotations

import pytest

from fcemu.errors import AsyncTaskAlreadyExists
from fcemu.models import TaskStatus
from fcemu.tasks.records import SHARDS, TaskRecords
from fcemu.taskstate import TASK_STATE_FIELDS
from tests.unit.test_engine import deploy, run, submit

S = TaskStatus


def test_records_iterate_in_submission_order_across_their_shards():
    async def scenario(engine, runtime):
        deploy(engine)
        ids = [f"t{n:04d}" for n in range(300)][::-1]  # IDs out of their sorted order
        ids[100:100] = [None] * 50  # and generated ones, in between
        tasks = [await submit(engine, task_id=task_id, delay_s=60) for task_id in ids]
        records = engine.tasks.by_function["f"]
        assert isinstance(records, TaskRecords)
        used = [shard for shard in records.shards if shard]
        assert len(used) > SHARDS // 2 and max(map(len, used)) < len(tasks) // 2
        assert list(records.values()) == tasks
        assert list(records) == list(records.keys()) == [t.task_id for t in tasks]
        assert list(records.items()) == [(t.task_id, t) for t in tasks]
        assert engine.task_records("f") == tasks
        assert len(records) == len(tasks) and tasks[7].task_id in records
        assert records.get(tasks[7].task_id) is records[tasks[7].task_id] is tasks[7]
        assert records.get("nope") is None and "nope" not in records
        with pytest.raises(AsyncTaskAlreadyExists):
            await submit(engine, task_id=tasks[3].task_id)
        assert engine.get_async_task("f", tasks[200].task_id) is tasks[200]
        # a snapshot's rows keep them in the same order
        at = TASK_STATE_FIELDS.index("task_id")
        state = engine.tasks.to_state()
        assert [row[0][at] for row in state["tasks"]] == [t.task_id for t in tasks]
        return len(state["tasks"])

    assert run(scenario) == 350


def test_waiting_tasks_leave_their_shards_as_they_run():
    async def scenario(engine, runtime):
        deploy(engine)
        tasks = [await submit(engine, task_id=f"w{n}", delay_s=1) for n in range(200)]
        waits = engine.tasks._waits
        assert len(waits) == 200
        assert all(waits.get(t) is not None for t in tasks)
        await engine.advance_clock(1000)
        await engine.settle()
        assert {t.status for t in tasks} == {S.SUCCEEDED}
        assert len(waits) == 0 and all(waits.get(t) is None for t in tasks)

    run(scenario)


def test_a_stopped_waiting_task_forgets_its_wake_up():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, task_id="s1", delay_s=60)
        assert engine.tasks._waits.get(task) is not None
        engine.stop_async_task("f", "s1")
        assert task.status is S.STOPPED and engine.tasks._waits.get(task) is None

    run(scenario)


def test_a_submit_tells_listeners_and_metrics_of_its_enqueued_event():
    async def scenario(engine, runtime):
        deploy(engine)
        seen = []
        engine.add_event_listener(lambda task, event: seen.append((task, event)))
        task = await submit(engine, task_id="e1", delay_s=5)
        assert [(t, e.event_id, e.status, e.timestamp, e.detail) for t, e in seen] == [
            (task, 1, S.ENQUEUED, task.submitted_ms, "")]
        assert list(task.events) == [seen[0][1]]
        [row] = engine.task_metrics.snapshot()["functions"]
        assert (row["enqueued"], row["backlog"], row["inProcess"]) == (1, 1, 0)
        await engine.advance_clock(5000)
        await engine.settle()
        assert [e.status for _, e in seen] == [S.ENQUEUED, S.PROCESSED, S.RUNNING,
                                               S.SUCCEEDED]
        [row] = engine.task_metrics.snapshot()["functions"]
        assert (row["enqueued"], row["backlog"], row["dequeued"]) == (1, 0, 1)

    run(scenario)


def test_the_enqueued_event_reaches_the_listeners_registered_at_each_submit():
    """The observer hands a new task's event to the metrics alone while no event listener
    is registered (issue 13): listeners added, removed and kept across a reset still get
    exactly the submits made while they are registered, and the metrics count every one."""
    async def scenario(engine, runtime):
        deploy(engine)
        seen: list[str] = []

        def listener(task, event):
            seen.append("reset" if task is None else f"{task.task_id}:{event.status.value}")

        await submit(engine, task_id="a0", delay_s=5)
        engine.add_event_listener(listener)
        await submit(engine, task_id="a1", delay_s=5)
        engine.remove_event_listener(listener)
        await submit(engine, task_id="a2", delay_s=5)
        engine.add_event_listener(listener)
        engine.add_event_listener(listener)  # twice: told twice
        await submit(engine, task_id="a3", delay_s=5)
        engine.remove_event_listener(listener)
        await submit(engine, task_id="a4", delay_s=5)
        [row] = engine.task_metrics.snapshot()["functions"]
        assert row["enqueued"] == 5
        await engine.reset()
        deploy(engine)
        await submit(engine, task_id="b1", delay_s=5)
        engine.remove_event_listener(listener)
        await submit(engine, task_id="b2", delay_s=5)
        [row] = engine.task_metrics.snapshot()["functions"]
        assert row["enqueued"] == 2
        assert seen == ["a1:Enqueued", "a3:Enqueued", "a3:Enqueued", "a4:Enqueued", "reset",
                        "b1:Enqueued"]

    run(scenario)


def test_the_tasks_of_one_millisecond_share_their_first_event_log():
    """A submit in the same millisecond as the last takes that task's first event log (one
    bytes object, Enqueued at that time) instead of packing its own (issue 13); a later
    millisecond, a reset and an explicit event make their own, as before."""
    async def scenario(engine, runtime):
        deploy(engine)
        a = await submit(engine, task_id="s1", delay_s=5)
        b = await submit(engine, task_id="s2", delay_s=5)
        assert a.event_log is b.event_log
        assert [(e.event_id, e.status, e.timestamp) for e in b.events] == [
            (1, S.ENQUEUED, b.submitted_ms)]
        await engine.advance_clock(1)
        c = await submit(engine, task_id="s3", delay_s=5)
        assert c.submitted_ms == a.submitted_ms + 1 and c.event_log != a.event_log
        assert [(e.status, e.timestamp) for e in c.events] == [(S.ENQUEUED, c.submitted_ms)]
        d = await submit(engine, task_id="s4", delay_s=5)
        assert d.event_log is c.event_log
        await engine.advance_clock(5000)
        await engine.settle()
        assert [e.status for e in c.events] == [S.ENQUEUED, S.PROCESSED, S.RUNNING,
                                               S.SUCCEEDED]
        assert [e.status for e in d.events] == [S.ENQUEUED, S.PROCESSED, S.RUNNING,
                                               S.SUCCEEDED]
        assert len(d.events) == 4 and d.events[0].timestamp == d.submitted_ms
        await engine.reset()
        deploy(engine)
        e = await submit(engine, task_id="s5", delay_s=5)
        assert [(ev.status, ev.timestamp) for ev in e.events] == [(S.ENQUEUED, e.submitted_ms)]

    run(scenario)
