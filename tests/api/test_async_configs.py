"""Put/Get/Delete/ListAsyncInvokeConfigs (spec §7)."""

from __future__ import annotations

import pytest

from tests.api.conftest import ARN_F, Api, assert_error
from tests.constants import queue_arn

CONFIG = "/functions/f/async-invoke-config"


async def test_put_echoes_defaults(api: Api) -> None:
    api.deploy()
    reply = await api.fc("PUT", CONFIG, json_body={})
    assert reply.status == 200
    assert reply.json() == {
        "asyncTask": False,
        "createdTime": "2024-05-01T00:00:00Z",
        "functionArn": ARN_F,
        "lastModifiedTime": "2024-05-01T00:00:00Z",
        "maxAsyncEventAgeInSeconds": 86400,
        "maxAsyncRetryAttempts": 3,
    }


async def test_put_get_with_destinations(api: Api) -> None:
    api.deploy()
    body = {"asyncTask": True, "maxAsyncRetryAttempts": 2, "maxAsyncEventAgeInSeconds": 3600,
            "destinationConfig": {"onSuccess": {"destination": queue_arn("ok")},
                                  "onFailure": {"destination": queue_arn("bad")}}}
    put = (await api.fc("PUT", CONFIG, json_body=body, params={"qualifier": "LATEST"})).json()
    got = (await api.fc("GET", CONFIG)).json()
    assert put == got
    assert got["destinationConfig"] == body["destinationConfig"]
    assert (got["asyncTask"], got["maxAsyncRetryAttempts"],
            got["maxAsyncEventAgeInSeconds"]) == (True, 2, 3600)


async def test_put_again_keeps_created_time(api: Api) -> None:
    api.deploy()
    await api.fc("PUT", CONFIG, json_body={})
    await api.advance(3600)
    doc = (await api.fc("PUT", CONFIG, json_body={"asyncTask": True})).json()
    assert doc["createdTime"] == "2024-05-01T00:00:00Z"
    assert doc["lastModifiedTime"] == "2024-05-01T01:00:00Z"


async def test_put_replaces_the_whole_config(api: Api) -> None:
    """docs/fidelity.md: a field a PUT leaves out takes its default, not its old value."""
    api.deploy()
    await api.fc("PUT", CONFIG, json_body={
        "asyncTask": True, "maxAsyncRetryAttempts": 0, "maxAsyncEventAgeInSeconds": 60,
        "destinationConfig": {"onSuccess": {"destination": queue_arn("ok")}}})
    doc = (await api.fc("PUT", CONFIG, json_body={
        "destinationConfig": {"onFailure": {"destination": queue_arn("bad")}}})).json()
    assert (doc["asyncTask"], doc["maxAsyncRetryAttempts"],
            doc["maxAsyncEventAgeInSeconds"]) == (False, 3, 86400)
    assert doc["destinationConfig"] == {"onFailure": {"destination": queue_arn("bad")}}
    assert (await api.fc("GET", CONFIG)).json() == doc


async def test_get_and_delete_when_none(api: Api) -> None:
    api.deploy()
    assert_error(await api.fc("GET", CONFIG), 404, "AsyncConfigNotExists",
                 "AsyncConfig for f:LATEST does not exist.")
    assert_error(await api.fc("DELETE", CONFIG), 404, "AsyncConfigNotExists")


async def test_delete(api: Api) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.fc("DELETE", CONFIG)
    assert (reply.status, reply.body) == (204, b"")
    assert (await api.fc("GET", CONFIG)).status == 404


async def test_missing_function(api: Api) -> None:
    assert_error(await api.fc("PUT", CONFIG, json_body={}), 404, "FunctionNotFound")


@pytest.mark.parametrize(("body", "named"), [
    ({"maxAsyncRetryAttempts": -1}, "maxAsyncRetryAttempts"),
    ({"maxAsyncRetryAttempts": 9}, "maxAsyncRetryAttempts"),
    ({"maxAsyncRetryAttempts": "3"}, "maxAsyncRetryAttempts"),
    ({"maxAsyncEventAgeInSeconds": 0}, "maxAsyncEventAgeInSeconds"),
    ({"maxAsyncEventAgeInSeconds": 604801}, "maxAsyncEventAgeInSeconds"),
    ({"asyncTask": "yes"}, "asyncTask"),
    ({"destinationConfig": []}, "destinationConfig"),
    ({"destinationConfig": {"onSuccess": "arn"}}, "destinationConfig.onSuccess"),
    ({"destinationConfig": {"onFailure": {"destination": "acs:oss:x"}}},
     "destinationConfig.onFailure"),
])
async def test_out_of_range_values_are_400(api: Api, body: dict[str, object],
                                           named: str) -> None:
    api.deploy()
    reply = await api.fc("PUT", CONFIG, json_body=body)
    assert_error(reply, 400, "InvalidArgument")
    assert named in reply.json()["Message"]


