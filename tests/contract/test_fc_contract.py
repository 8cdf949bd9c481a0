"""The official FC 3.0 SDK against a running fcemu over 127.0.0.1.

Every operation of the core issue, every task status, every error code of
decisions.md, and the seed scenario. The handlers are real Python code in a
zip, run in worker processes.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import RuntimeOptions

from tests import constants
from tests.constants import T0
from tests.contract.conftest import create_function, zip_code

ECHO = "def handler(event, context):\n    return event\n"

# The seed's job: sleeps past its timeout when the event asks for failure.
SEED_JOB = """\
import json, time

def handler(event, context):
    if json.loads(event).get("failure"):
        time.sleep(5)
    return json.dumps({"ok": True, "request": context.request_id})
"""

BLOCKING = """\
import time

def handler(event, context):
    time.sleep(30)
    return "late"
"""

RAISER = """\
def handler(event, context):
    print("about to fail")
    raise ValueError("bad input: " + event.decode())
"""


def queue_arn(emu, name):
    return constants.queue_arn(name, emu.region, emu.account_id)


def put_config(client, name, *, queue=None, retries=None, max_age=None, async_task=True):
    destinations = None
    if queue is not None:
        destinations = fc.DestinationConfig(
            on_success=fc.Destination(destination=queue),
            on_failure=fc.Destination(destination=queue))
    body = fc.PutAsyncInvokeConfigInput(
        async_task=async_task, max_async_retry_attempts=retries,
        max_async_event_age_in_seconds=max_age, destination_config=destinations)
    return client.put_async_invoke_config(name, fc.PutAsyncInvokeConfigRequest(body=body)).body


def invoke_async(client, name, payload=b"{}", task_id=None, delay=None):
    common = {"x-fc-async-delay": str(delay)} if delay is not None else None
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id,
                                       common_headers=common)
    return client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)), headers, RuntimeOptions())


def invoke_sync(client, name, payload=b"", log_type=None):
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Sync", x_fc_log_type=log_type)
    return client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)), headers, RuntimeOptions())


def get_task(client, name, task_id):
    return client.get_async_task(name, task_id, fc.GetAsyncTaskRequest()).body


def statuses(task):
    return [e.status for e in task.events]


def client_error(call):
    with pytest.raises(ClientException) as info:
        call()
    return info.value


# -- the seed scenario ---------------------------------------------------------------


def test_seed_scenario_timeout_retried_once_then_failed_to_the_dead_letter_queue(fcemu, fc_client):
    create_function(fc_client, "my-fc-job", SEED_JOB, timeout=1)
    put_config(fc_client, "my-fc-job", queue=queue_arn(fcemu, "fc-dlq"), retries=1)

    response = invoke_async(fc_client, "my-fc-job", b'{"failure": true}', task_id="job-failure")
    assert response.status_code == 202
    assert response.headers["x-fc-async-task-id"] == "job-failure"
    fcemu.drain()

    task = get_task(fc_client, "my-fc-job", "job-failure")
    assert task.status == "Failed"
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Retrying", "Running", "Failed"]
    assert task.already_retried_times == 1
    [message] = fcemu.queue("fc-dlq").json()
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["requestContext"]["functionArn"] == (
        f"acs:fc:{fcemu.region}:{fcemu.account_id}:functions/my-fc-job")
    assert message["requestContext"]["requestId"] == task.request_id
    assert message["requestPayload"] == '{"failure": true}'
    assert message["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    error = json.loads(message["responsePayload"])
    assert error["errorMessage"].startswith("Function timed out after 1 seconds (maxMemoryUsage: ")
    assert int(error["errorMessage"].rsplit(" ", 1)[1].rstrip("MB)")) > 0
    assert message["timestamp"] == task.end_time


def test_seed_scenario_success_goes_to_on_success(fcemu, fc_client):
    create_function(fc_client, "my-fc-job", SEED_JOB, timeout=1)
    put_config(fc_client, "my-fc-job", queue=queue_arn(fcemu, "fc-ok"), retries=1)
    invoke_async(fc_client, "my-fc-job", b'{"failure": false}', task_id="job-ok")
    fcemu.drain()
    task = get_task(fc_client, "my-fc-job", "job-ok")
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Succeeded"]
    assert json.loads(task.return_payload)["request"] == task.request_id
    [message] = fcemu.queue("fc-ok").json()
    assert message["requestContext"]["condition"] == ""
    assert message["responsePayload"] == task.return_payload
    assert task.destination_status == "Succeeded"


# -- functions ------------------------------------------------------------------------


@pytest.mark.fc_verified
def test_function_crud(fcemu, fc_client):
    created = create_function(fc_client, "crud", ECHO, timeout=7, memory_size=256,
                              environment_variables={"A": "b"})
    assert created.function_name == "crud"
    assert created.function_arn == f"acs:fc:{fcemu.region}:{fcemu.account_id}:functions/crud"
    assert (created.timeout, created.memory_size) == (7, 256)
    assert created.environment_variables == {"A": "b"}
    assert created.code_size > 0 and created.code_checksum

    got = fc_client.get_function("crud", fc.GetFunctionRequest()).body
    assert got.function_id == created.function_id

    create_function(fc_client, "crud-2", ECHO)
    create_function(fc_client, "other", ECHO)
    page = fc_client.list_functions(fc.ListFunctionsRequest(prefix="crud", limit=1)).body
    assert [f.function_name for f in page.functions] == ["crud"]
    rest = fc_client.list_functions(fc.ListFunctionsRequest(prefix="crud", limit=1,
                                                            next_token=page.next_token)).body
    assert [f.function_name for f in rest.functions] == ["crud-2"]
    assert not rest.next_token

    updated = fc_client.update_function("crud", fc.UpdateFunctionRequest(
        body=fc.UpdateFunctionInput(timeout=9))).body
    assert updated.timeout == 9
    fc_client.delete_function("crud")
    error = client_error(lambda: fc_client.get_function("crud", fc.GetFunctionRequest()))
    assert (error.status_code, error.code) == (404, "FunctionNotFound")


@pytest.mark.fc_verified
def test_function_already_exists(fc_client):
    create_function(fc_client, "dup", ECHO)
    error = client_error(lambda: create_function(fc_client, "dup", ECHO))
    assert (error.status_code, error.code) == (409, "FunctionAlreadyExists")
    assert "function 'dup' already exists" in error.message


@pytest.mark.fc_verified
@pytest.mark.parametrize(("fields", "needle"), [
    ({"timeout": 0}, "timeout must be between 1 and 86400"),
    ({"memory_size": 100}, "memorySize must be between 128 and 32768"),
    ({"runtime": "java11"}, "runtime 'java11' is not supported"),
])
def test_create_function_rejects_bad_values(fc_client, fields, needle):
    error = client_error(lambda: create_function(fc_client, "bad", ECHO, **fields))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert needle in error.message


@pytest.mark.fc_verified
def test_bad_function_name(fc_client):
    error = client_error(lambda: create_function(fc_client, "9lives", ECHO))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "functionName" in error.message


# -- async invoke configs ---------------------------------------------------------------


def test_async_invoke_config_crud_and_defaults(fc_client):
    create_function(fc_client, "cfg", ECHO)
    put = put_config(fc_client, "cfg")
    assert (put.max_async_retry_attempts, put.max_async_event_age_in_seconds) == (3, 86400)
    assert put.async_task is True
    assert put.function_arn.endswith(":functions/cfg")
    got = fc_client.get_async_invoke_config("cfg", fc.GetAsyncInvokeConfigRequest()).body
    assert got.created_time == "2024-05-01T00:00:00Z"
    listed = fc_client.list_async_invoke_configs(fc.ListAsyncInvokeConfigsRequest()).body
    assert [c.function_arn for c in listed.configs] == [put.function_arn]
    fc_client.delete_async_invoke_config("cfg", fc.DeleteAsyncInvokeConfigRequest())
    error = client_error(
        lambda: fc_client.get_async_invoke_config("cfg", fc.GetAsyncInvokeConfigRequest()))
    assert (error.status_code, error.code) == (404, "AsyncConfigNotExists")


def test_list_async_invoke_configs_pages_of_one_end_with_each_config_once(fc_client):
    """The SDK's paging over ``a`` and ``a-b`` (which once returned ``a`` forever)."""
    for name in ("a", "a-b"):
        create_function(fc_client, name, ECHO)
        put_config(fc_client, name)
    listed, token = [], None
    for _ in range(4):
        body = fc_client.list_async_invoke_configs(
            fc.ListAsyncInvokeConfigsRequest(limit=1, next_token=token)).body
        listed += [c.function_arn.rsplit("/", 1)[1] for c in body.configs]
        token = body.next_token
        if not token:
            break
    assert (listed, token) == (["a", "a-b"], None)


