"""The engine's async task state machine, on a manual clock with a scripted runtime.

No sockets and no processes: the runtime is a fake that answers each attempt
from a script, so every status, timing and destination field can be checked
exactly.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.errors import (
    AsyncTaskAlreadyExists,
    AsyncTaskNotFound,
    InvalidArgument,
    PreconditionFailed,
)
from fcemu.ids import IdGenerator
from fcemu.models import TASK_RETENTION_MS, TaskStatus
from fcemu.runtime import Outcome, crash_outcome, error_body, timeout_outcome
from fcemu.settings import Settings
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from fcemu.tasks import TaskQuery
from tests.constants import T0, queue_arn

S = TaskStatus
QUEUE = "dest"
ARN = queue_arn(QUEUE)


class ScriptedRuntime:
    """Answers attempts from a script: "ok", "error", "timeout", "crash" or "block"."""

    def __init__(self, script=()):
        self.script = list(script)
        self.calls = []
        self.blocked: dict[str, asyncio.Event] = {}

    async def invoke(self, invocation):
        self.calls.append(invocation.request_id)
        step = self.script.pop(0) if self.script else "ok"
        if step == "ok":
            return Outcome("ok", b"done:" + invocation.payload, duration_ms=5, instance_id="c-1")
        if step == "error":
            return Outcome("error", error_body("boom", "Exception", []),
                           "UnhandledInvocationError", 5, 30, "c-1")
        if step == "timeout":
            return timeout_outcome(1, 1000, 42, instance_id="c-1")
        if step == "crash":
            return crash_outcome(7, 40, instance_id="c-1")
        event = self.blocked[invocation.request_id] = asyncio.Event()
        await event.wait()
        return crash_outcome(9, 41, kind="stopped", instance_id="c-1")

    async def stop(self, request_id):
        event = self.blocked.get(request_id)
        if event is not None:
            event.set()
        return event is not None

    async def discard(self, function_name):
        return None

    async def retire_version(self, function_name, version_id):
        return None

    async def close(self):
        for event in self.blocked.values():
            event.set()

    def busy(self):
        return []


def run(scenario, script=(), **settings):
    """Run ``scenario(engine, runtime)`` on a fresh engine inside a real-time loop."""

    async def main():
        runtime = ScriptedRuntime(script)
        engine = Engine(Settings(clock="manual", **settings), ManualClock(T0), IdGenerator(7),
                        runtimes=lambda settings, ids: runtime)
        try:
            return await scenario(engine, runtime)
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def deploy(engine, *, retries=3, max_age=86400, async_task=True):
    engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                        handler="index.handler", timeout=1),
                           handler=lambda event, context: event)
    engine.put_async_invoke_config("f", None, AsyncConfigSpec(
        async_task=async_task, max_async_retry_attempts=retries,
        max_async_event_age_in_seconds=max_age, on_success=ARN, on_failure=ARN))


async def submit(engine, payload=b"{}", task_id=None, delay_s=0):
    result = await engine.invoke_function("f", payload, asynchronous=True, task_id=task_id,
                                          delay_s=delay_s)
    return result.task


def statuses(task):
    return [(e.status.value, e.timestamp - T0) for e in task.events]


def messages(engine):
    if not engine.smq.queue_exists(QUEUE):
        return []
    return [json.loads(m.body) for m in engine.smq.get_queue(QUEUE).messages()]


def test_success_walks_enqueued_processed_running_succeeded():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, b'{"a":1}', task_id="job-1")
        await engine.scheduler.settle()
        return task, messages(engine)

    task, msgs = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Processed", 0), ("Running", 0),
                              ("Succeeded", 0)]
    assert [e.event_id for e in task.events] == [1, 2, 3, 4]
    assert task.return_payload == b'done:{"a":1}'
    assert task.destination_status == "Succeeded"
    assert msgs == [{
        "timestamp": T0,
        "requestContext": {"requestId": task.request_id,
                           "functionArn": "acs:fc:cn-hangzhou:1234567890123456:functions/f",
                           "condition": "", "approximateInvokeCount": 1},
        "requestPayload": '{"a":1}',
        "responseContext": {"statusCode": 200, "functionError": ""},
        "responsePayload": 'done:{"a":1}',
    }]


def test_function_errors_retry_with_doubling_backoff_then_fail():
    async def scenario(engine, runtime):
        deploy(engine, retries=2)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    task, msgs = run(scenario, ["error", "timeout", "crash"])
    detail = '{"Error":"UnhandledInvocationError"}'
    assert statuses(task) == [
        ("Enqueued", 0), ("Processed", 0), ("Running", 0), ("Retrying", 0),
        ("Running", 500), ("Retrying", 500), ("Running", 1500), ("Failed", 1500),
    ]
    assert task.events[3].detail == detail and task.events[-1].detail == detail
    assert task.retried == 2
    [msg] = msgs
    assert msg["requestContext"]["condition"] == "InvocationError"
    assert msg["requestContext"]["approximateInvokeCount"] == 3
    assert msg["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    assert json.loads(msg["responsePayload"])["errorMessage"].startswith(
        "Process exited unexpectedly before completing request (duration: 7ms")


def test_the_seed_scenario_timeout_twice():
    async def scenario(engine, runtime):
        deploy(engine, retries=1)
        task = await submit(engine, b'{"failure": true}')
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario, ["timeout", "timeout"])
    assert task.status is S.FAILED
    assert msg["requestContext"]["approximateInvokeCount"] == 2
    assert msg["requestContext"]["condition"] == "InvocationError"
    assert json.loads(msg["responsePayload"]) == {
        "errorMessage": "Function timed out after 1 seconds (maxMemoryUsage: 42MB)"}


def test_a_retry_that_succeeds():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task

    task = run(scenario, ["error", "ok"])
    assert [s for s, _ in statuses(task)] == ["Enqueued", "Processed", "Running", "Retrying",
                                              "Running", "Succeeded"]
    assert task.retried == 1


def test_an_event_older_than_its_max_age_expires_without_running():
    async def scenario(engine, runtime):
        deploy(engine, max_age=60)
        task = await submit(engine, delay_s=120)
        await engine.scheduler.drain()
        return task, messages(engine), runtime.calls

    task, [msg], calls = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Expired", 120_000)]
    assert calls == []
    assert msg["requestContext"]["condition"] == "EventMaxAgeExceeded"
    assert msg["requestContext"]["approximateInvokeCount"] == 0


def test_throttled_tasks_retry_uncounted_until_max_age_then_fail_exhausted():
    async def scenario(engine, runtime):
        deploy(engine, max_age=10)
        engine.put_concurrency_config("f", 0)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine), engine.clock.now_ms() - T0

    task, [msg], elapsed = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Failed", 10_001)]
    assert elapsed == 10_001
    assert msg["requestContext"]["condition"] == "FunctionResourceExhausted"
    assert msg["responseContext"] == {"statusCode": 429, "functionError": ""}
    assert msg["responsePayload"] == ""


def test_stop_while_waiting_stops_at_once():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, delay_s=30)
        engine.stop_async_task("f", task.task_id)
        await engine.scheduler.drain()
        return task, messages(engine), runtime.calls

    task, [msg], calls = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Stopped", 0)]
    assert calls == []
    assert msg["requestContext"]["condition"] == "InvocationStopped"
    assert msg["responsePayload"] == ""


def test_stop_while_running_goes_through_stopping():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine)
        for _ in range(10):
            await asyncio.sleep(0)
        assert task.status is S.RUNNING
        engine.stop_async_task("f", task.task_id)
        assert task.status is S.STOPPING
        await engine.scheduler.settle()
        with pytest.raises(PreconditionFailed, match="already Stopped"):
            engine.stop_async_task("f", task.task_id)
        return task, messages(engine)

    task, [msg] = run(scenario, ["block"])
    assert [s for s, _ in statuses(task)][-2:] == ["Stopping", "Stopped"]
    assert msg["requestContext"]["condition"] == "InvocationStopped"
    assert msg["responseContext"]["functionError"] == "InvocationError"
    assert "Process exited unexpectedly" in msg["responsePayload"]


def test_deleting_the_function_makes_waiting_tasks_invalid_with_no_destination():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, delay_s=5)
        engine.delete_function("f")
        await engine.scheduler.drain()
        return task, messages(engine)

    task, msgs = run(scenario)
    assert task.status is S.INVALID
    assert msgs == []


def test_duplicate_task_ids_conflict_until_retention_ends():
    async def scenario(engine, runtime):
        deploy(engine)
        await submit(engine, task_id="once")
        await engine.scheduler.settle()
        with pytest.raises(AsyncTaskAlreadyExists, match="async task 'once' already exists"):
            await submit(engine, task_id="once")
        await engine.scheduler.advance(TASK_RETENTION_MS - 1)
        assert engine.get_async_task("f", "once").status is S.SUCCEEDED
        await engine.scheduler.advance(1)
        with pytest.raises(AsyncTaskNotFound):
            engine.get_async_task("f", "once")
        again = await submit(engine, task_id="once")
        return again.submitted_ms - T0

    assert run(scenario) == TASK_RETENTION_MS


def test_task_apis_need_task_mode():
    async def scenario(engine, runtime):
        deploy(engine, async_task=False)
        task = await submit(engine)
        with pytest.raises(InvalidArgument, match="asyncTask: true"):
            engine.get_async_task("f", task.task_id)

    run(scenario)


def test_list_filters_sorts_and_pages():
    async def scenario(engine, runtime):
        deploy(engine)
        for i in range(5):
            await submit(engine, task_id=f"job-{i}", delay_s=100 if i == 4 else 0)
            await engine.scheduler.advance(1000)
        newest, token = engine.list_async_tasks("f", TaskQuery(limit=2))
        rest, end = engine.list_async_tasks("f", TaskQuery(limit=10, next_token=token))
        enqueued, _ = engine.list_async_tasks("f", TaskQuery(status=S.ENQUEUED))
        ranged, _ = engine.list_async_tasks("f", TaskQuery(
            ascending=True, started_begin=T0 + 1000, started_end=T0 + 2000))
        return ([t.task_id for t in newest], [t.task_id for t in rest], end,
                [t.task_id for t in enqueued], [t.task_id for t in ranged])

    newest, rest, end, enqueued, ranged = run(scenario)
    assert newest == ["job-4", "job-3"]
    assert rest == ["job-2", "job-1", "job-0"]
    assert end == ""
    assert enqueued == ["job-4"]
    assert ranged == ["job-1", "job-2"]


def test_a_burst_of_thousands_loses_nothing():
    count = 3000

    async def scenario(engine, runtime):
        deploy(engine, retries=1)
        tasks = [await submit(engine, str(i).encode()) for i in range(count)]
        await engine.scheduler.drain()
        return tasks, messages(engine)

    script = ["error" if i % 3 == 0 else "ok" for i in range(count)]
    tasks, msgs = run(scenario, script)
    assert all(t.status.terminal for t in tasks)
    assert sum(1 for t in tasks for e in t.events if e.status.terminal) == count
    assert sorted(m["requestPayload"] for m in msgs) == sorted(str(i) for i in range(count))


def test_same_seed_same_ids_and_reset_restores_them():
    async def scenario(engine, runtime):
        deploy(engine)
        first = [(await submit(engine)).task_id for _ in range(3)]
        await engine.scheduler.advance(5000)
        await engine.reset()
        deploy(engine)
        again = [(await submit(engine)).task_id for _ in range(3)]
        return first, again, engine.clock.now_ms()

    first, again, now = run(scenario)
    assert first == again
    assert now == T0