async def test_list_all_and_per_function_with_pages(api: Api) -> None:
    for name in ("a", "b", "c"):
        api.deploy(name)
        await api.put_config(name)
    first = (await api.fc("GET", "/async-invoke-configs", params={"limit": "2"})).json()
    assert [c["functionArn"].rsplit("/", 1)[1] for c in first["configs"]] == ["a", "b"]
    rest = (await api.fc("GET", "/async-invoke-configs",
                         params={"limit": "2", "nextToken": first["nextToken"]})).json()
    assert [c["functionArn"].rsplit("/", 1)[1] for c in rest["configs"]] == ["c"]
    assert "nextToken" not in rest
    one = (await api.fc("GET", "/async-invoke-configs", params={"functionName": "b"})).json()
    assert [c["functionArn"].rsplit("/", 1)[1] for c in one["configs"]] == ["b"]
    assert_error(await api.fc("GET", "/async-invoke-configs", params={"functionName": "zz"}),
                 404, "FunctionNotFound")
    assert_error(await api.fc("GET", "/async-invoke-configs", params={"limit": "0"}),
                 400, "InvalidArgument")


async def test_pages_of_one_list_names_around_the_separator_once_each(api: Api) -> None:
    """The nextToken is a position in the listing's (function, qualifier) order: ``a-b``
    sorts after ``a``, as ``f10`` after ``f1`` (the audit's t7, t20)."""
    for name in ("a", "a-b", "f1", "f10"):
        api.deploy(name)
        await api.put_config(name)
    listed, token = [], None
    for _ in range(6):
        params = {"limit": "1"} | ({"nextToken": token} if token else {})
        doc = (await api.fc("GET", "/async-invoke-configs", params=params)).json()
        listed += [c["functionArn"].rsplit("/", 1)[1] for c in doc["configs"]]
        token = doc.get("nextToken")
        if not token:
            break
    assert listed == ["a", "a-b", "f1", "f10"]
    assert token is None


@pytest.mark.parametrize("token", ["zzz", "a:b:c"])
async def test_a_garbage_next_token_is_400_as_list_async_tasks_answers(api: Api,
                                                                      token: str) -> None:
    api.deploy("a")
    await api.put_config("a")
    reply = await api.fc("GET", "/async-invoke-configs", params={"nextToken": token})
    assert_error(reply, 400, "InvalidArgument",
                 f"invalid nextToken {token!r}: pass the nextToken of the previous page "
                 "unchanged")


async def test_a_rocketmq_destination_is_refused_saying_fcemu_does_not_emulate_it(
        api: Api) -> None:
    """FC documents ApsaraMQ for RocketMQ destinations; fcemu has no RocketMQ
    (docs/fidelity.md): the 400 says so and names the kinds it emulates."""
    api.deploy()
    arn = "acs:mq:cn-hangzhou:1234567890123456:/instances/MQ_INST_1_x/topic/results"
    reply = await api.fc("PUT", CONFIG, json_body={
        "destinationConfig": {"onFailure": {"destination": arn}}})
    assert_error(reply, 400, "InvalidArgument")
    message = reply.json()["Message"]
    assert message.startswith(f"destinationConfig.onFailure: unsupported destination {arn!r}: "
                              "an ApsaraMQ for RocketMQ destination is valid on FC but fcemu "
                              "does not emulate RocketMQ; fcemu emulates an SMQ queue")
    for form in ("acs:mns:<region>:<account>:/queues/<q>/messages",
                 "acs:mns:<region>:<account>:/topics/<t>/messages",
                 "acs:fc:<region>:<account>:functions/<name>",
                 "acs:eventbridge:<region>:<account>:eventbus/<bus>"):
        assert form in message
    assert (await api.fc("GET", CONFIG)).status == 404  # nothing was stored