@pytest.mark.fc_verified
@pytest.mark.parametrize(("field", "value", "needle"), [
    ("retries", 9, "maxAsyncRetryAttempts must be between 0 and 8"),
    ("max_age", 0, "maxAsyncEventAgeInSeconds must be between 1 and 604800"),
    ("queue", "arn:aws:sqs:nope", "unsupported destination"),
])
def test_async_invoke_config_out_of_range(fc_client, field, value, needle):
    create_function(fc_client, "cfg", ECHO)
    error = client_error(lambda: put_config(fc_client, "cfg", **{field: value}))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert needle in error.message


# -- synchronous invocation -----------------------------------------------------------------


@pytest.mark.fc_verified
def test_sync_invoke_returns_the_handler_result(fc_client):
    create_function(fc_client, "echo", ECHO)
    response = invoke_sync(fc_client, "echo", b"hello")
    assert response.status_code == 200
    assert response.body.read() == b"hello"
    assert response.headers["x-fc-request-id"].startswith("1-")


@pytest.mark.fc_verified
def test_sync_function_error_is_a_200_with_error_type_and_log_tail(fc_client):
    create_function(fc_client, "raiser", RAISER)
    response = invoke_sync(fc_client, "raiser", b"xyz", log_type="Tail")
    assert response.status_code == 200
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    error = json.loads(response.body.read())
    assert error["errorMessage"] == "bad input: xyz"
    assert error["errorType"] == "ValueError"
    assert any("index.py" in frame[0] for frame in error["stackTrace"])
    log = base64.b64decode(response.headers["x-fc-log-result"]).decode()
    assert "about to fail" in log


