"""The HTTP side of an async submit, made cheaper (issue 13): same answers as before.

InvokeFunction reads its headers in one function (``invocations.read_invoke_headers``), a
body that came whole without a coroutine (:func:`fcemu.api.wire.body_if_read`); the front
door remembers its Host answers per settings and switches ``request.app`` only before a
step that reads it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from fcemu.api import front_door, invocations, wire
from fcemu.api import inputs as api_inputs
from fcemu.api.middleware import render_error
from fcemu.errors import InvalidArgument
from tests.api.conftest import Api, assert_error


def reference_headers(request: web.Request) -> invocations.InvokeHeaders:
    """InvokeFunction's header reading as it was, one wire.fc_header call per header."""
    kind = wire.fc_header(request, wire.INVOCATION_TYPE) or "Sync"
    if kind not in ("Sync", "Async"):
        raise InvalidArgument(f"{wire.INVOCATION_TYPE} must be Sync or Async, got {kind!r}")
    log_type = wire.fc_header(request, wire.LOG_TYPE) or "None"
    if log_type not in ("None", "Tail"):
        raise InvalidArgument(f"{wire.LOG_TYPE} must be None or Tail, got {log_type!r}")
    asynchronous = kind == "Async"
    task_id = wire.fc_header(request, wire.ASYNC_TASK_ID) or None
    delay = 0
    if asynchronous:
        delay = api_inputs.query_int(wire.fc_header(request, wire.ASYNC_DELAY),
                                     wire.ASYNC_DELAY, 0, 3600, 0) or 0
    return invocations.InvokeHeaders(asynchronous, log_type == "Tail",
                                     task_id if asynchronous else None, delay,
                                     wire.fc_header(request, wire.TRACE_ID) or None)


def outcome(read: Any, request: web.Request) -> Any:
    try:
        return read(request)
    except InvalidArgument as exc:
        return type(exc), exc.message


KINDS = [None, "Async", "Sync", '"Async"', " Async ", "", '""', "async", "Bogus", '"Sync"']
LOG_TYPES = [None, "None", "Tail", '"Tail"', " Tail", "", "tail"]
TASK_IDS = [None, "t1", " t1 ", '"t1"', '"t1', 't1"', '""', '"', "", "  ", 'a"b"']
DELAYS = [None, "0", "5", "3600", "3601", "0005", " 7", '"9"', "-1", "x", "", "١٢",
          "1" * 5000, "9" * 5]
TRACES = [None, "r-1", '"r-1"', "", " "]


def request_with(**values: str | None) -> web.Request:
    names = {"kind": wire.INVOCATION_TYPE, "log_type": wire.LOG_TYPE,
             "task_id": wire.ASYNC_TASK_ID, "delay": wire.ASYNC_DELAY, "trace": wire.TRACE_ID}
    return make_mocked_request("POST", "/2023-03-30/functions/f/invocations", headers={
        names[k]: v for k, v in values.items() if v is not None})


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_headers_are_read_as_fc_header_reads_them(kind: str | None) -> None:
    """The same tuple, or the same 400, as one wire.fc_header call per header gave."""
    requests = [request_with(kind=kind, log_type=log_type, trace=trace, task_id="t")
                for log_type in LOG_TYPES for trace in TRACES]
    requests += [request_with(kind=kind, task_id=task_id, delay=delay)
                 for task_id in TASK_IDS for delay in DELAYS]
    for request in requests:
        assert outcome(invocations.invoke_headers, request) == \
            outcome(reference_headers, request), dict(request.headers)


def payload_of(chunks: list[bytes], *, eof: bool) -> StreamReader:
    protocol = mock.Mock(_reading_paused=False)
    reader = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_a_body_that_came_whole_is_read_at_once_and_kept_for_read() -> None:
    request = make_mocked_request("POST", "/", payload=payload_of([b'{"a":', b"1}"], eof=True))
    body = wire.body_if_read(request)
    assert body == b'{"a":1}' and type(body) is bytes
    assert await request.read() == body  # read() answers what it kept
    assert wire.body_if_read(request) == body


async def test_no_body_is_an_empty_one() -> None:
    request = make_mocked_request("POST", "/")
    assert wire.body_if_read(request) == b""
    assert await request.read() == b""


async def test_a_body_still_arriving_is_left_to_read() -> None:
    payload = payload_of([b"{}"], eof=False)
    request = make_mocked_request("POST", "/", payload=payload)
    assert wire.body_if_read(request) is None
    payload.feed_data(b"  ")
    payload.feed_eof()
    assert await wire.read_body(request) == b"{}  "


async def test_a_body_over_the_limit_is_left_to_read_which_refuses_it() -> None:
    request = make_mocked_request("POST", "/", payload=payload_of([b"x" * 11], eof=True),
                                  client_max_size=10)
    assert wire.body_if_read(request) is None
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        await request.read()
    at_limit = make_mocked_request("POST", "/", payload=payload_of([b"x" * 10], eof=True),
                                   client_max_size=10)
    assert wire.body_if_read(at_limit) == b"x" * 10


