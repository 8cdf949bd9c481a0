"""make_app: the route table of spec §5.1, sub-apps, app keys and shutdown."""

from __future__ import annotations

import re

import pytest
from aiohttp import web

from fcemu.api import (
    async_configs,
    async_tasks,
    concurrency,
    control,
    functions,
    invocations,
    wire,
)
from fcemu.api.front_door import FrontDoor
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import CLIENT_MAX_SIZE
from fcemu.settings import Settings
from tests.api.conftest import Api, assert_error

# spec §5.1: method, path under /2023-03-30, and the FC operation in snake_case
FC_ROUTES = {
    ("POST", "/functions", "create_function"),
    ("GET", "/functions/{functionName}", "get_function"),
    ("GET", "/functions", "list_functions"),
    ("PUT", "/functions/{functionName}", "update_function"),
    ("DELETE", "/functions/{functionName}", "delete_function"),
    ("POST", "/functions/{functionName}/invocations", "invoke_function"),
    ("PUT", "/functions/{functionName}/concurrency", "put_concurrency_config"),
    ("GET", "/functions/{functionName}/concurrency", "get_concurrency_config"),
    ("DELETE", "/functions/{functionName}/concurrency", "delete_concurrency_config"),
    ("GET", "/concurrency-configs", "list_concurrency_configs"),
    ("PUT", "/functions/{functionName}/async-invoke-config", "put_async_invoke_config"),
    ("GET", "/functions/{functionName}/async-invoke-config", "get_async_invoke_config"),
    ("DELETE", "/functions/{functionName}/async-invoke-config", "delete_async_invoke_config"),
    ("GET", "/async-invoke-configs", "list_async_invoke_configs"),
    ("GET", "/functions/{functionName}/async-tasks/{taskId}", "get_async_task"),
    ("GET", "/functions/{functionName}/async-tasks", "list_async_tasks"),
    ("PUT", "/functions/{functionName}/async-tasks/{taskId}/stop", "stop_async_task"),
}

CONTROL_ROUTES = {
    ("GET", "/health"), ("POST", "/reset"), ("GET", "/clock"), ("POST", "/clock/advance"),
    ("POST", "/clock/set"), ("POST", "/settle"), ("POST", "/drain"), ("POST", "/seed"),
    ("GET", "/queues"), ("GET", "/queues/{name}/messages"),
    ("GET", "/eventbus"),  # what EventBridge bus destinations received
    ("GET", "/tasks"),  # every function's async tasks (issue 11)
    # runtimes: task logs, instances, scripted outcomes, destination faults
    ("GET", "/functions/{name}/async-tasks/{taskId}/logs"), ("GET", "/instances"),
    ("POST", "/functions/{name}/script"), ("GET", "/functions/{name}/script"),
    ("DELETE", "/functions/{name}/script"), ("POST", "/destinations/faults"),
    ("GET", "/destinations/faults"), ("DELETE", "/destinations/faults"),
}


def table(*modules: object) -> set[tuple[str, str, str]]:
    return {(r.method, r.path, r.handler.__name__)  # type: ignore[attr-defined]
            for m in modules for r in m.routes}  # type: ignore[attr-defined]


def test_fc_routes_are_the_spec_table_named_after_operations() -> None:
    modules = (functions, async_configs, concurrency, invocations, async_tasks)
    assert table(*modules) == FC_ROUTES


def test_control_routes() -> None:
    assert {(method, path) for method, path, _ in table(control)} == CONTROL_ROUTES


async def test_every_app_knows_the_engine(api: Api) -> None:
    root = api.client_app
    apps = [root, *(r._app for r in root.router.resources()  # type: ignore[attr-defined]
                    if isinstance(r, web.PrefixedSubAppResource))]
    assert [getattr(a, "_client_max_size", None) for a in apps] == [CLIENT_MAX_SIZE] * 3
    assert all(a[ENGINE] is api.engine for a in apps)
    prefixes = sorted(r.canonical for r in root.router.resources()
                      if isinstance(r, web.PrefixedSubAppResource))
    assert prefixes == ["/2023-03-30", "/_fcemu"]


