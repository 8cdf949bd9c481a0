"""Scripted outcomes and destination faults (fcemu.faults) driving the engine.

The engine runs on a manual clock with an in-process handler that counts its
calls, so every event, backoff and message can be checked exactly.
"""

from __future__ import annotations

import json

import pytest

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.errors import FunctionNotFound, InvalidArgument, ResourceThrottled
from fcemu.faults import Step, parse_steps
from fcemu.ids import IdGenerator
from fcemu.models import TaskStatus
from fcemu.settings import Settings
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from tests.constants import T0, queue_arn

QUEUE = "dest"
ARN = queue_arn(QUEUE)
UNHANDLED = '{"Error":"UnhandledInvocationError"'


def run(scenario, **settings):
    async def main():
        engine = Engine(Settings(clock="manual", **settings), ManualClock(T0), IdGenerator(7))
        try:
            return await scenario(engine)
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def deploy(engine, *, retries=3, max_age=86400):
    calls = []

    def handler(event, context):
        calls.append(context.request_id)
        return b"real:" + event

    engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                        handler="index.handler", timeout=7), handler=handler)
    engine.put_async_invoke_config("f", None, AsyncConfigSpec(
        async_task=True, max_async_retry_attempts=retries,
        max_async_event_age_in_seconds=max_age, on_success=ARN, on_failure=ARN))
    return calls


async def submit(engine, payload=b"p"):
    return (await engine.invoke_function("f", payload, asynchronous=True)).task


def events(task):
    return [(e.status.value, e.timestamp - T0, e.detail) for e in task.events]


def messages(engine):
    if not engine.smq.queue_exists(QUEUE):
        return []
    return [json.loads(m.body) for m in engine.smq.get_queue(QUEUE).messages()]


# -- the script model --------------------------------------------------------------------


def test_steps_from_names_and_objects():
    steps = parse_steps(["timeout", {"outcome": "error", "message": "boom",
                                     "errorType": "KeyError", "times": 2},
                         {"outcome": "ok", "value": {"a": 1}}])
    assert [s.to_doc() for s in steps] == [
        {"outcome": "timeout", "times": 1, "remaining": 1},
        {"outcome": "error", "times": 2, "remaining": 2, "message": "boom",
         "errorType": "KeyError"},
        {"outcome": "ok", "times": 1, "remaining": 1, "value": {"a": 1}},
    ]


@pytest.mark.parametrize(("steps", "message"), [
    ("timeout", "a script is a list of steps"),
    (["explode"], "step 0: unknown scripted outcome 'explode'"),
    ([{"outcome": "crash", "times": 0}], "step 0: times must be a whole number of at least 1"),
    (["ok", {"outcome": "error", "msg": "x"}], "step 1: unknown step field(s) msg"),
    ([{"times": 2}], "step 0: a step needs an outcome"),
    ([{"outcome": "ok", "value": {1, 2}}], "step 0: value: handler returned a set"),
    ([3], "step 0: a step is an outcome name or an object"),
])
def test_bad_scripts_say_what_is_wrong(steps, message):
    with pytest.raises(ValueError) as info:
        parse_steps(steps)
    assert str(info.value).startswith(message)


# -- scripts drive the task life cycle -------------------------------------------------------


def test_scripted_errors_drive_retries_then_the_real_handler_runs():
    async def scenario(engine):
        calls = deploy(engine)
        engine.put_script("f", [{"outcome": "error", "message": "flaky", "times": 2}, "run"])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, calls, messages(engine), engine.get_script("f")

    task, calls, [msg], left = run(scenario)
    scripted_error = f'{UNHANDLED},"Scripted":"error"}}'
    assert events(task) == [
        ("Enqueued", 0, ""), ("Processed", 0, ""), ("Running", 0, '{"Scripted":"error"}'),
        ("Retrying", 0, scripted_error), ("Running", 500, '{"Scripted":"error"}'),
        ("Retrying", 500, scripted_error), ("Running", 1500, '{"Scripted":"run"}'),
        ("Succeeded", 1500, '{"Scripted":"run"}'),
    ]
    assert calls == [task.request_id]  # scripted attempts never reach the handler
    assert [a.scripted for a in task.attempts] == ["error", "error", "run"]
    assert "[fcemu] scripted outcome: error" in task.attempts[0].logs
    assert (msg["responsePayload"], msg["requestContext"]["approximateInvokeCount"]) == (
        "real:p", 3)
    assert left == []


@pytest.mark.parametrize(("outcome", "message"), [
    ("timeout", "Function timed out after 7 seconds (maxMemoryUsage: 0MB)"),
    ("crash", "Process exited unexpectedly before completing request (duration: 0ms, "
              "maxMemoryUsage: 0MB)"),
])
def test_scripted_timeouts_and_crashes_fail_like_real_ones(outcome, message):
    async def scenario(engine):
        deploy(engine, retries=1)
        engine.put_script("f", [{"outcome": outcome, "times": 2}])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario)
    assert task.status is TaskStatus.FAILED
    assert json.loads(msg["responsePayload"]) == {"errorMessage": message}
    assert msg["requestContext"]["condition"] == "InvocationError"


def test_a_scripted_ok_returns_its_value():
    async def scenario(engine):
        calls = deploy(engine)
        engine.put_script("f", [{"outcome": "ok", "value": "fake"}])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, calls

    task, calls = run(scenario)
    assert (task.return_payload, calls) == (b"fake", [])


