"""The async task life cycle over HTTP: GetAsyncTask, ListAsyncTasks, StopAsyncTask (spec §9).

Time moves only through the control API (``/_fcemu/clock/advance``, ``/_fcemu/drain``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fcemu.api import wire
from tests.api.conftest import ARN_F, Api, assert_error, boom
from tests.constants import SECOND_MS, SEVEN_DAYS_MS, T0, queue_arn

TASKS = "/functions/f/async-tasks"


def statuses(task: dict[str, Any]) -> list[str]:
    return [e["status"] for e in task["events"]]


async def test_succeeded(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(payload=b'{"n":1}', task_id="job-1")
    await api.settle()
    task = await api.task("job-1")
    assert task["status"] == "Succeeded"
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Succeeded"]
    assert [e["eventId"] for e in task["events"]] == [1, 2, 3, 4]
    assert all(e["timestamp"] == T0 and e["eventDetail"] == "" for e in task["events"])
    assert (task["taskId"], task["functionArn"], task["qualifier"]) == ("job-1", ARN_F, "LATEST")
    assert (task["startedTime"], task["endTime"]) == (T0, T0)
    assert (task["taskPayload"], task["returnPayload"]) == ('{"n":1}', 'ok:{"n":1}')
    assert (task["alreadyRetriedTimes"], task["taskErrorMessage"]) == (0, "")
    assert task["destinationStatus"] == ""  # no destination configured
    assert task["instanceId"].startswith("c-")
    assert isinstance(task["durationMs"], int)


async def test_enqueued_record_has_no_end_time(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1", delay=10)
    task = await api.task("job-1")
    assert (task["status"], statuses(task)) == ("Enqueued", ["Enqueued"])
    assert "endTime" not in task and "returnPayload" not in task
    await api.advance(10)
    task = await api.task("job-1")
    assert (task["status"], task["startedTime"], task["endTime"]) == (
        "Succeeded", T0, T0 + 10 * SECOND_MS)


async def test_failed_after_retries(api: Api) -> None:
    api.deploy(handler=boom)
    await api.put_config(maxAsyncRetryAttempts=2)
    await api.invoke(payload=b"x", task_id="job-1")
    await api.settle()
    task = await api.task("job-1")
    assert (task["status"], statuses(task)) == (
        "Retrying", ["Enqueued", "Processed", "Running", "Retrying"])
    # the last error's type, while retrying (docs/fidelity.md: FC's documented values)
    assert task["taskErrorMessage"] == "UnhandledInvocationError"
    await api.drain()
    task = await api.task("job-1")
    assert task["status"] == "Failed"
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Retrying", "Running",
                              "Retrying", "Running", "Failed"]
    detail = '{"Error":"UnhandledInvocationError"}'
    assert [e["eventDetail"] for e in task["events"]] == [
        "", "", "", detail, "", detail, "", detail]
    # decisions.md: retry k waits 0.5 s × 2^(k−1) on the emulator clock
    times = [e["timestamp"] - T0 for e in task["events"] if e["status"] == "Running"]
    assert times == [0, 500, 1500]
    assert (task["alreadyRetriedTimes"], task["taskErrorMessage"]) == (
        2, "UnhandledInvocationError")
    assert task["endTime"] == T0 + 1500
    assert "returnPayload" not in task


async def test_expired_when_delayed_past_max_age(api: Api) -> None:
    api.deploy()
    await api.put_config(maxAsyncEventAgeInSeconds=60,
                         destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(task_id="job-1", delay=120)
    await api.drain()
    task = await api.task("job-1")
    assert (task["status"], statuses(task)) == ("Expired", ["Enqueued", "Expired"])
    assert task["endTime"] == T0 + 120 * SECOND_MS
    assert task["taskErrorMessage"] == "EventMaxAgeExceeded"
    assert task["destinationStatus"] == "Succeeded"
    [message] = api.messages("dlq")
    assert message["requestContext"]["condition"] == "EventMaxAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 0


async def test_stopped_while_enqueued(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1", delay=60)
    reply = await api.fc("PUT", f"{TASKS}/job-1/stop")
    assert (reply.status, reply.body) == (200, b"")
    assert reply.request_id
    task = await api.task("job-1")
    assert (task["status"], statuses(task)) == ("Stopped", ["Enqueued", "Stopped"])
    await api.advance(60)  # the delay's timer must not run it
    assert (await api.task("job-1"))["status"] == "Stopped"


async def test_stopped_while_running_goes_through_stopping(api: Api) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(event: bytes, context: Any) -> bytes:
        started.set()
        await release.wait()  # never set: only StopAsyncTask ends this attempt
        return b"never"

    api.deploy(handler=slow, timeout=600)
    await api.put_config(destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(task_id="job-1")
    await started.wait()
    assert (await api.task("job-1"))["status"] == "Running"
    assert (await api.fc("PUT", f"{TASKS}/job-1/stop")).status == 200
    await api.settle()
    task = await api.task("job-1")
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Stopping", "Stopped"]
    assert task["taskErrorMessage"] == "InvocationStopped"
    [message] = api.messages("dlq")
    assert message["requestContext"]["condition"] == "InvocationStopped"
    assert message["responseContext"]["functionError"] == "InvocationError"


async def test_stopped_while_retrying_sends_no_error_of_the_failed_attempt(api: Api) -> None:
    """decisions.md: a Stopped task's ``responsePayload`` is the "Process exited
    unexpectedly" error if it was running, else ``""`` (the audit's t3)."""
    api.deploy(handler=boom)
    await api.put_config(destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(task_id="job-1")
    await api.settle()
    assert (await api.task("job-1"))["status"] == "Retrying"
    assert (await api.fc("PUT", f"{TASKS}/job-1/stop")).status == 200
    [message] = api.messages("dlq")
    assert message["requestContext"]["condition"] == "InvocationStopped"
    assert message["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    assert message["responsePayload"] == ""


async def test_failed_when_throttled_until_max_age(api: Api) -> None:
    api.deploy()
    await api.fc("PUT", "/functions/f/concurrency", json_body={"reservedConcurrency": 0})
    await api.put_config(maxAsyncEventAgeInSeconds=10,
                         destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(task_id="job-1")
    await api.drain()
    task = await api.task("job-1")
    assert task["status"] == "Failed"
    assert "Running" not in statuses(task)  # a throttled attempt never runs
    assert task["taskErrorMessage"] == "FunctionResourceExhausted"
    [message] = api.messages("dlq")
    assert message["requestContext"]["condition"] == "FunctionResourceExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 0
    assert message["responseContext"] == {"statusCode": 429, "functionError": ""}


async def test_stop_of_a_terminal_task_is_412(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1")
    await api.settle()
    reply = await api.fc("PUT", f"{TASKS}/job-1/stop")
    assert_error(reply, 412, "PreconditionFailed", "async task 'job-1' is already Succeeded")


async def test_invalid_when_the_function_is_deleted_before_the_task_runs(api: Api) -> None:
    api.deploy()
    await api.put_config(destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(task_id="job-1", delay=60)
    task = api.engine.tasks.get("f", "job-1")
    assert (await api.fc("DELETE", "/functions/f")).status == 204
    await api.drain()
    record = wire.async_task(task, include_payload=True)
    assert (record["status"], statuses(record)) == ("Invalid", ["Enqueued", "Invalid"])
    assert record["taskErrorMessage"] == "FunctionNotFound"
    assert record["destinationStatus"] == ""  # decisions.md: Invalid goes nowhere
    assert api.messages("dlq") == []
    assert_error(await api.fc("GET", f"{TASKS}/job-1"), 404, "FunctionNotFound")


async def test_duplicate_task_id_is_409(api: Api) -> None:
    api.deploy()
    await api.put_config()
    assert (await api.invoke(task_id="job-1")).status == 202
    assert_error(await api.invoke(task_id="job-1"), 409, "AsyncTaskAlreadyExists",
                 "async task 'job-1' already exists")


async def test_unknown_task_is_404(api: Api) -> None:
    api.deploy()
    await api.put_config()
    for method, path in (("GET", f"{TASKS}/nope"), ("PUT", f"{TASKS}/nope/stop")):
        assert_error(await api.fc(method, path), 404, "AsyncTaskNotFound",
                     "async task 'nope' does not exist")


@pytest.mark.parametrize("task_id", ["a.b", "x" * 129, "a%20b"])
async def test_bad_task_ids_in_paths_are_400(api: Api, task_id: str) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.fc("GET", f"{TASKS}/{task_id}")
    assert_error(reply, 400, "InvalidArgument")
    assert "taskId" in reply.json()["Message"]


@pytest.mark.parametrize("config", [None, {"asyncTask": False}])
async def test_task_apis_need_task_mode(api: Api, config: dict[str, Any] | None) -> None:
    api.deploy()
    if config is not None:
        await api.put_config(**config)
    for method, path in (("GET", f"{TASKS}/job-1"), ("GET", TASKS),
                         ("PUT", f"{TASKS}/job-1/stop")):
        reply = await api.fc(method, path)
        assert_error(reply, 400, "InvalidArgument")
        assert "asyncTask: true" in reply.json()["Message"]


async def test_retention_is_seven_days_then_the_id_is_free(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1")
    await api.settle()
    await api.advance((SEVEN_DAYS_MS - SECOND_MS) / SECOND_MS)
    assert (await api.task("job-1"))["status"] == "Succeeded"
    assert_error(await api.invoke(task_id="job-1"), 409, "AsyncTaskAlreadyExists")
    await api.advance(1)
    assert_error(await api.fc("GET", f"{TASKS}/job-1"), 404, "AsyncTaskNotFound")
    assert (await api.invoke(task_id="job-1")).status == 202
    await api.settle()
    assert (await api.task("job-1"))["startedTime"] == T0 + SEVEN_DAYS_MS


async def test_success_destination_message(api: Api) -> None:
    api.deploy()
    await api.put_config(destinationConfig={"onSuccess": {"destination": queue_arn("ok")}})
    reply = await api.invoke(payload=b'{"k":"v"}', task_id="job-1")
    await api.settle()
    assert (await api.task("job-1"))["destinationStatus"] == "Succeeded"
    [message] = api.messages("ok")
    assert message == {
        "timestamp": T0,
        "requestContext": {"requestId": reply.request_id, "functionArn": ARN_F,
                           "condition": "", "approximateInvokeCount": 1},
        "requestPayload": '{"k":"v"}',
        "responseContext": {"statusCode": 200, "functionError": ""},
        "responsePayload": 'ok:{"k":"v"}',
    }


async def test_failure_destination_message(api: Api) -> None:
    api.deploy(handler=boom)
    await api.put_config(maxAsyncRetryAttempts=1,
                         destinationConfig={"onSuccess": {"destination": queue_arn("ok")},
                                            "onFailure": {"destination": queue_arn("dlq")}})
    reply = await api.invoke(payload=b"x", task_id="job-1")
    await api.drain()
    assert api.messages("ok") == []
    [message] = api.messages("dlq")
    assert message["timestamp"] == T0 + 500
    assert message["requestContext"] == {"requestId": reply.request_id, "functionArn": ARN_F,
                                         "condition": "InvocationError",
                                         "approximateInvokeCount": 2}
    assert message["requestPayload"] == "x"
    assert message["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    assert '"errorMessage":"boom: x"' in message["responsePayload"]
    # the same message is on the control API's peek, unconsumed
    peek = (await api.control("GET", "/queues/dlq/messages")).json()["messages"]
    assert [m["dequeueCount"] for m in peek] == [0]


# -- ListAsyncTasks -------------------------------------------------------------------


async def submit_four(api: Api) -> None:
    """job-a (T0, Succeeded), job-b (T0+1s, Succeeded), other-c (T0+2s), job-d (T0+3s, delayed)."""
    api.deploy()
    await api.put_config()
    for task_id in ("job-a", "job-b", "other-c"):
        await api.invoke(payload=task_id.encode(), task_id=task_id)
        await api.advance(1)
    await api.invoke(task_id="job-d", delay=600)


async def list_ids(api: Api, **params: str) -> list[str]:
    reply = await api.fc("GET", TASKS, params=params)
    assert reply.status == 200, reply
    return [t["taskId"] for t in reply.json()["tasks"]]


async def test_list_is_newest_first_by_default(api: Api) -> None:
    await submit_four(api)
    assert await list_ids(api) == ["job-d", "other-c", "job-b", "job-a"]
    assert await list_ids(api, sortOrderByTime="desc") == ["job-d", "other-c", "job-b", "job-a"]
    assert await list_ids(api, sortOrderByTime="asc") == ["job-a", "job-b", "other-c", "job-d"]


async def test_list_filters(api: Api) -> None:
    await submit_four(api)
    assert await list_ids(api, prefix="job-") == ["job-d", "job-b", "job-a"]
    assert await list_ids(api, status="Enqueued") == ["job-d"]
    assert await list_ids(api, status="Succeeded", prefix="job") == ["job-b", "job-a"]
    assert await list_ids(api, status="Dequeued") == []  # the alias of Processed is accepted
    begin, end = str(T0 + SECOND_MS), str(T0 + 2 * SECOND_MS)  # inclusive bounds
    assert await list_ids(api, startedTimeBegin=begin, startedTimeEnd=end) == [
        "other-c", "job-b"]
    assert await list_ids(api, startedTimeBegin=str(T0 + 3 * SECOND_MS)) == ["job-d"]


async def test_list_pages(api: Api) -> None:
    await submit_four(api)
    first = (await api.fc("GET", TASKS, params={"limit": "3", "sortOrderByTime": "asc"})).json()
    assert [t["taskId"] for t in first["tasks"]] == ["job-a", "job-b", "other-c"]
    rest = (await api.fc("GET", TASKS, params={"limit": "3", "sortOrderByTime": "asc",
                                               "nextToken": first["nextToken"]})).json()
    assert [t["taskId"] for t in rest["tasks"]] == ["job-d"]
    assert "nextToken" not in rest


@pytest.mark.parametrize(("value", "included"), [
    (None, False), ("True", True), ("true", True), ("False", False), ("FALSE", False)])
async def test_list_include_payload(api: Api, value: str | None, included: bool) -> None:
    await submit_four(api)
    params = {} if value is None else {"includePayload": value}
    tasks = (await api.fc("GET", TASKS, params=params)).json()["tasks"]
    assert all(("taskPayload" in t) is included for t in tasks)
    if included:
        assert tasks[-1]["taskPayload"] == "job-a"
    assert [t["returnPayload"] for t in tasks if t["status"] == "Succeeded"] == [
        "ok:other-c", "ok:job-b", "ok:job-a"]


@pytest.mark.parametrize(("params", "named"), [
    ({"status": "Done"}, "status"),
    ({"status": "succeeded"}, "status"),
    ({"sortOrderByTime": "up"}, "sortOrderByTime"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"startedTimeBegin": "yesterday"}, "startedTimeBegin"),
    ({"startedTimeEnd": "-5"}, "startedTimeEnd"),
    ({"includePayload": "maybe"}, "includePayload"),
    ({"nextToken": "garbage"}, "nextToken"),
])
async def test_list_rejects_bad_parameters(api: Api, params: dict[str, str],
                                           named: str) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.fc("GET", TASKS, params=params)
    assert_error(reply, 400, "InvalidArgument")
    assert named in reply.json()["Message"]


async def test_bad_status_lists_the_valid_values(api: Api) -> None:
    api.deploy()
    await api.put_config()
    message = (await api.fc("GET", TASKS, params={"status": "Done"})).json()["Message"]
    for status in ("Enqueued", "Processed", "Dequeued", "Running", "Retrying", "Stopping",
                   "Succeeded", "Failed", "Stopped", "Expired", "Invalid"):
        assert status in message
