"""Snapshots of the whole engine state and restoring them (issue 17: fcemu.engine.state,
fcemu.engine.snapshots).

On a manual clock with the scripted runtime of test_engine: a restore puts every part
back (compared as captured data), the IDs, times and outcomes after a restore are those
after the snapshot, a running attempt cut short by a restore counts as a crash, and the
snapshot file carries the same state into another engine.
"""

from __future__ import annotations

import asyncio
import gc
import os
import weakref

import pytest

from fcemu.engine.snapshots import SnapshotNotFound
from fcemu.errors import InvalidArgument
from fcemu.models import TASK_RETENTION_MS, TaskStatus
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from fcemu.tasks import TaskQuery
from fcemu.taskstate import (
    TASK_STATE_FIELDS,
    task_from_state,
    task_to_state,
    tasks_from_states,
)
from tests.unit.test_engine import QUEUE, deploy, messages, run, statuses, submit

S = TaskStatus


def comparable(state):
    """A captured state without the scheduler's internal timer order numbers (a restored
    scheduler counts afresh; the order itself is kept)."""
    tasks = state["tasks"]
    rows = [(row, None if wake is None else (wake[0], wake[2]), paused)
            for row, wake, paused in tasks["tasks"]]
    return {**state, "tasks": {**tasks, "tasks": rows}}


async def scene(engine):
    """Tasks in several states, a queue with visible, in-flight and delayed messages."""
    deploy(engine, retries=2)
    done = await submit(engine, b"1")
    later = await submit(engine, b"2", delay_s=30)
    failing = await submit(engine, b"3")
    await engine.advance_clock(1)
    smq = engine.smq
    smq.create_queue("work")
    for body in ("a", "b", "c"):
        smq.send_message("work", body)
    smq.send_message("work", "late", delay_seconds=60)
    smq.get_queue("work").receive(1)  # "a" in flight for 30 s
    return done, later, failing


async def future(engine):
    """What happens next: new IDs, receipts, outcomes, messages."""
    first = await submit(engine, b"4")
    received = engine.smq.get_queue("work").receive(2)
    await engine.advance_clock(120)
    tasks = [t for t in engine.tasks.by_function["f"].values()]
    return {
        "new_task": first.task_id,
        "receipts": [(m.message_id, m.receipt_handle, m.body) for m in received],
        "tasks": [(t.task_id, t.status, statuses(t), len(t.attempts)) for t in tasks],
        "results": messages(engine),
        "queue": [(m.message_id, m.body, m.dequeue_count, m.next_visible_time)
                  for m in engine.smq.get_queue("work").messages()],
        "now": engine.clock.now_ms(),
    }


def test_restore_puts_every_part_back_and_the_same_future_follows():
    async def scenario(engine, runtime):
        runtime.script = ["ok", "error", "error", "error"]
        await scene(engine)
        info = engine.snapshot()
        before = comparable(engine.capture_state())
        runtime.script = ["ok", "ok", "ok"]
        first = await future(engine)
        await engine.restore_snapshot(info.snapshot_id)
        after = comparable(engine.capture_state())
        runtime.script = ["ok", "ok", "ok"]
        second = await future(engine)
        return info, before, after, first, second

    info, before, after, first, second = run(scenario)
    assert (info.functions, info.tasks, info.queues) == (1, 3, 2)
    assert after == before
    assert second == first
    assert first["results"]  # the future did something: results were delivered


def test_a_snapshot_is_restored_again_and_survives_a_reset():
    async def scenario(engine, runtime):
        await scene(engine)
        engine.snapshot("prepared")
        before = comparable(engine.capture_state())
        await engine.reset()
        await engine.restore_snapshot("prepared")
        await engine.drain()
        await engine.restore_snapshot("prepared")
        return before, comparable(engine.capture_state()), engine.list_snapshots()

    before, after, listed = run(scenario)
    assert after == before
    assert [i.snapshot_id for i in listed] == ["prepared"]


