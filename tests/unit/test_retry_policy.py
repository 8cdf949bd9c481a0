"""FC's async retry policy on the engine's manual clock (issue 14, fidelity gaps 1, 2, 3, 10).

A scripted fake runtime answers each attempt, so every status, event time and result
message can be checked exactly; time moves only when the scheduler drains it.
"""

from __future__ import annotations

import json

import pytest

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.errors import AsyncTaskAlreadyExists, ResourceThrottled
from fcemu.faults import Step
from fcemu.ids import IdGenerator
from fcemu.models import TaskStatus
from fcemu.retry_policy import THROTTLE_RETRY_WINDOW_MS, backoff_ms
from fcemu.runtime.pool import PoolUsage
from fcemu.settings import Settings
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from fcemu.tasks import TaskQuery
from tests.constants import T0
from tests.unit.test_engine import ARN, ScriptedRuntime, messages, statuses, submit

S = TaskStatus
HOUR_S = 3600


class Runtime(ScriptedRuntime):
    """The engine test's scripted runtime, with the pool usage the engine reads."""

    def usage(self) -> PoolUsage:
        return PoolUsage(0, 0, 0)


def run(scenario, script=(), **settings):
    async def main():
        runtime = Runtime(script)
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


def deploy(engine, *, retries=3, max_age=86400, name="f"):
    engine.create_function(FunctionSpec(name=name, runtime="python3.10",
                                        handler="index.handler", timeout=1),
                           handler=lambda event, context: event)
    engine.put_async_invoke_config(name, None, AsyncConfigSpec(
        async_task=True, max_async_retry_attempts=retries,
        max_async_event_age_in_seconds=max_age, on_success=ARN, on_failure=ARN))


def test_backoff_doubles_from_half_a_second():
    assert [backoff_ms(k, 500) for k in (1, 2, 3, 4, 5)] == [500, 1000, 2000, 4000, 8000]


# -- gap 2: a task that ran and failed is not Expired --------------------------------


def test_a_task_waiting_for_a_retry_when_its_age_runs_out_fails_with_its_last_error():
    async def scenario(engine, runtime):
        deploy(engine, retries=3, max_age=1)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    # attempt 1 at 0 (error), retry 1 at 500 (timeout), retry 2 would be at 1500 > 1 s
    task, [msg] = run(scenario, ["error", "timeout"])
    assert statuses(task) == [
        ("Enqueued", 0), ("Processed", 0), ("Running", 0), ("Retrying", 0),
        ("Running", 500), ("Retrying", 500), ("Failed", 1001)]
    assert task.events[-1].detail == '{"Error":"UnhandledInvocationError"}'
    assert task.condition == "InvocationError"
    assert task.error_type == "UnhandledInvocationError"
    assert json.loads(task.error_body)["errorMessage"].startswith("Function timed out after 1")
    assert msg["requestContext"]["condition"] == "InvocationError"
    assert msg["requestContext"]["approximateInvokeCount"] == 2
    assert msg["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    assert json.loads(msg["responsePayload"])["errorMessage"].startswith("Function timed out")


def test_expired_is_only_for_a_task_that_never_ran():
    async def scenario(engine, runtime):
        deploy(engine, max_age=60)
        task = await submit(engine, delay_s=61)
        await engine.scheduler.drain()
        return task, runtime.calls

    task, calls = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Expired", 61_000)]
    assert calls == [] and task.attempts == []


# -- gap 1: throttled retries are capped at 5 hours -------------------------------------


def test_throttled_retries_stop_after_five_hours_with_a_long_max_age():
    async def scenario(engine, runtime):
        deploy(engine, max_age=86400)
        engine.put_concurrency_config("f", 0)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Failed", THROTTLE_RETRY_WINDOW_MS)]
    # tries at 0, 0.5 s, 1.5 s, 3.5 s ... (doubling), then the window ends: 16 + 1 dispatches
    assert task.throttle_count == sum(1 for k in range(40)
                                      if 500 * (2 ** k - 1) < THROTTLE_RETRY_WINDOW_MS)
    assert msg["requestContext"]["condition"] == "FunctionResourceExhausted"
    assert msg["responseContext"] == {"statusCode": 429, "functionError": ""}


def test_the_max_age_still_ends_throttling_when_it_is_shorter_than_five_hours():
    async def scenario(engine, runtime):
        deploy(engine, max_age=HOUR_S)
        engine.put_concurrency_config("f", 0)
        task = await submit(engine)
        await engine.scheduler.drain()
        return task

    task = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Failed", HOUR_S * 1000 + 1)]
    assert task.condition == "FunctionResourceExhausted"


def test_the_five_hours_count_from_the_first_throttle_of_a_streak():
    async def scenario(engine, runtime):
        deploy(engine, max_age=86400)
        task = await submit(engine, delay_s=600)  # runnable 10 minutes after submission
        engine.put_concurrency_config("f", 0)
        await engine.scheduler.drain()
        return task

    task = run(scenario)
    assert statuses(task) == [("Enqueued", 0),
                              ("Failed", 600_000 + THROTTLE_RETRY_WINDOW_MS)]


def test_a_task_that_runs_after_throttling_is_not_bound_by_the_window():
    async def scenario(engine, runtime):
        deploy(engine, retries=0)
        engine.faults.set_script("f", [Step("throttle", times=3)])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task

    task = run(scenario, ["ok"])
    assert statuses(task) == [("Enqueued", 0), ("Processed", 3500), ("Running", 3500),
                              ("Succeeded", 3500)]
    assert task.throttled_since_ms is None


# -- gap 10: internal errors and insufficient resources are not retried -----------------


def test_a_scripted_internal_error_fails_the_task_without_a_retry():
    async def scenario(engine, runtime):
        deploy(engine, retries=3)
        engine.faults.set_script("f", [Step("internal-error")])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine), runtime.calls

    task, [msg], calls = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Processed", 0), ("Running", 0),
                              ("Failed", 0)]
    assert task.events[-1].detail == '{"Error":"InternalServerError","Scripted":"internal-error"}'
    assert calls == [] and task.retried == 0
    assert task.condition == "InternalServerError"
    assert msg["requestContext"]["condition"] == "InternalServerError"
    assert msg["responseContext"] == {"statusCode": 500, "functionError": ""}
    assert msg["responsePayload"] == ""