async def test_an_async_invoke_over_http_reads_its_headers_and_body(api: Api) -> None:
    seen: list[tuple[str, bytes, str | None, str | None, int, str | None]] = []
    api.deploy("f")
    engine = api.engine
    original = engine.submit_async

    def submit_async(name: str, payload: bytes, *args: Any) -> Any:
        seen.append((name, payload, *args))
        return original(name, payload, *args)

    engine.submit_async = submit_async  # type: ignore[method-assign]
    reply = await api.fc("POST", "/functions/f/invocations", data=b'{"k":1}', headers={
        "x-fc-invocation-type": '"Async"', "x-fc-async-task-id": ' "t-1" ',
        "x-fc-async-delay": "0012", "x-fc-trace-id": "trace-1"})
    assert reply.status == 202 and reply.headers["x-fc-async-task-id"] == "t-1"
    reply = await api.fc("POST", "/functions/f/invocations", data=b"", params={
        "qualifier": "LATEST"}, headers={"x-fc-invocation-type": "Async"})
    assert reply.status == 202
    assert seen == [("f", b'{"k":1}', None, "t-1", 12, "trace-1"),
                    ("f", b"", "LATEST", None, 0, None)]
    reply = await api.fc("POST", "/functions/f/invocations", headers={
        "x-fc-invocation-type": "Async", "x-fc-async-delay": "3601"})
    assert_error(reply, 400, "InvalidArgument")
    assert "x-fc-async-delay must be between 0 and 3600, got 3601" in reply.json()["Message"]


async def test_request_app_is_the_sub_app_in_its_steps_and_the_root_in_the_roots(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """As aiohttp's middleware chain had it: the handler and the sub-app's error layer see
    the sub-app, the durable commit and an error outside the sub-apps the root."""
    api.deploy()
    root = api.client_app
    fc_app = next(r._app for r in root.router.resources()
                  if isinstance(r, web.PrefixedSubAppResource) and r.canonical == "/2023-03-30")
    apps: list[tuple[str, web.Application]] = []
    function_name = wire.function_name

    def named(request: web.Request) -> str:
        apps.append(("handler", request.app))
        return function_name(request)

    def rendered(request: web.Request, exc: Exception) -> web.Response:
        apps.append(("error", request.app))
        return render_error(request, exc)

    async def committed(engine: Any, request: web.Request) -> None:
        apps.append(("commit", request.app))

    monkeypatch.setattr(wire, "function_name", named)
    monkeypatch.setattr(front_door, "render_error", rendered)
    monkeypatch.setattr(front_door, "durable_commit", committed)
    assert (await api.fc("GET", "/functions/f")).status == 200
    assert apps == [("handler", fc_app)]
    apps.clear()
    assert (await api.fc("GET", "/functions/nope")).status == 404
    assert apps == [("handler", fc_app), ("error", fc_app)]
    apps.clear()
    engine = api.engine
    monkeypatch.setattr(type(engine), "durable", property(lambda self: True))
    assert (await api.fc("GET", "/functions/f")).status == 200
    assert apps == [("handler", fc_app), ("commit", root)]
    apps.clear()

    async def broken(*, strict: bool = True) -> None:
        raise RuntimeError("follow bug")

    monkeypatch.setattr(type(engine), "following", property(lambda self: True))
    monkeypatch.setattr(engine, "follow_time", broken)
    assert_error(await api.fc("GET", "/functions/f"), 500, "InternalServerError")
    assert apps == [("error", root)]
    engine.failures.clear()


async def test_the_host_answers_follow_settings_that_a_reset_replaces(api: Api) -> None:
    host = {"Host": "emulator.example:9000"}
    for _ in range(2):  # the second answer is remembered
        assert_error(await api.fc("GET", "/functions", headers=host), 403, "AccessDenied")
    settings = api.engine.settings
    await api.engine.reset(settings=settings.replace(allow_hosts=("emulator.example",)))
    for _ in range(2):
        assert (await api.fc("GET", "/functions", headers=host)).status == 200
    await api.engine.reset(settings=settings)
    assert_error(await api.fc("GET", "/functions", headers=host), 403, "AccessDenied")


async def _raw(api: Api, request: bytes) -> bytes:
    """One request over a socket of its own: the answer's bytes, head and body."""
    server = api._client.server  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)", head)[1])  # type: ignore[index]
        return head + await asyncio.wait_for(reader.readexactly(length), 30)
    finally:
        writer.close()


async def test_invoke_answers_are_the_same_bytes_and_stamped_once(api: Api) -> None:
    """The 202 and the sync 200 (wire.StampedResponse: the front door does not look for
    their request ID) are what they were on the wire: their headers in this order, one
    x-fc-request-id, then aiohttp's Date and Server."""
    api.deploy("f")
    head = (b"POST /2023-03-30/functions/f/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 2\r\n")
    answer = await _raw(api, head + b"x-fc-invocation-type: Async\r\n"
                                    b"x-fc-async-task-id: t-raw\r\n\r\n{}")
    assert re.fullmatch(
        rb"HTTP/1\.1 202 Accepted\r\nx-fc-request-id: [0-9A-Za-z-]+"
        rb"\r\nx-fc-async-task-id: t-raw\r\nContent-Length: 0\r\n"
        rb"Date: [A-Za-z]{3}, \d\d [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d GMT\r\n"
        rb"Server: Python/3\.\d+ aiohttp/[\d.]+\r\n\r\n", answer), answer
    answer = await _raw(api, head + b"\r\n{}")
    names = [line.split(b":")[0] for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]]
    assert names == [b"x-fc-request-id", b"x-fc-code-checksum", b"x-fc-instance-id",
                     b"x-fc-invocation-service-version", b"Content-Type",
                     b"Content-Length", b"Date", b"Server"], answer
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok:{}")
    reply = await api.fc("GET", "/functions/f")  # a plain response is stamped as before
    assert reply.status == 200 and reply.headers.getall("x-fc-request-id")
    assert len(reply.headers.getall("x-fc-request-id")) == 1
