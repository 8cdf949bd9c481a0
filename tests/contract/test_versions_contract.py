"""Versions, aliases, qualifiers and Disable/EnableFunctionInvocation through the official SDK.

Every new operation (PublishFunctionVersion, ListFunctionVersions,
DeleteFunctionVersion, CreateAlias, GetAlias, UpdateAlias, ListAliases, DeleteAlias,
DisableFunctionInvocation, EnableFunctionInvocation) against a running fcemu, with
real handlers in worker processes; ``qualifier`` on InvokeFunction (sync and async),
the async invoke configs and ListAsyncTasks; the canary split of an alias.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import RuntimeOptions

from tests import constants
from tests.contract.conftest import create_function as create_with
from tests.contract.conftest import zip_code

# What ran: the code's own mark, its environment, and the context's qualifier and version.
WHO = """\
import json, os

MARK = {mark!r}

def handler(event, context):
    return json.dumps({{"mark": MARK, "env": os.environ.get("COLOUR", ""),
                       "qualifier": context.function.qualifier,
                       "version": context.function.version_id}})
"""

BLOCKING = """\
import time

def handler(event, context):
    time.sleep(30)
    return "late"
"""


def create_function(client, name, source, **fields):
    """A python3.12 function (the context that has ``function.qualifier`` and ``version_id``)."""
    return create_with(client, name, source, **{"runtime": "python3.12", **fields})


def who(mark: str) -> str:
    return WHO.format(mark=mark)


def update_code(client, name, source, **fields):
    body = fc.UpdateFunctionInput(code=fc.InputCodeLocation(zip_file=zip_code(source)), **fields)
    return client.update_function(name, fc.UpdateFunctionRequest(body=body)).body


def publish(client, name, description=None):
    body = fc.PublishVersionInput(description=description)
    return client.publish_function_version(
        name, fc.PublishFunctionVersionRequest(body=body)).body


def create_alias(client, name, alias, version, weights=None, description=None):
    body = fc.CreateAliasInput(alias_name=alias, version_id=version,
                               additional_version_weight=weights, description=description)
    return client.create_alias(name, fc.CreateAliasRequest(body=body)).body


def invoke(client, name, qualifier=None, payload=b"{}", asynchronous=False, task_id=None,
           delay=None):
    common = {"x-fc-async-delay": str(delay)} if delay is not None else None
    headers = fc.InvokeFunctionHeaders(
        x_fc_invocation_type="Async" if asynchronous else "Sync", x_fc_async_task_id=task_id,
        common_headers=common)
    request = fc.InvokeFunctionRequest(body=io.BytesIO(payload), qualifier=qualifier)
    return client.invoke_function_with_options(name, request, headers, RuntimeOptions())


def ran(client, name, qualifier=None):
    return json.loads(invoke(client, name, qualifier).body.read())


def put_config(client, name, qualifier=None, queue=None, async_task=True, max_age=None):
    destinations = None
    if queue is not None:
        destinations = fc.DestinationConfig(on_success=fc.Destination(destination=queue),
                                            on_failure=fc.Destination(destination=queue))
    body = fc.PutAsyncInvokeConfigInput(async_task=async_task, destination_config=destinations,
                                        max_async_event_age_in_seconds=max_age)
    return client.put_async_invoke_config(
        name, fc.PutAsyncInvokeConfigRequest(body=body, qualifier=qualifier)).body


def get_task(client, name, task_id, qualifier=None):
    return client.get_async_task(name, task_id,
                                 fc.GetAsyncTaskRequest(qualifier=qualifier)).body


def client_error(call):
    with pytest.raises(ClientException) as info:
        call()
    return info.value


def queue_arn(emu, name):
    return constants.queue_arn(name, emu.region, emu.account_id)


# -- versions -------------------------------------------------------------------------


@pytest.mark.fc_verified
def test_publish_list_page_and_delete_versions(fc_client):
    create_function(fc_client, "svc", who("one"))
    first = publish(fc_client, "svc", "first")
    assert (first.version_id, first.description) == ("1", "first")
    assert first.created_time and first.last_modified_time
    update_code(fc_client, "svc", who("two"))
    assert publish(fc_client, "svc").version_id == "2"
    update_code(fc_client, "svc", who("three"))
    publish(fc_client, "svc")

    listed = fc_client.list_function_versions("svc", fc.ListFunctionVersionsRequest()).body
    assert [v.version_id for v in listed.versions] == ["3", "2", "1"]
    assert listed.direction == "BACKWARD"
    forward = fc_client.list_function_versions(
        "svc", fc.ListFunctionVersionsRequest(direction="FORWARD", limit=2)).body
    assert [v.version_id for v in forward.versions] == ["1", "2"]
    rest = fc_client.list_function_versions("svc", fc.ListFunctionVersionsRequest(
        direction="FORWARD", limit=2, next_token=forward.next_token)).body
    assert [v.version_id for v in rest.versions] == ["3"]
    assert rest.next_token is None

    fc_client.delete_function_version("svc", "2")
    listed = fc_client.list_function_versions("svc", fc.ListFunctionVersionsRequest()).body
    assert [v.version_id for v in listed.versions] == ["3", "1"]
    # version numbers are never reused
    assert publish(fc_client, "svc").version_id == "4"
    error = client_error(lambda: fc_client.delete_function_version("svc", "2"))
    assert (error.status_code, error.code) == (404, "VersionNotFound")
    error = client_error(lambda: invoke(fc_client, "svc", "2"))
    assert (error.status_code, error.code) == (404, "VersionNotFound")


def test_list_versions_rejects_a_bad_direction(fc_client):
    create_function(fc_client, "svc", who("one"))
    error = client_error(lambda: fc_client.list_function_versions(
        "svc", fc.ListFunctionVersionsRequest(direction="SIDEWAYS")))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "BACKWARD or FORWARD" in error.message


@pytest.mark.fc_verified
def test_a_version_runs_its_own_code_and_configuration(fc_client):
    create_function(fc_client, "svc", who("old"),
                    environment_variables={"COLOUR": "blue"})
    publish(fc_client, "svc")
    assert ran(fc_client, "svc", "1") == {"mark": "old", "env": "blue", "qualifier": "1",
                                          "version": "1"}
    update_code(fc_client, "svc", who("new"), environment_variables={"COLOUR": "red"})
    # LATEST changed; version 1 still runs its snapshot (its code directory survived)
    assert ran(fc_client, "svc") == {"mark": "new", "env": "red", "qualifier": "LATEST",
                                     "version": ""}
    assert ran(fc_client, "svc", "1")["mark"] == "old"
    assert ran(fc_client, "svc", "1")["env"] == "blue"
    got = fc_client.get_function("svc", fc.GetFunctionRequest(qualifier="1")).body
    assert got.environment_variables == {"COLOUR": "blue"}
    assert fc_client.get_function("svc", fc.GetFunctionRequest()).body.environment_variables \
        == {"COLOUR": "red"}


# -- aliases --------------------------------------------------------------------------


@pytest.mark.fc_verified
def test_alias_crud(fc_client):
    create_function(fc_client, "svc", who("one"))
    publish(fc_client, "svc")
    publish(fc_client, "svc")
    created = create_alias(fc_client, "svc", "prod", "1", description="live")
    assert (created.alias_name, created.version_id, created.description) == ("prod", "1", "live")
    assert created.created_time and created.last_modified_time
    create_alias(fc_client, "svc", "staging", "2")

    got = fc_client.get_alias("svc", "prod").body
    assert (got.alias_name, got.version_id) == ("prod", "1")
    updated = fc_client.update_alias("svc", "prod", fc.UpdateAliasRequest(
        body=fc.UpdateAliasInput(version_id="2", additional_version_weight={"1": 0.25}))).body
    assert (updated.version_id, updated.additional_version_weight) == ("2", {"1": 0.25})
    assert updated.description == "live"

    listed = fc_client.list_aliases("svc", fc.ListAliasesRequest()).body
    assert [a.alias_name for a in listed.aliases] == ["prod", "staging"]
    page = fc_client.list_aliases("svc", fc.ListAliasesRequest(limit=1)).body
    assert [a.alias_name for a in page.aliases] == ["prod"]
    page = fc_client.list_aliases("svc", fc.ListAliasesRequest(
        limit=1, next_token=page.next_token)).body
    assert [a.alias_name for a in page.aliases] == ["staging"]
    only = fc_client.list_aliases("svc", fc.ListAliasesRequest(prefix="sta")).body
    assert [a.alias_name for a in only.aliases] == ["staging"]

    error = client_error(lambda: create_alias(fc_client, "svc", "prod", "1"))
    assert (error.status_code, error.code) == (409, "AliasAlreadyExists")

    fc_client.delete_alias("svc", "staging")
    error = client_error(lambda: fc_client.get_alias("svc", "staging"))
    assert (error.status_code, error.code) == (404, "AliasNotFound")


def test_a_version_an_alias_points_at_cannot_be_deleted(fc_client):
    create_function(fc_client, "svc", who("one"))
    publish(fc_client, "svc")
    publish(fc_client, "svc")
    create_alias(fc_client, "svc", "prod", "2", weights={"1": 0.1})
    for version in ("1", "2"):  # the main version and the canary version
        error = client_error(lambda v=version: fc_client.delete_function_version("svc", v))
        assert (error.status_code, error.code) == (412, "PreconditionFailed")
        assert "alias(es) prod" in error.message
    fc_client.delete_alias("svc", "prod")
    fc_client.delete_function_version("svc", "1")


@pytest.mark.parametrize(("version", "weights", "status", "code", "needle"), [
    ("1", {"1": 0.5}, 400, "AdditionalVersionContainsMajorVersion", "major version 1"),
    ("9", None, 404, "VersionNotFound", "version '9'"),
    ("1", {"9": 0.5}, 404, "VersionNotFound", "version '9'"),
    ("1", {"2": 1.5}, 400, "InvalidArgument", "from 0 to 1"),
    ("one", None, 400, "InvalidArgument", "versionId"),
])
def test_alias_targets_are_checked(fc_client, version, weights, status, code, needle):
    create_function(fc_client, "svc", who("one"))
    publish(fc_client, "svc")
    publish(fc_client, "svc")
    error = client_error(lambda: create_alias(fc_client, "svc", "prod", version, weights))
    assert (error.status_code, error.code) == (status, code)
    assert needle in error.message
    assert fc_client.list_aliases("svc", fc.ListAliasesRequest()).body.aliases == []


def test_bad_alias_name(fc_client):
    create_function(fc_client, "svc", who("one"))
    publish(fc_client, "svc")
    for name in ("LATEST", "1abc", "has space"):
        error = client_error(lambda n=name: create_alias(fc_client, "svc", n, "1"))
        assert (error.status_code, error.code) == (400, "InvalidArgument")
        assert "aliasName" in error.message


# -- qualifiers -----------------------------------------------------------------------


def test_invoking_through_an_alias_sync_and_async(fcemu, fc_client):
    create_function(fc_client, "svc", who("v1"))
    publish(fc_client, "svc")
    update_code(fc_client, "svc", who("v2"))
    create_alias(fc_client, "svc", "prod", "1")
    assert ran(fc_client, "svc", "prod") == {"mark": "v1", "env": "", "qualifier": "prod",
                                             "version": "1"}
    put_config(fc_client, "svc", "prod", queue=queue_arn(fcemu, "done"))
    invoke(fc_client, "svc", "prod", b"x", asynchronous=True, task_id="through-prod")
    fcemu.drain()
    task = get_task(fc_client, "svc", "through-prod", "prod")
    assert (task.status, task.qualifier) == ("Succeeded", "prod")
    assert json.loads(task.return_payload)["version"] == "1"
    [message] = fcemu.queue("done").json()
    assert message["requestContext"]["functionArn"] == (
        f"acs:fc:{fcemu.region}:{fcemu.account_id}:functions/svc/prod")
    # ListAsyncTasks filters by qualifier (LATEST when omitted)
    put_config(fc_client, "svc")
    for qualifier, expected in (("prod", ["through-prod"]), (None, [])):
        tasks = fc_client.list_async_tasks("svc", fc.ListAsyncTasksRequest(
            qualifier=qualifier)).body.tasks
        assert [t.task_id for t in tasks] == expected


def test_unknown_qualifiers_are_404(fc_client):
    create_function(fc_client, "svc", who("one"))
    error = client_error(lambda: invoke(fc_client, "svc", "nope"))
    assert (error.status_code, error.code) == (404, "AliasNotFound")
    error = client_error(lambda: put_config(fc_client, "svc", "3"))
    assert (error.status_code, error.code) == (404, "VersionNotFound")


def test_async_config_per_qualifier(fcemu, fc_client):
    """A qualifier's own config applies; one without falls back to LATEST's (decisions.md)."""
    create_function(fc_client, "svc", who("one"))
    publish(fc_client, "svc")
    create_alias(fc_client, "svc", "prod", "1")
    create_alias(fc_client, "svc", "dev", "1")
    put_config(fc_client, "svc", queue=queue_arn(fcemu, "latest-q"))
    put_config(fc_client, "svc", "prod", queue=queue_arn(fcemu, "prod-q"))
    configs = fc_client.list_async_invoke_configs(
        fc.ListAsyncInvokeConfigsRequest(function_name="svc")).body.configs
    assert sorted(c.function_arn.rsplit(":", 1)[1] for c in configs) == [
        "functions/svc", "functions/svc/prod"]
    for qualifier in ("prod", "dev", None, "1"):
        invoke(fc_client, "svc", qualifier, asynchronous=True)
    fcemu.drain()
    assert len(fcemu.queue("prod-q").messages()) == 1
    latest = fcemu.queue("latest-q").json()
    assert sorted(m["requestContext"]["functionArn"].rsplit("/", 1)[1] for m in latest) == [
        "1", "dev", "svc"]
    fc_client.delete_async_invoke_config(
        "svc", fc.DeleteAsyncInvokeConfigRequest(qualifier="prod"))
    error = client_error(lambda: fc_client.get_async_invoke_config(
        "svc", fc.GetAsyncInvokeConfigRequest(qualifier="prod")))
    assert (error.status_code, error.code) == (404, "AsyncConfigNotExists")


def test_canary_split_is_seeded(fcemu, fc_client):
    """An alias at 10 % on version 2: 1000 invocations split exactly as the seed draws."""
    create_function(fc_client, "svc", who("v1"))
    publish(fc_client, "svc")
    update_code(fc_client, "svc", who("v2"))
    publish(fc_client, "svc")
    create_alias(fc_client, "svc", "canary", "1", weights={"2": 0.1})
    split = Counter(ran(fc_client, "svc", "canary")["mark"] for _ in range(1000))
    assert split == CANARY_SPLIT


#: What seed 0 (the pytest plugin's default) draws for the 1000 invocations of the canary test.
CANARY_SPLIT = Counter({"v1": 890, "v2": 110})


def test_function_destination_with_a_qualifier_runs_the_alias(fcemu, fc_client):
    create_function(fc_client, "source", who("src"))
    create_function(fc_client, "sink", who("sink-v1"))
    publish(fc_client, "sink")
    update_code(fc_client, "sink", who("sink-latest"))
    create_alias(fc_client, "sink", "prod", "1")
    put_config(fc_client, "sink", "prod")
    sink = f"acs:fc:{fcemu.region}:{fcemu.account_id}:functions/sink/prod"
    put_config(fc_client, "source", queue=sink)
    invoke(fc_client, "source", asynchronous=True, task_id="src-1")
    fcemu.drain()
    assert get_task(fc_client, "source", "src-1").destination_status == "Succeeded"
    [delivered] = fc_client.list_async_tasks(
        "sink", fc.ListAsyncTasksRequest(qualifier="prod", include_payload=True)).body.tasks
    assert (delivered.status, delivered.qualifier) == ("Succeeded", "prod")
    assert json.loads(delivered.return_payload)["mark"] == "sink-v1"
    assert json.loads(delivered.task_payload)["requestContext"]["requestId"] \
        == get_task(fc_client, "source", "src-1").request_id


def test_a_failed_function_destination_is_recorded_not_raised(fcemu, fc_client):
    create_function(fc_client, "source", who("src"))
    create_function(fc_client, "sink", who("sink"))
    publish(fc_client, "sink")
    create_alias(fc_client, "sink", "prod", "1")
    put_config(fc_client, "source",
               queue=f"acs:fc:{fcemu.region}:{fcemu.account_id}:functions/sink/prod")
    fc_client.delete_alias("sink", "prod")  # the destination's alias is gone
    finished = []
    fcemu.task_listeners.append(finished.append)
    try:
        invoke(fc_client, "source", asynchronous=True, task_id="src-1")
        fcemu.drain()
    finally:
        fcemu.task_listeners.remove(finished.append)
    task = get_task(fc_client, "source", "src-1")
    assert (task.status, task.destination_status) == ("Succeeded", "Failed")
    detail = json.loads(task.events[-1].event_detail)
    assert detail["DestinationError"].startswith("AliasNotFound: alias 'prod'")
    assert [t["taskId"] for t in finished] == ["src-1"]  # listeners still ran


# -- disable / enable -----------------------------------------------------------------


def test_disable_refuses_invocations_and_queued_tasks_wait(fcemu, fc_client):
    create_function(fc_client, "svc", who("one"))
    put_config(fc_client, "svc", max_age=600)
    invoke(fc_client, "svc", asynchronous=True, task_id="queued", delay=5)
    result = fc_client.disable_function_invocation("svc", fc.DisableFunctionInvocationRequest(
        reason="maintenance", abort_ongoing_request=False)).body
    assert result.success is True
    restriction = fc_client.get_function("svc", fc.GetFunctionRequest()).body \
        .invocation_restriction
    assert (restriction.disable, restriction.reason) == (True, "maintenance")
    error = client_error(lambda: invoke(fc_client, "svc"))
    assert (error.status_code, error.code) == (412, "PreconditionFailed")
    assert "disabled (reason: maintenance)" in error.message
    error = client_error(lambda: invoke(fc_client, "svc", asynchronous=True))
    assert error.code == "PreconditionFailed"

    fcemu.clock.advance(60)
    assert get_task(fc_client, "svc", "queued").status == "Enqueued"  # due, but waiting
    assert fc_client.enable_function_invocation("svc").body.success is True
    fcemu.drain()
    task = get_task(fc_client, "svc", "queued")
    assert [e.status for e in task.events] == ["Enqueued", "Processed", "Running", "Succeeded"]
    assert ran(fc_client, "svc")["mark"] == "one"
    assert fc_client.get_function("svc", fc.GetFunctionRequest()).body \
        .invocation_restriction.disable is False


def test_a_waiting_task_still_ages_while_disabled(fcemu, fc_client):
    create_function(fc_client, "svc", who("one"))
    put_config(fc_client, "svc", queue=queue_arn(fcemu, "dlq"), max_age=30)
    invoke(fc_client, "svc", asynchronous=True, task_id="old", delay=5)
    fc_client.disable_function_invocation("svc", fc.DisableFunctionInvocationRequest())
    fcemu.clock.advance(10)
    assert get_task(fc_client, "svc", "old").status == "Enqueued"  # due, but waiting
    fcemu.drain()
    task = get_task(fc_client, "svc", "old")
    assert [e.status for e in task.events] == ["Enqueued", "Expired"]
    assert fcemu.queue("dlq").last.json()["requestContext"]["condition"] == "EventMaxAgeExceeded"


def test_abort_ongoing_request_stops_a_running_attempt(fcemu, fc_client):
    create_function(fc_client, "slow", BLOCKING, timeout=60)
    put_config(fc_client, "slow")
    invoke(fc_client, "slow", asynchronous=True, task_id="busy")
    assert get_task(fc_client, "slow", "busy").status in ("Processed", "Running")
    fc_client.disable_function_invocation("slow", fc.DisableFunctionInvocationRequest(
        abort_ongoing_request=True))
    fcemu.settle(timeout=20)
    task = get_task(fc_client, "slow", "busy")
    # the killed attempt is retried once the function is enabled again; until then it waits
    assert [e.status for e in task.events][-1] == "Retrying"
    fcemu.clock.advance(10)
    assert get_task(fc_client, "slow", "busy").status == "Retrying"
    fc_client.delete_function("slow")


def test_a_version_and_latest_keep_their_own_warm_instances(fc_client):
    create_function(fc_client, "svc", who("old"))
    publish(fc_client, "svc")
    update_code(fc_client, "svc", who("new"))
    seen = [(q, invoke(fc_client, "svc", q).headers["x-fc-instance-id"])
            for q in ("1", "LATEST", "1", "LATEST")]
    by_qualifier = {q: {i for p, i in seen if p == q} for q in ("1", "LATEST")}
    assert [len(ids) for ids in by_qualifier.values()] == [1, 1]  # each stayed warm
    assert by_qualifier["1"] != by_qualifier["LATEST"]


def test_list_instances_lists_the_traffic_path_of_its_qualifier(fc_client):
    """FC: "the instances returned by ListInstances match the active instances in the
    traffic path of InvokeFunction with the same qualifier"."""
    create_function(fc_client, "svc", who("old"))
    publish(fc_client, "svc")
    update_code(fc_client, "svc", who("new"))
    create_alias(fc_client, "svc", "prod", "1")
    v1 = invoke(fc_client, "svc", "1").headers["x-fc-instance-id"]
    latest = invoke(fc_client, "svc").headers["x-fc-instance-id"]

    def listed(qualifier):
        body = fc_client.list_instances("svc", fc.ListInstancesRequest(qualifier=qualifier)).body
        return [(i.instance_id, i.qualifier, i.version_id) for i in body.instances]

    assert listed(None) == listed("LATEST") == [(latest, "LATEST", "0")]
    assert listed("1") == [(v1, "1", "1")]
    assert listed("prod") == [(v1, "prod", "1")]


def test_deleting_a_version_ends_its_instances_only(fcemu, fc_client):
    """DeleteFunctionVersion stops the deleted version's instances (no request can reach
    them any more), not LATEST's nor another version's: they stay warm."""
    create_function(fc_client, "svc", who("old"))
    publish(fc_client, "svc")
    publish(fc_client, "svc")
    update_code(fc_client, "svc", who("new"))
    before = {q: invoke(fc_client, "svc", q).headers["x-fc-instance-id"]
              for q in ("1", "2", "LATEST")}
    fc_client.delete_function_version("svc", "1")
    fcemu.settle(timeout=20)
    assert {i["instanceId"] for i in fcemu.instances()} == {before["2"], before["LATEST"]}
    after = {q: invoke(fc_client, "svc", q).headers["x-fc-instance-id"] for q in ("2", "LATEST")}
    assert after == {"2": before["2"], "LATEST": before["LATEST"]}