def test_scripted_throttles_are_not_attempts_and_back_off():
    async def scenario(engine):
        deploy(engine)
        engine.put_script("f", [{"outcome": "throttle", "times": 2}])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task

    task = run(scenario)
    assert events(task) == [("Enqueued", 0, ""), ("Processed", 1500, '{"ScriptedThrottles":2}'),
                            ("Running", 1500, ""), ("Succeeded", 1500, "")]
    assert (len(task.attempts), task.retried) == (1, 0)


def test_throttled_until_max_age_fails_with_resource_exhausted():
    async def scenario(engine):
        deploy(engine, max_age=2)
        engine.put_script("f", [{"outcome": "throttle", "times": 100}])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario)
    assert events(task) == [("Enqueued", 0, ""),
                            ("Failed", 2001, '{"ScriptedThrottles":3}')]
    assert msg["requestContext"]["condition"] == "FunctionResourceExhausted"
    assert msg["responseContext"]["statusCode"] == 429


def test_sync_invocations_follow_the_script_too():
    async def scenario(engine):
        calls = deploy(engine)
        engine.put_script("f", ["throttle", {"outcome": "error", "message": "no"}])
        with pytest.raises(ResourceThrottled, match="scripted 'throttle' step"):
            await engine.invoke_function("f", b"1")
        failed = await engine.invoke_function("f", b"2")
        real = await engine.invoke_function("f", b"3")
        return calls, failed.outcome, real.outcome

    calls, failed, real = run(scenario)
    assert (failed.kind, json.loads(failed.body)["errorMessage"]) == ("error", "no")
    assert (real.kind, real.body, len(calls)) == ("ok", b"real:3", 1)


# -- destination faults ------------------------------------------------------------------------


def test_a_failing_destination_fails_n_deliveries():
    async def scenario(engine):
        deploy(engine)
        engine.fail_destination(QUEUE, times=1)
        first = await submit(engine, b"1")
        await engine.scheduler.drain()
        second = await submit(engine, b"2")
        await engine.scheduler.drain()
        return first, second, messages(engine)

    first, second, msgs = run(scenario)
    assert (first.status, first.destination_status) == (TaskStatus.SUCCEEDED, "Failed")
    assert second.destination_status == "Succeeded"
    assert [m["requestPayload"] for m in msgs] == ["2"]


def test_destination_faults_take_arns_and_check_times():
    async def scenario(engine):
        topic = engine.fail_destination(
            "acs:mns:cn-hangzhou:1234567890123456:/topics/t/messages", 2)
        with pytest.raises(InvalidArgument, match="times must be"):
            engine.fail_destination(QUEUE, -1)
        with pytest.raises(InvalidArgument, match="unsupported destination"):
            engine.fail_destination("acs:oss:nope", 1)
        return topic, engine.destination_faults()

    topic, faults = run(scenario)
    assert (topic.kind, topic.name) == ("topic", "t")
    assert faults == [{"kind": "topic", "name": "t", "remaining": 2}]


# -- life of a script --------------------------------------------------------------------------


def test_reset_and_delete_clear_scripts():
    async def scenario(engine):
        deploy(engine)
        engine.put_script("f", ["crash"])
        engine.fail_destination(QUEUE, 3)
        engine.delete_function("f")
        deploy(engine)
        after_delete = engine.get_script("f")
        engine.put_script("f", ["crash"])
        await engine.reset()
        with pytest.raises(FunctionNotFound):
            engine.put_script("f", ["crash"])
        return after_delete, engine.describe_faults()

    after_delete, after_reset = run(scenario)
    assert after_delete == []
    assert after_reset == {"scripts": {}, "destinations": []}


def test_steps_compare_by_content():
    assert Step("crash", 2) == Step("crash", 2) != Step("crash", 1)


def test_scripts_holds_only_functions_with_steps_left():
    # the task path takes no step while Faults.scripts is empty (issue 13): a function is a
    # key exactly while steps are left, however they run out
    from fcemu.faults import Faults

    faults = Faults()
    faults.set_script("f", [Step("throttle", 2), Step("crash")])
    faults.set_script("g", [Step("ok")])
    faults.set_script("h", [])
    assert sorted(faults.scripts) == ["f", "g"]
    assert faults.take_throttle("f") and faults.take_throttle("f")
    assert not faults.take_throttle("f") and faults.take("f") == Step("crash")
    assert faults.take("g") == Step("ok")
    assert faults.scripts == {}
    assert faults.take("f") is None and not faults.take_throttle("g")
    faults.set_script("f", [Step("crash")])
    faults.clear_script()
    assert faults.scripts == {}


def test_a_script_put_while_tasks_wait_is_taken_by_their_attempts():
    async def scenario(engine):
        deploy(engine)
        first = (await engine.invoke_function("f", b"{}", asynchronous=True)).task
        await engine.scheduler.drain()  # nothing scripted: the handler ran
        waiting = (await engine.invoke_function("f", b"{}", asynchronous=True,
                                                delay_s=5)).task
        engine.put_script("f", ["throttle", "crash"])
        await engine.scheduler.drain()
        return first, waiting, engine.get_script("f")

    first, waiting, left = run(scenario)
    assert first.status is TaskStatus.SUCCEEDED and first.attempts[0].scripted == ""
    assert waiting.throttle_count == 1
    assert [a.scripted for a in waiting.attempts][:1] == ["crash"]
    assert left == []
