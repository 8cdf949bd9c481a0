"""Put/Get/Delete/ListConcurrencyConfigs and sync throttling (spec §11.4, decisions.md)."""

from __future__ import annotations

import pytest

from tests.api.conftest import ARN_F, Api, assert_error

CONCURRENCY = "/functions/f/concurrency"


async def test_put_get_delete(api: Api) -> None:
    api.deploy()
    put = await api.fc("PUT", CONCURRENCY, json_body={"reservedConcurrency": 5})
    assert put.status == 200
    assert put.json() == {"functionArn": ARN_F, "reservedConcurrency": 5}
    assert (await api.fc("GET", CONCURRENCY)).json() == put.json()
    deleted = await api.fc("DELETE", CONCURRENCY)
    assert (deleted.status, deleted.body) == (204, b"")
    assert_error(await api.fc("GET", CONCURRENCY), 404, "OnDemandConfigNotFound")


@pytest.mark.parametrize("body", [{}, {"reservedConcurrency": -1},
                                  {"reservedConcurrency": 1001},
                                  {"reservedConcurrency": "5"},
                                  {"reservedConcurrency": True}])
async def test_bad_reserved_concurrency(api: Api, body: dict[str, object]) -> None:
    api.deploy()
    reply = await api.fc("PUT", CONCURRENCY, json_body=body)
    assert_error(reply, 400, "InvalidArgument")
    assert "reservedConcurrency" in reply.json()["Message"]


async def test_list(api: Api) -> None:
    for name, reserved in (("a", 1), ("b", 2), ("c", 3)):
        api.deploy(name)
        await api.fc("PUT", f"/functions/{name}/concurrency",
                     json_body={"reservedConcurrency": reserved})
    first = (await api.fc("GET", "/concurrency-configs", params={"limit": "2"})).json()
    assert [c["reservedConcurrency"] for c in first["configs"]] == [1, 2]
    rest = (await api.fc("GET", "/concurrency-configs",
                         params={"nextToken": first["nextToken"]})).json()
    assert [c["reservedConcurrency"] for c in rest["configs"]] == [3]
    one = (await api.fc("GET", "/concurrency-configs", params={"functionName": "b"})).json()
    assert one == {"configs": [{"functionArn": ARN_F[:-1] + "b", "reservedConcurrency": 2}]}


async def test_sync_invoke_at_zero_concurrency_is_429(api: Api) -> None:
    api.deploy()
    await api.fc("PUT", CONCURRENCY, json_body={"reservedConcurrency": 0})
    reply = await api.invoke(mode="Sync")
    assert_error(reply, 429, "ResourceThrottled")
    assert "reservedConcurrency 0" in reply.json()["Message"]
