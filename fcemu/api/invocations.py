"""Routes: InvokeFunction, sync and async (spec §6, decisions.md "Invocation responses")."""

from __future__ import annotations

import base64
from typing import NamedTuple

from aiohttp import hdrs, web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.engine import InvocationResult
from fcemu.errors import InvalidArgument
from fcemu.runtime import UNHANDLED

routes = web.RouteTableDef()


class InvokeHeaders(NamedTuple):
    """The ``x-fc-*`` request headers of InvokeFunction (spec §6.1), checked (a named tuple:
    made for every invoke, it costs a frozen dataclass's field-by-field setting)."""

    asynchronous: bool
    tail_log: bool
    task_id: str | None
    delay_s: int
    #: The caller's request ID (``x-fc-trace-id``); an async one without a task ID is the
    #: task ID too.
    request_id: str | None = None


@routes.post("/functions/{functionName}/invocations")
async def invoke_function(request: web.Request) -> web.Response:
    """InvokeFunction: sync → 200 with the handler's bytes; async → 202, empty body."""
    name = wire.function_name(request)
    headers = invoke_headers(request)
    payload = await wire.read_body(request)
    engine = request.app[ENGINE]
    if headers.asynchronous:  # a plain call: no coroutine (issue 13)
        return accepted(engine.invoke_async(
            name, payload, qualifier=wire.qualifier(request), task_id=headers.task_id,
            delay_s=headers.delay_s, request_id=headers.request_id))
    result = await engine.invoke_function(
        name, payload, qualifier=wire.qualifier(request), task_id=headers.task_id,
        delay_s=headers.delay_s, request_id=headers.request_id)
    return sync_response(result, tail_log=headers.tail_log)


def invoke_headers(request: web.Request) -> InvokeHeaders:
    """Read and check the invocation headers; each bad value is a 400 naming it."""
    kind = wire.fc_header(request, wire.INVOCATION_TYPE) or "Sync"
    if kind not in ("Sync", "Async"):
        raise InvalidArgument(f"{wire.INVOCATION_TYPE} must be Sync or Async, got {kind!r}")
    log_type = wire.fc_header(request, wire.LOG_TYPE) or "None"
    if log_type not in ("None", "Tail"):
        raise InvalidArgument(f"{wire.LOG_TYPE} must be None or Tail, got {log_type!r}")
    asynchronous = kind == "Async"
    task_id = wire.fc_header(request, wire.ASYNC_TASK_ID) or None
    delay = 0
    if asynchronous:  # task ID and delay only mean something for async calls (spec §6.3, §6.4)
        delay = inputs.query_int(wire.fc_header(request, wire.ASYNC_DELAY), wire.ASYNC_DELAY,
                                 0, 3600, 0) or 0
    return InvokeHeaders(asynchronous, log_type == "Tail", task_id if asynchronous else None,
                         delay, wire.fc_header(request, wire.TRACE_ID) or None)


def accepted(result: InvocationResult) -> web.Response:
    """202, empty body, ``x-fc-request-id`` and ``x-fc-async-task-id`` (decisions.md)."""
    assert result.task is not None
    # Content-Length last, where aiohttp would add it (and it then skips finding out)
    return web.Response(status=202, headers={wire.REQUEST_ID: result.request_id,
                                             wire.ASYNC_TASK_ID: result.task.task_id,
                                             hdrs.CONTENT_LENGTH: "0"})


def sync_response(result: InvocationResult, *, tail_log: bool) -> web.Response:
    """200 with the return bytes; a function error is 200 + ``x-fc-error-type`` + its JSON.
    Both carry ``x-fc-code-checksum``, ``x-fc-instance-id`` and
    ``x-fc-invocation-service-version`` (what ran: docs/fidelity.md)."""
    outcome = result.outcome
    assert outcome is not None
    headers = {wire.REQUEST_ID: result.request_id, wire.CODE_CHECKSUM: result.code_checksum,
               wire.INSTANCE_ID: outcome.instance_id, wire.SERVICE_VERSION: result.version}
    if tail_log:
        # spec §6.2: Base64 of the last 4 KB of what the handler logged and printed
        tail = outcome.logs.encode("utf-8")[-wire.LOG_TAIL_BYTES:]
        headers[wire.LOG_RESULT] = base64.b64encode(tail).decode("ascii")
    if outcome.ok:
        return web.Response(body=outcome.body, headers=headers,
                            content_type="application/octet-stream")
    headers[wire.ERROR_TYPE] = outcome.error_type or UNHANDLED
    return web.Response(body=outcome.body, headers=headers, content_type=wire.JSON)
