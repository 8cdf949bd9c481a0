"""GetAsyncTask and StopAsyncTask with a ``qualifier`` other than the task's (docs/versions.md
"`qualifier` everywhere"; FC's pages are silent): the qualifier is checked as ListAsyncTasks
checks it, and the task is found by its ID whatever qualifier it ran under.
"""

from __future__ import annotations

import pytest

from fcemu.engine.versions import AliasSpec
from tests.api.conftest import Api, assert_error

TASK = "/functions/f/async-tasks/p1"


async def deploy_with_alias(api: Api) -> None:
    api.deploy()
    api.engine.publish_function_version("f")
    api.engine.create_alias("f", AliasSpec(alias_name="prod", version_id="1"))
    api.engine.create_alias("f", AliasSpec(alias_name="dev", version_id="1"))
    await api.put_config()
    reply = await api.fc("PUT", "/functions/f/async-invoke-config",
                         params={"qualifier": "dev"}, json_body={"asyncTask": False})
    assert reply.status == 200
    await api.fc("POST", "/functions/f/invocations", params={"qualifier": "prod"}, data=b"x",
                 headers={"x-fc-invocation-type": "Async", "x-fc-async-task-id": "p1",
                          "x-fc-async-delay": "60"})


@pytest.mark.parametrize("qualifier", [None, "LATEST", "prod", "1"])
async def test_a_task_is_found_and_stopped_under_any_qualifier_in_task_mode(
        api: Api, qualifier: str | None) -> None:
    await deploy_with_alias(api)
    params = {} if qualifier is None else {"qualifier": qualifier}
    got = await api.fc("GET", TASK, params=params)
    assert (got.status, got.json()["qualifier"], got.json()["status"]) == (200, "prod",
                                                                           "Enqueued")
    assert (await api.fc("PUT", TASK + "/stop", params=params)).status == 200
    assert (await api.task("p1"))["status"] == "Stopped"


@pytest.mark.parametrize(("qualifier", "status", "code"), [
    ("nope", 404, "AliasNotFound"),
    ("7", 404, "VersionNotFound"),
    ("dev", 400, "InvalidArgument"),  # its own config has task mode off
])
async def test_the_qualifier_given_is_checked_first(api: Api, qualifier: str, status: int,
                                                    code: str) -> None:
    await deploy_with_alias(api)
    for method, path in (("GET", TASK), ("PUT", TASK + "/stop")):
        reply = await api.fc(method, path, params={"qualifier": qualifier})
        assert_error(reply, status, code)
    assert (await api.task("p1"))["status"] == "Enqueued"
