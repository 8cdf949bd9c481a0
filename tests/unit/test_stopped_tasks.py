"""StopAsyncTask in each status a task can be stopped in, and the Stopped result message
(decisions.md "Destinations": ``InvocationStopped``, functionError ``InvocationError``,
``responsePayload`` the "Process exited unexpectedly" error if it was running, else
``""``); and a task parked by DisableFunctionInvocation, then stopped, is forgotten by
the parking.
"""

from __future__ import annotations

import asyncio

import pytest

from fcemu.models import TaskStatus
from tests.unit.test_engine import deploy, messages, run, statuses, submit

S = TaskStatus


async def running(engine, task) -> None:
    for _ in range(10):
        await asyncio.sleep(0)
    assert task.status is S.RUNNING


@pytest.mark.parametrize(("when", "script", "stopped_from", "attempts", "response"), [
    ("Enqueued", [], "Enqueued", 0, ""),
    # its first attempt failed: the message carries no error of that attempt
    ("Retrying", ["error"], "Retrying", 1, ""),
    ("Running", ["block"], "Stopping", 1, "Process exited unexpectedly"),
    ("Stopping", ["block"], "Stopping", 1, "Process exited unexpectedly"),
])
def test_a_stopped_tasks_message_carries_the_stopped_attempts_error_only(
        when, script, stopped_from, attempts, response):
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, delay_s=30 if when == "Enqueued" else 0)
        if when == "Retrying":
            await engine.scheduler.settle()
        elif when in ("Running", "Stopping"):
            await running(engine, task)
        assert task.status.value == when.replace("Stopping", "Running")
        engine.stop_async_task("f", task.task_id)
        if when == "Stopping":
            assert task.status is S.STOPPING
            engine.stop_async_task("f", task.task_id)  # a second stop changes nothing
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario, script)
    assert [s for s, _ in statuses(task)][-2:] == [stopped_from, "Stopped"]
    assert msg["requestContext"]["condition"] == "InvocationStopped"
    assert msg["requestContext"]["approximateInvokeCount"] == attempts
    assert msg["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    if response:
        assert msg["responsePayload"].startswith('{"errorMessage":"' + response)
    else:
        assert msg["responsePayload"] == ""
    if when == "Retrying":  # the record keeps the failed attempt's error
        assert b"boom" in task.error_body


@pytest.mark.parametrize("end", ["stop", "expire", "delete"])
def test_a_parked_task_that_ends_leaves_the_parking(end):
    async def scenario(engine, runtime):
        deploy(engine, max_age=60)
        task = await submit(engine, task_id="p1")
        other = await submit(engine, task_id="p2", delay_s=120)
        engine.disable_function_invocation("f")  # before p1's dispatch: it is parked
        await engine.scheduler.settle()
        assert engine.tasks._paused == {"f": {"p1": task}}
        assert engine.tasks.row(task)[2] is True
        if end == "stop":
            engine.stop_async_task("f", "p1")
        elif end == "expire":
            await engine.scheduler.advance(60_001)
        else:
            engine.delete_function("f")
        await engine.scheduler.settle()
        parked = dict(engine.tasks._paused)  # as it is now, before the enable below
        row = engine.tasks.row(task)
        if end != "delete":
            engine.stop_async_task("f", "p2")
            engine.enable_function_invocation("f")
            await engine.scheduler.drain()
        return task, other, parked, row, runtime.calls

    task, other, parked, row, calls = run(scenario)
    assert task.status is {"stop": S.STOPPED, "expire": S.EXPIRED, "delete": S.INVALID}[end]
    assert parked == {} and row[2] is False  # not in a snapshot's rows as parked either
    assert calls == [] and other.status.terminal
