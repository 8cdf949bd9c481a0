"""``GET /_fcemu/tasks``: the async tasks of every function, with ListAsyncTasks's filters
and paging plus ``function``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error, boom
from tests.constants import SECOND_MS, T0


async def _three_functions(api: Api) -> None:
    """Tasks a1 (f, T0), b1 (g, T0+1s), a2 (f, T0+2s), c1 (h, task mode off, T0+3s)."""
    api.deploy("f")
    api.deploy("g", handler=boom)
    api.deploy("h")
    await api.put_config("f")
    await api.put_config("g", maxAsyncRetryAttempts=0)
    for name, task_id in (("f", "a1"), ("g", "b1"), ("f", "a2"), ("h", "c1")):
        await api.invoke(name, task_id=task_id)
        await api.advance(1)
    await api.drain()


async def _list(api: Api, **params: str) -> dict[str, Any]:
    reply = await api.control("GET", "/tasks", params=params)
    assert reply.status == 200, reply
    doc: dict[str, Any] = reply.json()
    return doc


async def test_lists_every_function_newest_first_with_function_names(api: Api) -> None:
    await _three_functions(api)
    tasks = (await _list(api))["tasks"]
    assert [(t["functionName"], t["startedTime"]) for t in tasks] == [
        ("h", T0 + 3 * SECOND_MS), ("f", T0 + 2 * SECOND_MS), ("g", T0 + SECOND_MS), ("f", T0)]
    assert [t["taskId"] for t in tasks[1:]] == ["a2", "b1", "a1"]
    # each item is the AsyncTask of GetAsyncTask (no payload by default) plus functionName
    single = await api.task("a2")
    del single["taskPayload"]
    assert tasks[1] == {**single, "functionName": "f"}


@pytest.mark.parametrize(("params", "expected"), [
    ({"function": "f"}, ["a2", "a1"]),
    ({"function": "nobody"}, []),
    ({"prefix": "a"}, ["a2", "a1"]),
    ({"status": "Failed"}, ["b1"]),
    ({"status": "Succeeded", "sortOrderByTime": "asc", "prefix": "a"}, ["a1", "a2"]),
    ({"startedTimeBegin": str(T0 + SECOND_MS), "startedTimeEnd": str(T0 + 2 * SECOND_MS)},
     ["a2", "b1"]),
    ({"sortOrderByTime": "asc", "function": "g"}, ["b1"]),
])
async def test_filters(api: Api, params: dict[str, str], expected: list[str]) -> None:
    await _three_functions(api)
    tasks = (await _list(api, **params))["tasks"]
    assert [t["taskId"] for t in tasks] == expected


async def test_pages_with_next_token_across_functions(api: Api) -> None:
    await _three_functions(api)
    seen: list[str] = []
    page = await _list(api, limit="3", sortOrderByTime="asc")
    seen += [t["functionName"] for t in page["tasks"]]
    page = await _list(api, limit="3", sortOrderByTime="asc", nextToken=page["nextToken"])
    seen += [t["functionName"] for t in page["tasks"]]
    assert "nextToken" not in page
    assert seen == ["f", "g", "f", "h"]


async def test_equal_start_times_list_function_by_function(api: Api) -> None:
    for name in ("g", "f"):
        api.deploy(name)
        await api.put_config(name)
    for name, task_id in (("g", "g1"), ("f", "f1"), ("g", "g2"), ("f", "f2")):
        await api.invoke(name, task_id=task_id)
    ascending = (await _list(api, sortOrderByTime="asc"))["tasks"]
    assert [t["taskId"] for t in ascending] == ["f1", "f2", "g1", "g2"]
    descending = (await _list(api))["tasks"]
    assert [t["taskId"] for t in descending] == ["f1", "f2", "g1", "g2"]


async def test_include_payload(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(payload=b'{"n": 1}', task_id="p")
    assert "taskPayload" not in (await _list(api))["tasks"][0]
    assert (await _list(api, includePayload="true"))["tasks"][0]["taskPayload"] == '{"n": 1}'


@pytest.mark.parametrize(("params", "says"), [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"status": "Done"}, "status must be one of"),
    ({"sortOrderByTime": "up"}, "sortOrderByTime"),
    ({"startedTimeBegin": "yesterday"}, "startedTimeBegin"),
    ({"nextToken": "bogus"}, "invalid nextToken"),
    ({"includePayload": "maybe"}, "includePayload"),
])
async def test_bad_filters_are_400(api: Api, params: dict[str, str], says: str) -> None:
    reply = await api.control("GET", "/tasks", params=params)
    assert_error(reply, 400, "InvalidArgument")
    assert says in reply.json()["Message"]
