"""The trigger API through the official SDK: CreateTrigger, GetTrigger, UpdateTrigger,
ListTriggers, DeleteTrigger, their errors and paging, and DeleteFunction refused while a
function has triggers (FunctionNotEmpty)."""

from __future__ import annotations

import json

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import ClientException

from tests import constants
from tests.contract.conftest import create_function

ECHO = "def handler(event, context):\n    return event\n"
TIMER = json.dumps({"cronExpression": "@every 4m", "enable": True, "payload": "awesome-fc"})


def create_trigger(client, function, name, trigger_type="timer", config=TIMER, **fields):
    body = fc.CreateTriggerInput(trigger_name=name, trigger_type=trigger_type,
                                 trigger_config=config, **fields)
    return client.create_trigger(function, fc.CreateTriggerRequest(body=body)).body


def error_of(call) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    return info.value


@pytest.mark.fc_verified
def test_create_get_update_delete_round_trip(fc_client):
    create_function(fc_client, "job", ECHO)
    created = create_trigger(fc_client, "job", "every-4m", description="nightly-ish")
    assert isinstance(created, fc.Trigger)
    assert (created.trigger_name, created.trigger_type) == ("every-4m", "timer")
    assert json.loads(created.trigger_config) == json.loads(TIMER)
    assert created.trigger_id and created.created_time and created.last_modified_time
    assert created.qualifier == "LATEST"
    assert created.description == "nightly-ish"
    assert created.target_arn.endswith(":functions/job")

    got = fc_client.get_trigger("job", "every-4m").body
    assert got.to_map() == created.to_map()

    new_config = json.dumps({"cronExpression": "0 0 4 * * *", "enable": False,
                             "payload": "later"})
    updated = fc_client.update_trigger("job", "every-4m", fc.UpdateTriggerRequest(
        body=fc.UpdateTriggerInput(trigger_config=new_config, description="changed"))).body
    assert json.loads(updated.trigger_config)["cronExpression"] == "0 0 4 * * *"
    assert updated.description == "changed"
    assert updated.trigger_id == created.trigger_id
    assert updated.created_time == created.created_time

    fc_client.delete_trigger("job", "every-4m")
    error = error_of(lambda: fc_client.get_trigger("job", "every-4m"))
    assert (error.status_code, error.code) == (404, "TriggerNotFound")


@pytest.mark.fc_verified
def test_list_triggers_pages_by_name_with_prefix(fc_client):
    create_function(fc_client, "job", ECHO)
    for name in ("t-c", "t-a", "other", "t-b"):
        create_trigger(fc_client, "job", name)
    first = fc_client.list_triggers("job", fc.ListTriggersRequest(limit=2, prefix="t-")).body
    assert [t.trigger_name for t in first.triggers] == ["t-a", "t-b"]
    assert first.next_token
    rest = fc_client.list_triggers("job", fc.ListTriggersRequest(
        limit=2, prefix="t-", next_token=first.next_token)).body
    assert [t.trigger_name for t in rest.triggers] == ["t-c"]
    assert not rest.next_token
    everything = fc_client.list_triggers("job", fc.ListTriggersRequest()).body
    assert [t.trigger_name for t in everything.triggers] == ["other", "t-a", "t-b", "t-c"]


@pytest.mark.fc_verified
def test_errors_duplicate_unknown_type_bad_config_and_missing(fc_client):
    create_function(fc_client, "job", ECHO)
    create_trigger(fc_client, "job", "tick")
    duplicate = error_of(lambda: create_trigger(fc_client, "job", "tick"))
    assert (duplicate.status_code, duplicate.code) == (409, "TriggerAlreadyExists")
    unknown = error_of(lambda: create_trigger(fc_client, "job", "x", trigger_type="ftp"))
    assert (unknown.status_code, unknown.code) == (400, "InvalidArgument")
    assert "ftp" in unknown.message
    bad_cron = json.dumps({"cronExpression": "0 0 25 * * *", "enable": True})
    bad = error_of(lambda: create_trigger(fc_client, "job", "y", config=bad_cron))
    assert (bad.status_code, bad.code) == (400, "InvalidArgument")
    assert "hours" in bad.message
    bad_name = error_of(lambda: create_trigger(fc_client, "job", "9lives"))
    assert bad_name.code == "InvalidArgument"
    no_function = error_of(lambda: create_trigger(fc_client, "nope", "z"))
    assert (no_function.status_code, no_function.code) == (404, "FunctionNotFound")
    missing = error_of(lambda: fc_client.delete_trigger("job", "never"))
    assert (missing.status_code, missing.code) == (404, "TriggerNotFound")
    # a refused update changes nothing
    refused = error_of(lambda: fc_client.update_trigger("job", "tick", fc.UpdateTriggerRequest(
        body=fc.UpdateTriggerInput(trigger_config="{not json", description="lost"))))
    assert refused.code == "InvalidArgument"
    kept = fc_client.get_trigger("job", "tick").body
    assert kept.trigger_config == TIMER and kept.description == ""


@pytest.mark.fc_verified
def test_delete_function_with_triggers_is_refused(fc_client):
    create_function(fc_client, "job", ECHO)
    create_trigger(fc_client, "job", "tick")
    refused = error_of(lambda: fc_client.delete_function("job"))
    assert (refused.status_code, refused.code) == (409, "FunctionNotEmpty")
    assert "tick" in refused.message
    fc_client.delete_trigger("job", "tick")
    fc_client.delete_function("job")


def test_http_trigger_url_points_at_the_emulator(fc_client, fcemu):
    create_function(fc_client, "web", ECHO)
    config = json.dumps({"authType": "anonymous", "methods": ["GET", "POST"]})
    created = create_trigger(fc_client, "web", "http", trigger_type="http", config=config)
    url = f"{fcemu.endpoint}/http-triggers/web/http"
    assert created.http_trigger.url_internet == url
    assert created.http_trigger.url_intranet == f"{fcemu.endpoint}/http-triggers-vpc/web/http"
    assert fcemu.http_trigger_url("web", "http") == url
    assert fcemu.http_trigger_url("web", "http", intranet=True) == \
        created.http_trigger.url_intranet


@pytest.mark.fc_verified
def test_other_types_are_stored_as_given(fc_client):
    create_function(fc_client, "thumbs", ECHO)
    oss = json.dumps({"events": ["oss:ObjectCreated:PutObject"],
                      "filter": {"key": {"prefix": "source/", "suffix": ".png"}}})
    arn = f"acs:oss:{constants.REGION}:{constants.ACCOUNT}:testbucket"
    created = create_trigger(fc_client, "thumbs", "on-upload", trigger_type="oss", config=oss,
                             source_arn=arn, invocation_role="acs:ram::1:role/oss")
    got = fc_client.get_trigger("thumbs", "on-upload").body
    assert got.trigger_config == oss
    assert (got.source_arn, got.invocation_role) == (arn, "acs:ram::1:role/oss")
    assert created.trigger_type == "oss"