async def test_no_two_fc_routes_match_one_path(api: Api) -> None:
    """The FC sub-app may try its routes in any order (invocations first, the busiest:
    issue 13): each route's path, its variables filled in, matches its own route only."""
    root = api.client_app
    fc = next(r._app for r in root.router.resources()  # type: ignore[attr-defined]
              if isinstance(r, web.PrefixedSubAppResource) and r.canonical == "/2023-03-30")
    resources = list(fc.router.resources())
    for resource in resources:
        path = re.sub(r"\{[^}]+\}", "x1", resource.canonical)
        matching = {r.canonical for r in resources
                    if r._match(path) is not None}  # type: ignore[attr-defined]
        assert matching == {resource.canonical}, path
    assert resources[0].canonical == "/2023-03-30/functions/{functionName}/invocations"


async def test_shutting_the_app_down_closes_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(Settings(clock="manual", seed=7))
    await api.start()
    closed: list[bool] = []
    original = api.engine.close

    async def close() -> None:
        closed.append(True)
        await original()

    monkeypatch.setattr(api.engine, "close", close)
    await api.close()
    assert closed == [True]


async def test_reset_keeps_the_engine_object(api: Api) -> None:
    engine = api.engine
    await api.control("POST", "/reset")
    assert api.client_app[ENGINE] is engine


async def test_the_front_door_is_the_root_handler_and_runs_each_sub_apps_layer(
        api: Api) -> None:
    """Issue 13: the front door is the root's request handler and runs the root's steps
    (Host/Origin, follow mode, durable commit, errors outside the sub-apps) and each
    sub-app's error layer (code body limit, signature) itself: no aiohttp middleware, each
    of which cost every request a coroutine (and aiohttp one more per app)."""
    root = api.client_app
    subs = [r._app for r in root.router.resources()  # type: ignore[attr-defined]
            if isinstance(r, web.PrefixedSubAppResource)]
    assert isinstance(root._handle, FrontDoor)
    assert not root.middlewares and not any(app.middlewares for app in subs)
    # the FC API stamps its successes with a request ID; the control API does not
    reply = await api.fc("GET", "/functions")
    assert reply.status == 200 and reply.request_id
    reply = await api.control("GET", "/clock")
    assert reply.status == 200 and wire.REQUEST_ID not in reply.headers


async def test_the_root_steps_run_in_order_and_fail_as_fc_json(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow mode's clock before the handler, the durable commit after it; a failure of
    either (outside the sub-apps' error middleware) is a recorded FC 500 with a request ID."""
    api.deploy()
    steps: list[str] = []
    engine = api.engine

    async def follow_time(*, strict: bool = True) -> None:
        steps.append(f"follow strict={strict}")

    async def committed() -> None:
        steps.append("committed")

    def get_function(*args: object) -> object:
        steps.append("handler")
        raise RuntimeError("engine bug")

    monkeypatch.setattr(engine, "follow_time", follow_time)
    monkeypatch.setattr(type(engine), "following", property(lambda self: True))  # follow mode
    monkeypatch.setattr(engine, "get_function", get_function)
    monkeypatch.setattr(engine, "committed", committed)
    monkeypatch.setattr(type(engine), "durable", property(lambda self: True))
    monkeypatch.setattr(engine, "store_touched", lambda records: steps.append(f"touched {records}"))
    reply = await api.fc("GET", "/functions/f")  # the FC middleware renders the handler's 500
    assert reply.status == 500
    assert steps == ["follow strict=False", "handler", "committed"]  # a GET touches nothing
    steps.clear()
    await api.fc("PUT", "/functions/f/async-invoke-config", json_body={})
    assert steps == ["follow strict=False", "touched True", "committed"]

    async def broken(*, strict: bool = True) -> None:
        raise RuntimeError("follow bug")

    monkeypatch.setattr(engine, "follow_time", broken)
    engine.failures.clear()
    reply = await api.fc("GET", "/functions")
    assert_error(reply, 500, "InternalServerError")
    assert reply.request_id == reply.json()["RequestId"]
    [failure] = engine.failures
    assert failure.what == "GET /2023-03-30/functions" and "follow bug" in failure.traceback