def test_a_running_attempt_cut_short_by_a_restore_counts_as_a_crash_and_is_retried():
    async def scenario(engine, runtime):
        deploy(engine, retries=1)
        task = await submit(engine)
        for _ in range(10):
            await asyncio.sleep(0)
        assert task.status is S.RUNNING
        engine.snapshot("mid")
        await engine.restore_snapshot("mid")
        restored = engine.tasks.get("f", task.task_id)
        status_now = restored.status
        await engine.drain()
        return restored, status_now, messages(engine)

    task, status_now, [msg] = run(scenario, ["block", "ok"])
    assert status_now is S.RETRYING
    first, second = task.attempts
    assert first.outcome == "crash"
    assert task.status is S.SUCCEEDED and second.outcome == "ok"
    assert [s for s, _ in statuses(task)] == ["Enqueued", "Processed", "Running", "Retrying",
                                             "Running", "Succeeded"]
    assert msg["requestContext"]["requestId"] == task.request_id  # one result, the success


def test_a_snapshot_file_carries_the_state_and_code_into_another_engine(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text("def handler(event, context):\n    return event\n")

    async def take(engine, runtime):
        from fcemu.code import zip_code_base64
        engine.create_function(FunctionSpec(name="g", runtime="python3.10",
                                            handler="index.handler",
                                            zip_file=zip_code_base64(code)))
        await scene_without_function(engine)
        info = engine.snapshot("file")
        return engine.snapshot_file(info.snapshot_id), comparable(engine.capture_state())

    data, before = run(take)

    async def load(engine, runtime):
        info = engine.import_snapshot(data)
        await engine.restore_snapshot(info.snapshot_id)
        function = engine.functions["g"]
        return comparable(engine.capture_state()), (function.code_dir / "index.py").read_text()

    after, source = run(load)
    assert source.startswith("def handler")
    for key in ("tasks", "smq", "ids", "clock", "async_configs"):
        assert after[key] == before[key], key
    assert [f.code_checksum for f in after["functions"]] == [
        f.code_checksum for f in before["functions"]]


async def scene_without_function(engine):
    engine.smq.create_queue("work")
    engine.smq.send_message("work", "kept")
    engine.put_async_invoke_config("g", None, __import__("fcemu.specs").specs.AsyncConfigSpec(
        async_task=True))
    await engine.invoke_function("g", b"x", asynchronous=True, delay_s=60)


def test_refusals_name_what_to_do():
    async def scenario(engine, runtime):
        deploy(engine)  # an in-process handler: no file can hold it
        engine.snapshot("mem")
        errors = []
        for call in (lambda: engine.snapshot_file("mem"),
                     lambda: engine.import_snapshot(b"not a snapshot"),
                     lambda: engine.snapshot("bad id!")):
            with pytest.raises(InvalidArgument) as caught:
                call()
            errors.append(caught.value.message)
        with pytest.raises(SnapshotNotFound) as missing:
            await engine.restore_snapshot("nope")
        return errors, missing.value.message

    (in_process, not_file, bad_id), missing = run(scenario)
    assert "Python callable" in in_process and "restore it by ID" in in_process
    assert "not an fcemu snapshot file" in not_file
    assert "snapshot id 'bad id!' is not valid" in bad_id
    assert "snapshots: mem" in missing


def test_results_already_delivered_stay_delivered_once():
    async def scenario(engine, runtime):
        deploy(engine)
        await submit(engine)
        await engine.drain()
        engine.snapshot("after")
        await engine.restore_snapshot("after")
        await engine.drain()
        return messages(engine)

    assert len(run(scenario)) == 1
    assert QUEUE == "dest"


def test_a_restore_that_unpacks_no_code_makes_and_removes_no_directory(tmp_path):
    """The code store's directory is made on first use: restoring in-process functions
    (or resetting) touches no disk; an unpacked package's directory goes at the reset."""
    code = tmp_path / "src"
    code.mkdir()
    (code / "index.py").write_text("def handler(event, context):\n    return event\n")
    data = tmp_path / "data"
    data.mkdir()

    async def scenario(engine, runtime):
        deploy(engine)
        await submit(engine)
        engine.snapshot("s")
        seen = []
        for _ in range(3):
            await engine.restore_snapshot("s")
            seen.append(sorted(set(os.listdir(data)) - {"fcemu.lock"}))
        from fcemu.code import zip_code_base64
        engine.create_function(FunctionSpec(name="g", runtime="python3.10",
                                            handler="index.handler",
                                            zip_file=zip_code_base64(code)))
        unpacked = engine.functions["g"].code_dir
        seen.append(sorted({p.name.split("-")[1] for p in data.iterdir()
                            if p.name != "fcemu.lock"}))
        await engine.reset()
        seen.append(sorted(set(os.listdir(data)) - {"fcemu.lock"}))  # (the durable lock)
        return seen, unpacked

    seen, unpacked = run(scenario, data_dir=data)
    assert seen == [[], [], [], ["code"], []]
    assert unpacked.parent.parent == data and not unpacked.exists()


def test_a_dropped_state_goes_by_reference_counting_not_the_cyclic_collector():
    """No cycle holds the state a restore or a reset drops: its task records go at once
    (a retention timer referring back to its tasks left them all to the collector)."""
    async def scenario(engine, runtime):
        runtime.script = ["ok", "error"]
        await scene(engine)
        engine.snapshot("s")
        gone = []
        gc.collect()
        gc.disable()
        try:
            for drop in (lambda: engine.restore_snapshot("s"), engine.reset):
                old = weakref.ref(engine.tasks)
                await drop()
                gone.append(old() is None)
        finally:
            gc.enable()
        return gone

    assert run(scenario) == [True, True]


def test_a_restore_keeps_retention_and_listing_order_across_functions_and_qualifiers():
    """Tasks of two functions and two qualifiers, submitted interleaved over two days:
    a restore gives the same retention order (submission order, the partitions' index
    order merged) and the same listing; one whose 7 days are over at the restored time
    leaves retention, as before the snapshot its sweep would have."""
    async def scenario(engine, runtime):
        deploy(engine)
        engine.create_function(FunctionSpec(name="g", runtime="python3.10",
                                            handler="index.handler"),
                               handler=lambda event, context: event)
        engine.put_async_invoke_config("g", None, AsyncConfigSpec(async_task=True))
        engine.publish_function_version("f")
        for _day in range(2):
            for name, qualifier in (("f", None), ("g", None), ("f", "1"), ("g", None)):
                await engine.invoke_function(name, b"{}", qualifier=qualifier,
                                             asynchronous=True, delay_s=600)
            await engine.advance_clock(86_400_000)
        query = TaskQuery(limit=100, ascending=True)
        before = [t.task_id for t in engine.tasks._retained]
        listed = [t.task_id for t in engine.tasks.list_all(query)[0]]
        state = engine.capture_state()
        await engine.restore_state(state)
        after = [t.task_id for t in engine.tasks._retained]
        listed_after = [t.task_id for t in engine.tasks.list_all(query)[0]]
        state["clock"]["now_ms"] += TASK_RETENTION_MS - 86_400_000 - 1  # day 0's end
        await engine.restore_state(state)
        late = [t.task_id for t in engine.tasks._retained]
        return before, listed, after, listed_after, late

    before, listed, after, listed_after, late = run(scenario)
    assert len(before) == 8 and sorted(listed) == sorted(before)
    assert after == before
    assert listed_after == listed
    assert late == before[4:]


def test_task_states_load_in_one_pass_and_a_short_or_long_one_is_handled():
    """tasks_from_states gives tasks whose states are those loaded, with attempts of their
    own (two loads share none); a state written before tasks kept their HTTP call (one
    field short) loads with none, among whole ones; any other length is refused."""
    async def scenario(engine, runtime):
        runtime.script = ["ok", "error"]
        await scene(engine)
        return list(engine.tasks.by_function["f"].values())

    states = [task_to_state(t) for t in run(scenario)]
    assert any(s[TASK_STATE_FIELDS.index("attempts")] for s in states)
    assert any(s[TASK_STATE_FIELDS.index("event_details")] for s in states)
    loaded = tasks_from_states(states)
    assert [task_to_state(t) for t in loaded] == states
    assert task_to_state(task_from_state(states[0])) == states[0]
    again = tasks_from_states(states)  # a second load shares no mutable part
    assert all(a.attempts is not b.attempts for a, b in zip(loaded, again, strict=True))
    assert not {id(x) for t in loaded for x in t.attempts} & {
        id(x) for t in again for x in t.attempts}
    short = [states[0][:-1], *states[1:]]
    assert TASK_STATE_FIELDS[-1] == "http_call"
    assert [task_to_state(t) for t in tasks_from_states(short)] == states
    for wrong in (states[0][:-2], (*states[0], None)):
        with pytest.raises(ValueError, match="a task state has"):
            tasks_from_states([wrong, *states[1:]])
