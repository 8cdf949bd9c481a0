"""Issue 14's fidelity gaps, through the official FC 3.0 SDK over 127.0.0.1.

Each test names its gap; the sources of each behaviour are in docs/fidelity.md.
"""

from __future__ import annotations

import io

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from darabonba.runtime import RuntimeOptions

from tests.constants import T0
from tests.contract.conftest import create_function
from tests.contract.test_fc_contract import (
    ECHO,
    RAISER,
    get_task,
    invoke_sync,
    put_config,
    queue_arn,
    statuses,
)

FIVE_HOURS_MS = 5 * 3600 * 1000


def invoke(client, name, payload=b"{}", *, asynchronous=True, task_id=None, trace_id=None,
           delay=None):
    common = {}
    if trace_id is not None:
        common["x-fc-trace-id"] = trace_id
    if delay is not None:
        common["x-fc-async-delay"] = str(delay)
    headers = fc.InvokeFunctionHeaders(
        x_fc_invocation_type="Async" if asynchronous else "Sync", x_fc_async_task_id=task_id,
        common_headers=common or None)
    return client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)), headers, RuntimeOptions())


def sdk_error(call):
    with pytest.raises(AlibabaCloudException) as info:
        call()
    return info.value


def list_tasks(client, name):
    return client.list_async_tasks(name, fc.ListAsyncTasksRequest()).body.tasks


# -- gap 2: a task that ran and failed keeps its error when its age runs out ----------


def test_a_failed_task_whose_age_runs_out_while_waiting_to_retry_is_failed(fcemu, fc_client):
    create_function(fc_client, "raiser", RAISER)
    put_config(fc_client, "raiser", queue=queue_arn(fcemu, "dlq"), retries=3, max_age=1)
    invoke(fc_client, "raiser", b"p", task_id="aged")
    fcemu.drain()
    task = get_task(fc_client, "raiser", "aged")
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Retrying", "Running",
                              "Retrying", "Failed"]
    assert task.events[-1].timestamp - T0 == 1001
    assert task.events[-1].event_detail == '{"Error":"UnhandledInvocationError"}'
    assert task.already_retried_times == 1
    assert task.task_error_message == "UnhandledInvocationError"
    message = fcemu.queue("dlq").last.json()
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["responseContext"]["functionError"] == "InvocationError"


# -- gap 3: Invalid is observable through the API ---------------------------------------


