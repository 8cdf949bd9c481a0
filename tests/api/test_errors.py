"""The error middleware: every error is FC error JSON with its status and x-fc-request-id.

Covers every code of decisions.md "Error codes" (and the spec §3.3 codes fcemu
answers), router misses, bad bodies and unexpected exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.api.conftest import Api, Reply, assert_error

Scenario = Callable[[Api], Awaitable[Reply]]


async def duplicate_task(api: Api) -> Reply:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1")
    return await api.invoke(task_id="job-1")


async def unknown_task(api: Api) -> Reply:
    api.deploy()
    await api.put_config()
    return await api.fc("GET", "/functions/f/async-tasks/job-9")


async def task_mode_off(api: Api) -> Reply:
    api.deploy()
    return await api.fc("GET", "/functions/f/async-tasks/job-1")


async def stop_terminal(api: Api) -> Reply:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1")
    await api.settle()
    return await api.fc("PUT", "/functions/f/async-tasks/job-1/stop")


async def throttled(api: Api) -> Reply:
    api.deploy()
    await api.fc("PUT", "/functions/f/concurrency", json_body={"reservedConcurrency": 0})
    return await api.invoke(mode="Sync")


async def function_exists(api: Api) -> Reply:
    api.deploy()
    return await api.fc("POST", "/functions", json_body={
        "functionName": "f", "runtime": "python3.10", "handler": "index.handler"})


async def unknown_path(api: Api) -> Reply:
    return await api.fc("GET", "/functions/f/nothing-here")


async def bad_json(api: Api) -> Reply:
    return await api.fc("POST", "/functions", data=b"{not json")


async def out_of_range(api: Api) -> Reply:
    api.deploy()
    return await api.fc("PUT", "/functions/f/async-invoke-config",
                        json_body={"maxAsyncRetryAttempts": 9})


async def function_not_found(api: Api) -> Reply:
    return await api.fc("GET", "/functions/missing")


async def config_not_found(api: Api) -> Reply:
    api.deploy()
    return await api.fc("GET", "/functions/f/async-invoke-config")


async def concurrency_not_found(api: Api) -> Reply:
    api.deploy()
    return await api.fc("GET", "/functions/f/concurrency")


async def too_large(api: Api) -> Reply:
    api.deploy()
    return await api.invoke(payload=b"x" * (128 * 1024 + 1))


async def version_not_found(api: Api) -> Reply:
    api.deploy()
    return await api.fc("GET", "/functions/f", params={"qualifier": "2"})


async def alias_not_found(api: Api) -> Reply:
    api.deploy()
    return await api.fc("GET", "/functions/f/async-invoke-config", params={"qualifier": "prod"})


ERRORS: list[tuple[Scenario, int, str, str | None]] = [
    # decisions.md "Error codes"
    (duplicate_task, 409, "AsyncTaskAlreadyExists", "async task 'job-1' already exists"),
    (unknown_task, 404, "AsyncTaskNotFound", "async task 'job-9' does not exist"),
    (task_mode_off, 400, "InvalidArgument", None),
    (stop_terminal, 412, "PreconditionFailed", "async task 'job-1' is already Succeeded"),
    (throttled, 429, "ResourceThrottled", None),
    (function_exists, 409, "FunctionAlreadyExists", "function 'f' already exists"),
    (unknown_path, 400, "PathNotSupported",
     "'GET' against '/2023-03-30/functions/f/nothing-here' is not supported"),
    (bad_json, 400, "InvalidArgument", None),
    (out_of_range, 400, "InvalidArgument", "maxAsyncRetryAttempts must be between 0 and 8, got 9"),
    # spec §3.3
    (function_not_found, 404, "FunctionNotFound", "function 'missing' does not exist"),
    (config_not_found, 404, "AsyncConfigNotExists", "AsyncConfig for f:LATEST does not exist."),
    (concurrency_not_found, 404, "OnDemandConfigNotFound", None),
    (too_large, 400, "EntityTooLarge", "payload size exceeds maximum allowed size (131072 bytes)"),
    (version_not_found, 404, "VersionNotFound", None),
    (alias_not_found, 404, "AliasNotFound", None),
]


@pytest.mark.parametrize(("scenario", "status", "code", "message"), ERRORS,
                         ids=[e[0].__name__ for e in ERRORS])
async def test_error_codes(api: Api, scenario: Scenario, status: int, code: str,
                           message: str | None) -> None:
    assert_error(await scenario(api), status, code, message)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/2023-03-30/nope"),
    ("GET", "/2023-03-30"),
    ("PATCH", "/2023-03-30/functions/f"),
    ("POST", "/2023-03-30/functions/f/async-tasks"),
    ("GET", "/2023-03-30/functions/f/invocations"),
    ("DELETE", "/2023-03-30/async-invoke-configs"),
    ("GET", "/"),
    ("GET", "/nope"),
    ("GET", "/queuesX"),
    ("POST", "/topicsfoo/bar"),
    ("POST", "/2023-03-31/functions"),
    ("GET", "/_fcemu/nope"),
    ("DELETE", "/_fcemu/clock"),
])
async def test_unknown_route_or_method_is_path_not_supported(api: Api, method: str,
                                                             path: str) -> None:
    reply = await api.call(method, path)
    assert_error(reply, 400, "PathNotSupported",
                 f"'{method}' against '{path}' is not supported")


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"{", "not valid JSON"),
    (b"[1, 2]", "JSON object, got a JSON array"),
    (b'"text"', "JSON object, got a JSON string"),
    (b"null", "JSON object, got a JSON null"),
    (b"3", "JSON object, got a JSON number"),
    (b"\xff\xfe{}", "UTF-8"),
])
async def test_bad_bodies_are_400(api: Api, body: bytes, says: str) -> None:
    api.deploy()
    for method, path in (("POST", "/functions"), ("PUT", "/functions/f"),
                         ("PUT", "/functions/f/async-invoke-config"),
                         ("PUT", "/functions/f/concurrency")):
        reply = await api.fc(method, path, data=body,
                             headers={"content-type": "application/json"})
        assert_error(reply, 400, "InvalidArgument")
        assert says in reply.json()["Message"], reply


async def test_unexpected_exception_is_a_recorded_500(api: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(api.engine, "get_function", broken)
    reply = await api.fc("GET", "/functions/f")
    assert_error(reply, 500, "InternalServerError",
                 "an internal error has occurred. Please retry.")
    assert "engine bug" not in reply.text  # never a stack trace to the client
    [failure] = api.engine.failures
    assert failure.what == "GET /2023-03-30/functions/f"
    assert "RuntimeError: engine bug" in failure.traceback


async def test_every_fc_response_has_a_request_id(api: Api) -> None:
    api.deploy()
    replies = [
        await api.fc("GET", "/functions/f"),
        await api.fc("GET", "/functions"),
        await api.put_config(),
        await api.invoke(task_id="job-1"),
        await api.invoke(mode="Sync"),
        await api.fc("GET", "/functions/f/async-tasks/job-1"),
        await api.fc("PUT", "/functions/f/async-tasks/job-1/stop"),
        await api.fc("DELETE", "/functions/f/async-invoke-config"),
        await api.fc("GET", "/functions/zz"),
        await api.fc("GET", "/zz"),
        await api.call("GET", "/zz"),
    ]
    ids = [r.request_id for r in replies]
    assert all(ids), replies
    assert len(set(ids)) == len(ids)
    sync_result = replies[4]  # InvokeFunction answers the handler's bytes
    assert all(r.headers["content-type"].startswith("application/json")
               for r in replies if r.body and r is not sync_result)


async def test_mns_paths_are_left_to_the_mns_routes(api: Api) -> None:
    reply = await api.call("GET", "/queues/nope/messages")
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/xml")
    assert "x-fc-request-id" not in reply.headers
    assert "<Code>QueueNotExist</Code>" in reply.text


@pytest.mark.parametrize("value", ["1_0", "+5", " 5", "5 ", "\u0661", "0x5", "5.0"])
@pytest.mark.parametrize(("path", "key"), [
    ("/functions", "limit"),
    ("/async-invoke-configs", "limit"),
    ("/functions/f/async-tasks", "startedTimeBegin"),
])
async def test_integer_query_values_are_digits_only(api: Api, path: str, key: str,
                                                    value: str) -> None:
    """FC's integer parameters are digits; Python's int() also reads ``1_0``, ``+5``,
    spaces and other scripts' digits (the audit's): each is a 400 naming them."""
    api.deploy()
    await api.put_config()
    reply = await api.fc("GET", path, params={key: value})
    assert_error(reply, 400, "InvalidArgument", f"{key} must be an integer, got {value!r}")