def test_scripted_insufficient_resources_fail_the_task_without_a_retry():
    async def scenario(engine, runtime):
        deploy(engine, retries=3)
        engine.faults.set_script("f", [Step("insufficient-resources")])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task, messages(engine)

    task, [msg] = run(scenario)
    assert [s for s, _ in statuses(task)] == ["Enqueued", "Processed", "Running", "Failed"]
    assert task.retried == 0
    assert msg["requestContext"]["condition"] == "ResourceThrottled"
    assert msg["responseContext"] == {"statusCode": 503, "functionError": ""}


def test_a_function_error_after_a_system_error_script_is_retried_again():
    async def scenario(engine, runtime):
        deploy(engine, retries=1)
        engine.faults.set_script("f", [Step("error"), Step("internal-error")])
        task = await submit(engine)
        await engine.scheduler.drain()
        return task

    task = run(scenario)
    assert [s for s, _ in statuses(task)] == ["Enqueued", "Processed", "Running", "Retrying",
                                              "Running", "Failed"]
    assert task.condition == "InternalServerError" and task.retried == 1


# -- gap 3: tasks of a deleted function ---------------------------------------------------


def test_waiting_tasks_of_a_deleted_function_stay_queryable_as_invalid():
    async def scenario(engine, runtime):
        deploy(engine)
        task = await submit(engine, task_id="queued", delay_s=30)
        engine.delete_function("f")
        await engine.scheduler.drain()
        listed, _ = engine.tasks.list_all(TaskQuery())
        deploy(engine)  # the same name again: a new function, the old task is still there
        again = engine.get_async_task("f", "queued")
        return task, listed, again, messages(engine), runtime.calls

    task, listed, again, msgs, calls = run(scenario)
    assert statuses(task) == [("Enqueued", 0), ("Invalid", 0)]
    assert [t.task_id for t in listed] == ["queued"]
    assert again is task and again.status is S.INVALID
    assert msgs == [] and calls == []


def test_a_task_id_of_a_deleted_function_stays_reserved_while_its_record_is_kept():
    async def scenario(engine, runtime):
        deploy(engine)
        await submit(engine, task_id="once", delay_s=30)
        engine.delete_function("f")
        deploy(engine)
        try:
            await submit(engine, task_id="once")
        except AsyncTaskAlreadyExists as exc:
            return exc.message
        return None

    assert run(scenario) == "async task 'once' already exists"



# -- gap 9: the account's concurrency limit ---------------------------------------------


def test_the_account_limit_throttles_every_function_sync_and_async():
    async def scenario(engine, runtime):
        deploy(engine, name="f")
        deploy(engine, name="g")
        assert engine.slots.acquire("f")  # an execution of f holds the account's one slot
        try:
            await engine.invoke_function("g", b"{}")
        except ResourceThrottled as exc:
            refused = exc.message
        waiting = (await engine.invoke_function("g", b"{}", asynchronous=True)).task
        await engine.scheduler.advance(1200)  # throttled tries at 0, 500 ms, 1.5 s
        throttles = waiting.throttle_count
        engine.slots.release("f")
        await engine.scheduler.drain()
        return refused, throttles, waiting

    refused, throttles, waiting = run(scenario, account_concurrency=1)
    assert "account is at its concurrency limit (1" in refused
    assert throttles == 2
    assert waiting.status is S.SUCCEEDED
    assert [s for s, _ in statuses(waiting)] == ["Enqueued", "Processed", "Running", "Succeeded"]


def test_account_concurrency_from_the_cli_a_config_file_and_the_python_api(tmp_path):
    from fcemu import Emulator
    from fcemu.cli.main import build_parser
    from fcemu.cli.serve import settings_from
    from fcemu.config import load_settings

    args = build_parser().parse_args(["serve", "--account-concurrency", "3"])
    assert settings_from(args).account_concurrency == 3
    config = tmp_path / "fcemu.yaml"
    config.write_text("version: 1\nsettings:\n  accountConcurrency: 2\n")
    assert load_settings([config], Settings()).account_concurrency == 2
    assert Emulator(clock="manual", account_concurrency=0).settings.account_concurrency == 0
    assert Settings().account_concurrency is None
    with pytest.raises(ValueError, match="account_concurrency: must be a whole number"):
        Settings(account_concurrency=-1)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--account-concurrency", "-1"])
