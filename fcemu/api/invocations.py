"""Routes: InvokeFunction, sync and async (spec §6, decisions.md "Invocation responses")."""

from __future__ import annotations

import base64
from collections.abc import Callable
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
    name = wire.checked_name(request.match_info["functionName"])  # wire.function_name
    asynchronous, tail_log, task_id, delay_s, request_id = read_invoke_headers(
        request.headers.get)
    payload = wire.body_if_read(request)  # the usual case: no coroutine (issue 13)
    if payload is None:
        payload = await wire.read_body(request)
    engine = request.app[ENGINE]
    if asynchronous:  # a plain call, the task alone, no keywords (issue 13)
        task = engine.submit_async(name, payload, wire.qualifier(request), task_id, delay_s,
                                   request_id)
        return _accepted(task.request_id, task.task_id)
    result = await engine.invoke_function(
        name, payload, qualifier=wire.qualifier(request), task_id=task_id,
        delay_s=delay_s, request_id=request_id)
    return sync_response(result, tail_log=tail_log)


def invoke_headers(request: web.Request) -> InvokeHeaders:
    """Read and check the invocation headers; each bad value is a 400 naming it."""
    return InvokeHeaders(*read_invoke_headers(request.headers.get))


#: The longest ``x-fc-async-delay`` (seconds, spec §6.4).
_MAX_DELAY = 3600
#: Header values that :func:`wire.fc_header` leaves as they are (nothing to strip).
_KINDS = frozenset({"Sync", "Async"})
_LOG_TYPES = frozenset({"None", "Tail"})


def read_invoke_headers(get: Callable[[str], str | None],
                        ) -> tuple[bool, bool, str | None, int, str | None]:
    """:func:`invoke_headers` as a plain tuple, in one function, from the headers' ``get``:
    the invoke route's own reading, and the express lane's (:mod:`fcemu.api.express`; a
    call per header and a named tuple cost an async submit about a tenth of its HTTP side:
    issue 13). Same values, same errors, same order of checks."""
    kind = get(wire.INVOCATION_TYPE)
    if kind is not None and kind not in _KINDS:
        kind = wire.unquoted(kind)
    kind = kind or "Sync"
    if kind not in _KINDS:
        raise InvalidArgument(f"{wire.INVOCATION_TYPE} must be Sync or Async, got {kind!r}")
    log_type = get(wire.LOG_TYPE)
    if log_type is not None and log_type not in _LOG_TYPES:
        log_type = wire.unquoted(log_type)
    log_type = log_type or "None"
    if log_type not in _LOG_TYPES:
        raise InvalidArgument(f"{wire.LOG_TYPE} must be None or Tail, got {log_type!r}")
    task_id = get(wire.ASYNC_TASK_ID)
    if task_id is not None:
        task_id = task_id.strip()
        if task_id[:1] == '"':
            task_id = wire.unquoted(task_id)
        task_id = task_id or None
    delay = 0
    asynchronous = kind == "Async"
    if asynchronous:  # task ID and delay only mean something for async calls (spec §6.3, §6.4)
        value = get(wire.ASYNC_DELAY)
        if value is not None:
            # a few ASCII digits: nothing to strip, and int() reads them (isdecimal alone
            # takes other scripts' digits: inputs.query_int refuses them)
            delay = int(value) if len(value) < 5 and value.isascii() and value.isdecimal() else -1
            if not 0 <= delay <= _MAX_DELAY:
                delay = inputs.query_int(wire.unquoted(value), wire.ASYNC_DELAY, 0,
                                         _MAX_DELAY, 0) or 0
    else:
        task_id = None
    request_id = get(wire.TRACE_ID)
    if request_id is not None:
        request_id = wire.unquoted(request_id) or None
    return asynchronous, log_type == "Tail", task_id, delay, request_id


def accepted(result: InvocationResult) -> web.Response:
    """202, empty body, ``x-fc-request-id`` and ``x-fc-async-task-id`` (decisions.md)."""
    assert result.task is not None
    return _accepted(result.request_id, result.task.task_id)


def _accepted(request_id: str, task_id: str) -> web.Response:
    # made with its request ID: the front door does not look for it (wire.StampedResponse)
    # Content-Length last, where aiohttp would add it (and it then skips finding out)
    return wire.StampedResponse(status=202, headers={wire.REQUEST_ID: request_id,
                                                     wire.ASYNC_TASK_ID: task_id,
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
        return wire.StampedResponse(body=outcome.body, headers=headers,
                                    content_type="application/octet-stream")
    headers[wire.ERROR_TYPE] = outcome.error_type or UNHANDLED
    return wire.StampedResponse(body=outcome.body, headers=headers, content_type=wire.JSON)
