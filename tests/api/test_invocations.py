"""InvokeFunction: sync and async responses, headers, payload limits (spec §6)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from fcemu.runtime import Invocation, Outcome
from tests.api.conftest import CREATE, Api, assert_error, boom, zip_b64

ASYNC_LIMIT = 128 * 1024
SYNC_LIMIT = 32 * 1024 * 1024
REQUEST_ID = re.compile(r"^1-66318600-[0-9a-f]{24}$")  # spec §1.2 shape, at T0


async def test_sync_invoke_returns_the_handler_bytes(api: Api) -> None:
    api.deploy()
    reply = await api.invoke(payload=b"hello", mode="Sync")
    assert (reply.status, reply.body) == (200, b"ok:hello")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert REQUEST_ID.match(reply.request_id or "")
    assert "x-fc-error-type" not in reply.headers
    assert "x-fc-log-result" not in reply.headers


async def test_sync_is_the_default_invocation_type(api: Api) -> None:
    api.deploy()
    reply = await api.fc("POST", "/functions/f/invocations", data=b"x")
    assert (reply.status, reply.body) == (200, b"ok:x")


async def test_sync_function_error_is_200_with_error_type(api: Api) -> None:
    api.deploy(handler=boom)
    reply = await api.invoke(payload=b"x", mode="Sync")
    assert reply.status == 200
    assert reply.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert (body["errorMessage"], body["errorType"]) == ("boom: x", "ValueError")
    assert isinstance(body["stackTrace"], list)


async def test_tail_log_is_base64_of_the_last_4_kb(api: Api,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    api.deploy()
    logs = "é" * 3000 + "the end\n"  # 6008 bytes of UTF-8; the tail cuts a character

    async def invoke(invocation: Invocation) -> Outcome:
        return Outcome("ok", b"r", logs=logs)

    monkeypatch.setattr(api.engine.runtimes, "invoke", invoke)
    reply = await api.invoke(mode="Sync", headers={"x-fc-log-type": "Tail"})
    assert base64.b64decode(reply.headers["x-fc-log-result"]) == logs.encode()[-4096:]
    plain = await api.invoke(mode="Sync", headers={"x-fc-log-type": "None"})
    assert "x-fc-log-result" not in plain.headers


async def test_tail_log_of_a_worker_function_holds_what_it_printed(api: Api) -> None:
    source = "def handler(event, context):\n    print('got', event)\n    return b'done'\n"
    created = await api.fc("POST", "/functions", json_body={
        **CREATE, "code": {"zipFile": zip_b64(source)}})
    assert created.status == 200, created
    reply = await api.invoke(payload=b"ev", mode="Sync", headers={"x-fc-log-type": "Tail"})
    assert (reply.status, reply.body) == (200, b"done")
    log = base64.b64decode(reply.headers["x-fc-log-result"]).decode()
    assert "got b'ev'" in log
    assert f"FC Invoke End RequestId: {reply.request_id}" in log


async def test_tail_log_of_a_silent_handler_is_only_the_fc_lines(api: Api) -> None:
    api.deploy()
    reply = await api.invoke(mode="Sync", headers={"x-fc-log-type": "Tail"})
    assert base64.b64decode(reply.headers["x-fc-log-result"]).decode() == (
        f"FC Invoke Start RequestId: {reply.request_id}\n"
        f"FC Invoke End RequestId: {reply.request_id}\n")


async def test_async_invoke_is_202_with_task_id(api: Api) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.invoke(task_id="job-1")
    assert (reply.status, reply.body) == (202, b"")
    assert reply.headers["x-fc-async-task-id"] == "job-1"
    assert REQUEST_ID.match(reply.request_id or "")
    assert (await api.task("job-1"))["requestId"] == reply.request_id


async def test_generated_task_id_doubles_as_request_id(api: Api) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.invoke()
    assert reply.status == 202
    assert reply.headers["x-fc-async-task-id"] == reply.request_id
    assert (await api.task(reply.request_id or ""))["requestId"] == reply.request_id


async def test_async_without_task_mode_is_accepted(api: Api) -> None:
    api.deploy()
    reply = await api.invoke(task_id="job-1")
    assert reply.status == 202
    await api.drain()
    assert api.engine.tasks.get("f", "job-1").status.value == "Succeeded"


async def test_quoted_header_values_and_any_name_case(api: Api) -> None:
    api.deploy()
    await api.put_config()
    reply = await api.fc("POST", "/functions/f/invocations", data=b"{}", headers={
        "X-Fc-Invocation-Type": '"Async"', "X-FC-ASYNC-TASK-ID": '"job-1"',
        "x-fc-async-delay": '"5"'})
    assert reply.status == 202
    assert reply.headers["x-fc-async-task-id"] == "job-1"
    task = await api.task("job-1")
    assert task["status"] == "Enqueued"  # held by the 5 s delay
    tail = await api.invoke(mode='"Sync"', headers={"x-fc-log-type": '"Tail"'})
    assert (tail.status, "x-fc-log-result" in tail.headers) == (200, True)


@pytest.mark.parametrize(("headers", "named"), [
    ({"x-fc-invocation-type": "async"}, "x-fc-invocation-type"),
    ({"x-fc-invocation-type": "Event"}, "x-fc-invocation-type"),
    ({"x-fc-invocation-type": "Sync", "x-fc-log-type": "Full"}, "x-fc-log-type"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "soon"}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "1.5"}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "-1"}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "3601"}, "x-fc-async-delay"),
    # digits only: Python's int() would read each of these (the audit's "1_0" as 10)
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "1_0"}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "+5"}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": "١٠".encode().decode("latin-1")},
     "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-delay": '"1_000"'}, "x-fc-async-delay"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-task-id": "1job"}, "x-fc-async-task-id"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-task-id": "job.1"}, "x-fc-async-task-id"),
    ({"x-fc-invocation-type": "Async", "x-fc-async-task-id": "j" * 129}, "x-fc-async-task-id"),
])
async def test_bad_invocation_headers_are_400(api: Api, headers: dict[str, str],
                                              named: str) -> None:
    api.deploy()
    reply = await api.fc("POST", "/functions/f/invocations", data=b"{}", headers=headers)
    assert_error(reply, 400, "InvalidArgument")
    assert named in reply.json()["Message"]


async def test_delay_edges_are_accepted(api: Api) -> None:
    api.deploy()
    assert (await api.invoke(delay=0)).status == 202
    assert (await api.invoke(delay=3600)).status == 202


async def test_async_headers_are_ignored_on_sync_calls(api: Api) -> None:
    api.deploy()
    reply = await api.invoke(mode="Sync", task_id="1 not checked", delay=99999)
    assert (reply.status, "x-fc-async-task-id" in reply.headers) == (200, False)


async def test_async_payload_limit(api: Api) -> None:
    api.deploy()
    assert (await api.invoke(payload=b"x" * ASYNC_LIMIT)).status == 202
    reply = await api.invoke(payload=b"x" * (ASYNC_LIMIT + 1))
    assert_error(reply, 400, "EntityTooLarge",
                 "payload size exceeds maximum allowed size (131072 bytes)")


async def test_sync_payload_limit(api: Api) -> None:
    api.deploy(handler=lambda event, context: len(event))
    reply = await api.invoke(payload=b"x" * SYNC_LIMIT, mode="Sync")
    assert (reply.status, reply.body) == (200, str(SYNC_LIMIT).encode())
    too_big = await api.invoke(payload=b"x" * (SYNC_LIMIT + 1), mode="Sync")
    assert_error(too_big, 400, "EntityTooLarge",
                 "payload size exceeds maximum allowed size (33554432 bytes)")


async def test_body_beyond_what_the_server_reads_is_entity_too_large(api: Api) -> None:
    api.deploy()
    reply = await api.invoke(payload=b"x" * (SYNC_LIMIT + 1024 * 1024), mode="Sync")
    assert_error(reply, 400, "EntityTooLarge",
                 "payload size exceeds maximum allowed size (33554432 bytes)")


@pytest.mark.parametrize(("mode", "params", "code"), [
    ("Sync", None, "FunctionNotFound"),
    ("Async", None, "FunctionNotFound"),
    ("Sync", {"qualifier": "1"}, "VersionNotFound"),
    ("Async", {"qualifier": "prod"}, "AliasNotFound"),
])
async def test_missing_function_or_qualifier_is_404(api: Api, mode: str,
                                                    params: dict[str, Any] | None,
                                                    code: str) -> None:
    if params:
        api.deploy()
    reply = await api.invoke("f" if params else "missing", mode=mode, params=params)
    assert_error(reply, 404, code)
