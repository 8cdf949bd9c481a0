"""CreateFunction, GetFunction, ListFunctions, UpdateFunction, DeleteFunction (spec §11)."""

from __future__ import annotations

import pytest

from tests.api.conftest import ARN_F, CREATE, Api, assert_error, zip_b64


async def test_create_function_answers_the_function(api: Api) -> None:
    reply = await api.fc("POST", "/functions", json_body={**CREATE, "code": {"zipFile": zip_b64()}})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert reply.request_id
    doc = reply.json()
    assert doc["functionName"] == "f"
    assert doc["functionArn"] == ARN_F
    assert doc["runtime"] == "python3.10"
    assert doc["handler"] == "index.handler"
    assert (doc["timeout"], doc["memorySize"]) == (60, 512)
    assert doc["environmentVariables"] == {"A": "b"}
    assert doc["vpcConfig"] == {"vpcId": "vpc-1"}  # accepted fields are echoed (spec §11.1)
    assert doc["createdTime"] == doc["lastModifiedTime"] == "2024-05-01T00:00:00Z"
    assert (doc["state"], doc["lastUpdateStatus"]) == ("Active", "Successful")
    assert doc["codeSize"] > 0 and doc["codeChecksum"].isdigit()
    assert doc["functionId"] and doc["layers"] == [] and doc["tags"] == []
    assert b" " not in reply.body.replace(b"index.handler", b"")  # compact JSON


async def test_get_function(api: Api) -> None:
    api.deploy(timeout=5)
    doc = (await api.fc("GET", "/functions/f")).json()
    assert (doc["functionName"], doc["timeout"], doc["memorySize"]) == ("f", 5, 128)
    assert (await api.fc("GET", "/functions/f", params={"qualifier": "LATEST"})).status == 200


async def test_get_function_with_unknown_qualifiers(api: Api) -> None:
    api.deploy()
    assert_error(await api.fc("GET", "/functions/f", params={"qualifier": "3"}),
                 404, "VersionNotFound")
    assert_error(await api.fc("GET", "/functions/f", params={"qualifier": "prod"}),
                 404, "AliasNotFound")


async def test_list_functions_pages_by_prefix(api: Api) -> None:
    for name in ("a1", "a2", "a3", "b1"):
        api.deploy(name)
    first = (await api.fc("GET", "/functions", params={"prefix": "a", "limit": "2"})).json()
    assert [f["functionName"] for f in first["functions"]] == ["a1", "a2"]
    second = (await api.fc("GET", "/functions", params={
        "prefix": "a", "limit": "2", "nextToken": first["nextToken"]})).json()
    assert [f["functionName"] for f in second["functions"]] == ["a3"]
    assert "nextToken" not in second
    everything = (await api.fc("GET", "/functions")).json()
    assert len(everything["functions"]) == 4


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
async def test_list_functions_limit_out_of_range(api: Api, limit: str) -> None:
    reply = await api.fc("GET", "/functions", params={"limit": limit})
    assert_error(reply, 400, "InvalidArgument")
    assert "limit" in reply.json()["Message"]


async def test_update_function(api: Api) -> None:
    api.deploy()
    await api.advance(60)
    reply = await api.fc("PUT", "/functions/f", json_body={"timeout": 9, "description": "d"})
    assert reply.status == 200
    doc = reply.json()
    assert (doc["timeout"], doc["description"]) == (9, "d")
    assert doc["createdTime"] == "2024-05-01T00:00:00Z"
    assert doc["lastModifiedTime"] == "2024-05-01T00:01:00Z"


async def test_delete_function(api: Api) -> None:
    api.deploy()
    reply = await api.fc("DELETE", "/functions/f")
    assert (reply.status, reply.body) == (204, b"")
    assert reply.request_id
    assert_error(await api.fc("GET", "/functions/f"), 404, "FunctionNotFound",
                 "function 'f' does not exist")


async def test_create_twice_is_409(api: Api) -> None:
    api.deploy()
    reply = await api.fc("POST", "/functions", json_body={**CREATE, "code": {"zipFile": zip_b64()}})
    assert_error(reply, 409, "FunctionAlreadyExists", "function 'f' already exists")


@pytest.mark.parametrize(("change", "named"), [
    ({"functionName": "1bad"}, "functionName"),
    ({"functionName": "x" * 65}, "functionName"),
    ({"functionName": None}, "functionName"),
    ({"runtime": "java11"}, "runtime"),
    ({"handler": ""}, "handler"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": 86401}, "timeout"),
    ({"memorySize": 100}, "memorySize"),
    ({"memorySize": "512"}, "memorySize"),
    ({"environmentVariables": {"A": 1}}, "environmentVariables"),
    ({"code": {"zipFile": "not base64!"}}, "code.zipFile"),
    ({"code": None}, "code"),
])
async def test_create_function_rejects_bad_input(api: Api, change: dict[str, object],
                                                 named: str) -> None:
    doc = {**CREATE, "code": {"zipFile": zip_b64()}, **change}
    reply = await api.fc("POST", "/functions", json_body=doc)
    assert_error(reply, 400, "InvalidArgument")
    assert named in reply.json()["Message"]


@pytest.mark.parametrize("name", ["1bad", "-x", "a.b", "x" * 65])
async def test_bad_function_names_in_paths_are_400(api: Api, name: str) -> None:
    for method, path in (("GET", f"/functions/{name}"), ("DELETE", f"/functions/{name}"),
                         ("GET", f"/functions/{name}/async-tasks")):
        reply = await api.fc(method, path)
        assert_error(reply, 400, "InvalidArgument")
        assert "functionName" in reply.json()["Message"]