@pytest.mark.fc_verified
def test_sync_throttled_over_reserved_concurrency(fc_client):
    create_function(fc_client, "limited", ECHO)
    fc_client.put_concurrency_config("limited", fc.PutConcurrencyConfigRequest(
        body=fc.PutConcurrencyInput(reserved_concurrency=0)))
    error = client_error(lambda: invoke_sync(fc_client, "limited", b"x"))
    assert (error.status_code, error.code) == (429, "ResourceThrottled")


@pytest.mark.fc_verified
def test_async_payload_over_128_kb_is_entity_too_large(fc_client):
    create_function(fc_client, "echo", ECHO)
    error = client_error(lambda: invoke_async(fc_client, "echo", b"x" * (128 * 1024 + 1)))
    assert (error.status_code, error.code) == (400, "EntityTooLarge")


@pytest.mark.fc_verified
def test_invoking_a_missing_function(fc_client):
    error = client_error(lambda: invoke_async(fc_client, "ghost"))
    assert (error.status_code, error.code) == (404, "FunctionNotFound")


# -- async tasks ----------------------------------------------------------------------------


def test_generated_task_id_is_the_request_id(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    response = invoke_async(fc_client, "echo", b"1")
    task_id = response.headers["x-fc-async-task-id"]
    assert response.headers["x-fc-request-id"] == task_id
    fcemu.drain()
    assert get_task(fc_client, "echo", task_id).request_id == task_id


@pytest.mark.fc_verified
def test_duplicate_task_id_conflicts(fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    invoke_async(fc_client, "echo", task_id="once")
    error = client_error(lambda: invoke_async(fc_client, "echo", task_id="once"))
    assert (error.status_code, error.code) == (409, "AsyncTaskAlreadyExists")
    assert "async task 'once' already exists" in error.message


@pytest.mark.fc_verified
def test_bad_task_id(fc_client):
    create_function(fc_client, "echo", ECHO)
    error = client_error(lambda: invoke_async(fc_client, "echo", task_id="-nope"))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "x-fc-async-task-id" in error.message


@pytest.mark.fc_verified
def test_unknown_task_and_task_mode_off(fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", async_task=False)
    error = client_error(lambda: get_task(fc_client, "echo", "nope"))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "asyncTask" in error.message
    put_config(fc_client, "echo")
    error = client_error(lambda: get_task(fc_client, "echo", "nope"))
    assert (error.status_code, error.code) == (404, "AsyncTaskNotFound")


def test_retrying_then_failed_with_a_raising_handler(fcemu, fc_client):
    create_function(fc_client, "raiser", RAISER)
    put_config(fc_client, "raiser", queue=queue_arn(fcemu, "dlq"), retries=2)
    invoke_async(fc_client, "raiser", b"p", task_id="r1")
    fcemu.settle()
    task = get_task(fc_client, "raiser", "r1")
    assert task.status == "Retrying"
    assert task.events[-1].event_detail == '{"Error":"UnhandledInvocationError"}'
    fcemu.clock.advance(0.5)
    assert get_task(fc_client, "raiser", "r1").status == "Retrying"
    fcemu.clock.advance(1)
    task = get_task(fc_client, "raiser", "r1")
    assert task.status == "Failed"
    assert [e.timestamp - T0 for e in task.events] == [0, 0, 0, 0, 500, 500, 1500, 1500]
    assert task.task_error_message == "UnhandledInvocationError"
    assert fcemu.queue("dlq").last.json()["requestContext"]["approximateInvokeCount"] == 3


def test_delayed_task_expires_past_its_max_age(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"), max_age=30)
    invoke_async(fc_client, "echo", task_id="late", delay=60)
    fcemu.clock.advance(59)
    assert get_task(fc_client, "echo", "late").status == "Enqueued"
    fcemu.drain()
    task = get_task(fc_client, "echo", "late")
    assert statuses(task) == ["Enqueued", "Expired"]
    assert fcemu.queue("dlq").last.json()["requestContext"]["condition"] == "EventMaxAgeExceeded"


def test_stop_a_waiting_task_and_412_after(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"))
    invoke_async(fc_client, "echo", task_id="waiting", delay=10)
    fc_client.stop_async_task("echo", "waiting", fc.StopAsyncTaskRequest())
    assert statuses(get_task(fc_client, "echo", "waiting")) == ["Enqueued", "Stopped"]
    error = client_error(
        lambda: fc_client.stop_async_task("echo", "waiting", fc.StopAsyncTaskRequest()))
    assert (error.status_code, error.code) == (412, "PreconditionFailed")
    assert "already Stopped" in error.message
    assert fcemu.queue("dlq").last.json()["requestContext"]["condition"] == "InvocationStopped"


def test_stop_a_running_task_kills_its_worker(fcemu, fc_client):
    create_function(fc_client, "blocker", BLOCKING, timeout=60)
    put_config(fc_client, "blocker", queue=queue_arn(fcemu, "dlq"))
    invoke_async(fc_client, "blocker", task_id="busy")
    # the attempt is running in its worker; the stop must kill it, not wait 30 s
    task = get_task(fc_client, "blocker", "busy")
    assert task.status in ("Processed", "Running")
    fc_client.stop_async_task("blocker", "busy", fc.StopAsyncTaskRequest())
    assert get_task(fc_client, "blocker", "busy").status in ("Stopping", "Stopped")
    fcemu.settle(timeout=20)
    task = get_task(fc_client, "blocker", "busy")
    assert statuses(task)[-2:] == ["Stopping", "Stopped"]
    message = fcemu.queue("dlq").last.json()
    assert message["requestContext"]["condition"] == "InvocationStopped"
    assert "Process exited unexpectedly" in message["responsePayload"]


def test_deleted_function_makes_waiting_tasks_invalid(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"))
    invoke_async(fc_client, "echo", task_id="orphan", delay=5)
    finished = []
    fcemu.task_listeners.append(finished.append)
    try:
        fc_client.delete_function("echo")
        fcemu.drain()
    finally:
        fcemu.task_listeners.remove(finished.append)
    assert [(t["taskId"], t["status"]) for t in finished] == [("orphan", "Invalid")]
    assert fcemu.queue("dlq").messages() == []


def test_list_async_tasks_filters_sorts_pages_and_payloads(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    for i in range(4):
        invoke_async(fc_client, "echo", f"p{i}".encode(), task_id=f"job-{i}", delay=100 * (i == 3))
        fcemu.clock.advance(1)
    listing = fc_client.list_async_tasks("echo", fc.ListAsyncTasksRequest(limit=2)).body
    assert [t.task_id for t in listing.tasks] == ["job-3", "job-2"]
    assert all(t.task_payload is None for t in listing.tasks)
    rest = fc_client.list_async_tasks("echo", fc.ListAsyncTasksRequest(
        limit=2, next_token=listing.next_token, include_payload=True)).body
    assert [(t.task_id, t.task_payload) for t in rest.tasks] == [("job-1", "p1"), ("job-0", "p0")]
    waiting = fc_client.list_async_tasks("echo", fc.ListAsyncTasksRequest(status="Enqueued")).body
    assert [t.task_id for t in waiting.tasks] == ["job-3"]
    ranged = fc_client.list_async_tasks("echo", fc.ListAsyncTasksRequest(
        started_time_begin=T0 + 1000, started_time_end=T0 + 2000, sort_order_by_time="asc",
        prefix="job-")).body
    assert [t.task_id for t in ranged.tasks] == ["job-1", "job-2"]
    error = client_error(lambda: fc_client.list_async_tasks("echo", fc.ListAsyncTasksRequest(
        limit=101)))
    assert (error.status_code, error.code) == (400, "InvalidArgument")


def test_records_are_kept_seven_days(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    invoke_async(fc_client, "echo", task_id="old")
    fcemu.settle()
    fcemu.clock.advance(7 * 24 * 3600 - 1)
    assert get_task(fc_client, "echo", "old").status == "Succeeded"
    fcemu.clock.advance(1)
    error = client_error(lambda: get_task(fc_client, "echo", "old"))
    assert (error.status_code, error.code) == (404, "AsyncTaskNotFound")
    invoke_async(fc_client, "echo", task_id="old")  # the ID is free again


def test_every_task_field_is_filled(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "ok"))
    invoke_async(fc_client, "echo", b"payload", task_id="full")
    fcemu.drain()
    task = get_task(fc_client, "echo", "full")
    assert task.task_id == "full"
    assert task.function_arn.endswith(":functions/echo")
    assert task.qualifier == "LATEST"
    assert task.started_time == T0 and task.end_time == T0
    assert task.duration_ms >= 0
    assert task.already_retried_times == 0
    assert task.destination_status == "Succeeded"
    assert task.instance_id
    assert task.task_payload == "payload"
    assert task.return_payload == "payload"
    assert task.task_error_message in (None, "")
    assert [e.event_id for e in task.events] == [1, 2, 3, 4]


# -- the wire beyond the SDK ------------------------------------------------------------------


def raw(emu, method, path, body=None, headers=None):
    request = urllib.request.Request(f"{emu.endpoint}{path}", data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_unknown_route_is_path_not_supported_json(fcemu):
    status, headers, body = raw(fcemu, "GET", "/2023-03-30/nothing-here")
    assert status == 400
    document = json.loads(body)
    assert document["Code"] == "PathNotSupported"
    assert document["RequestId"] == headers["x-fc-request-id"]


def test_bad_json_body_is_invalid_argument(fcemu):
    status, _, body = raw(fcemu, "POST", "/2023-03-30/functions", b"{not json",
                          {"content-type": "application/json"})
    assert status == 400
    assert json.loads(body)["Code"] == "InvalidArgument"


def test_zip_code_fixture_is_a_zip():
    assert base64.b64decode(zip_code(ECHO))[:2] == b"PK"