def test_tasks_of_a_deleted_function_are_invalid_under_its_name(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    invoke(fc_client, "echo", task_id="queued")  # runs at once: Succeeded
    fcemu.drain()
    invoke(fc_client, "echo", task_id="waiting", delay=60)
    fc_client.delete_function("echo")
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    task = get_task(fc_client, "echo", "waiting")
    assert statuses(task) == ["Enqueued", "Invalid"]
    assert {t.task_id: t.status for t in list_tasks(fc_client, "echo")} == {
        "waiting": "Invalid", "queued": "Succeeded"}
    error = sdk_error(lambda: invoke(fc_client, "echo", task_id="waiting"))
    assert (error.status_code, error.code) == (409, "AsyncTaskAlreadyExists")
    fcemu.drain()
    assert get_task(fc_client, "echo", "waiting").status == "Invalid"


# -- gap 4: a request ID becomes the task ID ----------------------------------------------


def test_a_request_id_without_a_task_id_is_the_task_id_and_deduplicates(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    response = invoke(fc_client, "echo", b"1", trace_id="order-42")
    assert response.headers["x-fc-request-id"] == "order-42"
    assert response.headers["x-fc-async-task-id"] == "order-42"
    error = sdk_error(lambda: invoke(fc_client, "echo", b"2", trace_id="order-42"))
    assert (error.status_code, error.code) == (409, "AsyncTaskAlreadyExists")
    fcemu.drain()
    task = get_task(fc_client, "echo", "order-42")
    assert (task.request_id, task.status) == ("order-42", "Succeeded")


def test_a_request_id_with_a_task_id_is_the_request_id_only(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    response = invoke(fc_client, "echo", task_id="job-1", trace_id="req-1")
    assert response.headers["x-fc-request-id"] == "req-1"
    assert response.headers["x-fc-async-task-id"] == "job-1"
    invoke(fc_client, "echo", task_id="job-2", trace_id="req-1")  # only task IDs dedupe
    fcemu.drain()
    assert get_task(fc_client, "echo", "job-1").request_id == "req-1"


def test_a_sync_request_id_is_honoured(fc_client):
    create_function(fc_client, "echo", ECHO)
    response = invoke(fc_client, "echo", b"x", asynchronous=False, trace_id="1-abc-def")
    assert response.headers["x-fc-request-id"] == "1-abc-def"


def test_a_request_id_that_cannot_be_a_task_id_is_refused(fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo")
    error = sdk_error(lambda: invoke(fc_client, "echo", trace_id="1-abc"))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "x-fc-trace-id" in error.message and "task ID" in error.message
    error = sdk_error(lambda: invoke(fc_client, "echo", asynchronous=False, trace_id="a b"))
    assert (error.status_code, error.code) == (400, "InvalidArgument")


# -- gap 5: sync invoke response headers ------------------------------------------------


@pytest.mark.fc_verified
def test_sync_invoke_reports_code_checksum_instance_and_version(fc_client):
    function = create_function(fc_client, "echo", ECHO)
    response = invoke_sync(fc_client, "echo", b"x")
    assert response.headers["x-fc-code-checksum"] == function.code_checksum
    assert response.headers["x-fc-invocation-service-version"] == "LATEST"
    instance = response.headers["x-fc-instance-id"]
    assert instance
    assert invoke_sync(fc_client, "echo", b"y").headers["x-fc-instance-id"] == instance


# -- gap 9: account-level concurrency ------------------------------------------------


@pytest.mark.fcemu(account_concurrency=0)
def test_account_concurrency_throttles_sync_and_async(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"), max_age=60)
    error = sdk_error(lambda: invoke_sync(fc_client, "echo", b"x"))
    assert (error.status_code, error.code) == (429, "ResourceThrottled")
    assert "account" in error.message and "--account-concurrency" in error.message
    invoke(fc_client, "echo", task_id="t")
    fcemu.drain()
    task = get_task(fc_client, "echo", "t")
    assert statuses(task) == ["Enqueued", "Failed"]
    assert fcemu.queue("dlq").last.json()["requestContext"]["condition"] == (
        "FunctionResourceExhausted")


# -- gap 1: throttled retries end after 5 hours --------------------------------------------


def test_throttled_async_tasks_give_up_after_five_hours(fcemu, fc_client):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"))  # max age: 24 h
    fc_client.put_concurrency_config("echo", fc.PutConcurrencyConfigRequest(
        body=fc.PutConcurrencyInput(reserved_concurrency=0)))
    invoke(fc_client, "echo", task_id="t")
    fcemu.drain()
    task = get_task(fc_client, "echo", "t")
    assert statuses(task) == ["Enqueued", "Failed"]
    assert task.end_time - T0 == FIVE_HOURS_MS
    message = fcemu.queue("dlq").last.json()
    assert message["requestContext"]["condition"] == "FunctionResourceExhausted"
    assert message["responseContext"]["statusCode"] == 429


# -- gap 10: internal errors and insufficient resources ------------------------------------


@pytest.mark.parametrize(("outcome", "status", "code"), [
    ("internal-error", 500, "InternalServerError"),
    ("insufficient-resources", 503, "ResourceThrottled"),
])
def test_scripted_system_failures(fcemu, fc_client, outcome, status, code):
    create_function(fc_client, "echo", ECHO)
    put_config(fc_client, "echo", queue=queue_arn(fcemu, "dlq"), retries=3)
    fcemu.script("echo", [{"outcome": outcome, "times": 2}])
    error = sdk_error(lambda: invoke_sync(fc_client, "echo", b"x"))
    assert (error.status_code, error.code) == (status, code)
    assert outcome in error.message
    invoke(fc_client, "echo", task_id="t")
    fcemu.drain()
    task = get_task(fc_client, "echo", "t")
    assert statuses(task) == ["Enqueued", "Processed", "Running", "Failed"]
    assert task.already_retried_times == 0
    message = fcemu.queue("dlq").last.json()
    assert message["requestContext"]["condition"] == code
    assert message["responseContext"] == {"statusCode": status, "functionError": ""}
    assert invoke_sync(fc_client, "echo", b"ok").body.read() == b"ok"  # script used up


# -- gap 6: ListInstances on FC's route ---------------------------------------------------


def test_list_instances_on_the_functions_route(fc_client):
    create_function(fc_client, "echo", ECHO)
    assert fc_client.list_instances("echo", fc.ListInstancesRequest()).body.instances == []
    instance = invoke_sync(fc_client, "echo", b"x").headers["x-fc-instance-id"]
    response = fc_client.list_instances("echo", fc.ListInstancesRequest(
        qualifier="LATEST", with_all_active=True, instance_status=["Running"], limit=10))
    [info] = response.body.instances
    assert (info.instance_id, info.qualifier, info.version_id, info.status) == (
        instance, "LATEST", "0", "Running")
    assert response.body.request_id == response.headers["x-fc-request-id"]
    other = fc_client.list_instances("echo", fc.ListInstancesRequest(instance_ids=["nope"]))
    assert other.body.instances == []
    error = sdk_error(lambda: fc_client.list_instances("ghost", fc.ListInstancesRequest()))
    assert (error.status_code, error.code) == (404, "FunctionNotFound")
    error = sdk_error(lambda: fc_client.list_instances("echo", fc.ListInstancesRequest(
        start_time_ms=2, end_time_ms=1)))
    assert (error.status_code, error.code) == (400, "InvalidArgument")


# -- gap 7: ListFunctions filters, tags, GetFunctionCode --------------------------------------


def tag_body(client, arns, tags):
    return fc.TagResourcesRequest(body=fc.TagResourcesInput(
        resource_id=arns, resource_type="function",
        tag=[fc.Tag(key=k, value=v) for k, v in tags.items()]))


def function_names(client, **filters):
    return [f.function_name for f in client.list_functions(
        fc.ListFunctionsRequest(**filters)).body.functions]


@pytest.mark.fc_verified
def test_list_functions_filters(fc_client):
    create_function(fc_client, "a", ECHO, description="first", tags=[fc.Tag(key="env",
                                                                               value="prod")])
    create_function(fc_client, "b", ECHO, runtime="python3.12", description="second")
    create_function(fc_client, "c", ECHO, tags=[fc.Tag(key="env", value="test")])
    assert function_names(fc_client) == ["a", "b", "c"]
    assert function_names(fc_client, runtime="python3.12") == ["b"]
    assert function_names(fc_client, description="first") == ["a"]
    assert function_names(fc_client, tags=[fc.Tag(key="env", value="test")]) == ["c"]
    assert function_names(fc_client, fc_version="v3") == ["a", "b", "c"]
    assert function_names(fc_client, fc_version="v2") == []
    assert function_names(fc_client, gpu_type="fc.gpu.tesla.1") == []
    assert function_names(fc_client, prefix="a", runtime="python3.10") == ["a"]


@pytest.mark.fc_verified
def test_tag_untag_and_list_tag_resources(fc_client):
    arn = create_function(fc_client, "a", ECHO).function_arn
    other = create_function(fc_client, "b", ECHO).function_arn
    fc_client.tag_resources(tag_body(fc_client, [arn, other], {"env": "prod", "team": "x"}))
    fc_client.tag_resources(tag_body(fc_client, [arn], {"env": "test"}))  # overwrites
    assert {(t.key, t.value) for t in fc_client.get_function(
        "a", fc.GetFunctionRequest()).body.tags} == {("env", "test"), ("team", "x")}
    rows = fc_client.list_tag_resources(fc.ListTagResourcesRequest(
        resource_id=[arn], resource_type="function")).body.tag_resources
    assert {(r.resource_id, r.tag_key, r.tag_value) for r in rows} == {
        (arn, "env", "test"), (arn, "team", "x")}
    rows = fc_client.list_tag_resources(fc.ListTagResourcesRequest(
        resource_type="function", tag=[fc.Tag(key="env", value="prod")])).body.tag_resources
    assert {r.resource_id for r in rows} == {other}
    fc_client.untag_resources(fc.UntagResourcesRequest(
        resource_id=[arn], resource_type="function", tag_key=["env"]))
    assert [(t.key, t.value) for t in fc_client.get_function(
        "a", fc.GetFunctionRequest()).body.tags] == [("team", "x")]
    fc_client.untag_resources(fc.UntagResourcesRequest(
        resource_id=[other], resource_type="function", all=True))
    assert fc_client.get_function("b", fc.GetFunctionRequest()).body.tags in (None, [])


def test_tag_errors(fc_client):
    arn = create_function(fc_client, "a", ECHO).function_arn
    error = sdk_error(lambda: fc_client.tag_resources(tag_body(fc_client, [arn],
                                                               {"acs:x": "1"})))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    error = sdk_error(lambda: fc_client.tag_resources(tag_body(
        fc_client, [arn], {f"k{i}": "v" for i in range(21)})))
    assert "at most 20" in error.message
    error = sdk_error(lambda: fc_client.tag_resources(tag_body(
        fc_client, [arn.replace(":functions/a", ":functions/ghost")], {"k": "v"})))
    assert (error.status_code, error.code) == (404, "FunctionNotFound")
    assert fc_client.get_function("a", fc.GetFunctionRequest()).body.tags in (None, [])


def test_get_function_code_serves_the_zip_as_sent(fc_client):
    import base64
    import urllib.error
    import urllib.request

    from tests.contract.conftest import zip_code

    function = create_function(fc_client, "echo", ECHO)
    code = fc_client.get_function_code("echo", fc.GetFunctionCodeRequest()).body
    assert code.checksum == function.code_checksum
    with urllib.request.urlopen(code.url) as response:  # no signature needed: it is signed
        assert response.headers["Content-Type"] == "application/zip"
        assert response.read() == base64.b64decode(zip_code(ECHO))
    fc_client.update_function("echo", fc.UpdateFunctionRequest(body=fc.UpdateFunctionInput(
        code=fc.InputCodeLocation(zip_file=zip_code(ECHO + "# v2\n")))))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(code.url)
    info.value.close()
    assert info.value.code == 403
    fresh = fc_client.get_function_code("echo", fc.GetFunctionCodeRequest()).body
    with urllib.request.urlopen(fresh.url) as response:
        assert response.read() == base64.b64decode(zip_code(ECHO + "# v2\n"))


@pytest.mark.fcemu(access_keys=[("AKfidelity", "secret")])
def test_the_code_url_needs_no_request_signature_in_verify_mode(fc_client):
    import urllib.error
    import urllib.request

    create_function(fc_client, "echo", ECHO)
    code = fc_client.get_function_code("echo", fc.GetFunctionCodeRequest()).body
    with urllib.request.urlopen(code.url) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(code.url.replace("Signature=", "Signature=0"))
    info.value.close()
    assert info.value.code == 403
