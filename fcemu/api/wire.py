"""The FC wire: header names, JSON casing, timestamp formats, model → wire dicts.

The one place where models become the JSON documents of spec §7, §9 and §11
(field names exactly as the SDK models' ``from_map`` read them) and where
request parts (headers, bodies, path names) are read. Handlers call these;
nothing else in fcemu knows the wire casing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Coroutine, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from fcemu.api import inputs
from fcemu.errors import FcError, InvalidArgument
from fcemu.models import AsyncConfig, ConcurrencyConfig, Function, Task, TaskEvent, TaskStatus

# spec §1.2 / §6: response and request header names (matched case-insensitively).
REQUEST_ID = "x-fc-request-id"
INVOCATION_TYPE = "x-fc-invocation-type"
LOG_TYPE = "x-fc-log-type"
LOG_RESULT = "x-fc-log-result"
ERROR_TYPE = "x-fc-error-type"
ASYNC_TASK_ID = "x-fc-async-task-id"
ASYNC_DELAY = "x-fc-async-delay"
#: The caller's request ID of an invocation (FC 2.0's ``X-Fc-Trace-Id``: docs/fidelity.md).
TRACE_ID = "x-fc-trace-id"
#: Sync invocation response headers besides the request ID (docs/fidelity.md).
CODE_CHECKSUM = "x-fc-code-checksum"
INSTANCE_ID = "x-fc-instance-id"
SERVICE_VERSION = "x-fc-invocation-service-version"

JSON = "application/json"
#: The log tail returned with ``x-fc-log-type: Tail`` (spec §6.5).
LOG_TAIL_BYTES = 4096

# -- serialising ---------------------------------------------------------------------


def dumps(doc: Any) -> str:
    """Compact JSON, as FC and the SDK write it (sdk-notes §1.4)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def encode(doc: Any) -> bytes:
    """:func:`dumps` as UTF-8. A lone surrogate, which UTF-8 cannot hold, is written as its
    JSON escape (``\\ud800``): the answer stays valid JSON whatever a string holds."""
    return dumps(doc).encode("utf-8", "backslashreplace")


class StampedResponse(web.Response):
    """A :class:`aiohttp.web.Response` made with its ``x-fc-request-id``: the FC API's
    front door does not look for the header to stamp it (issue 13). Nothing else differs."""


def json_response(doc: Any, *, status: int = 200, request_id: str | None = None) -> web.Response:
    """A JSON response; ``x-fc-request-id`` is set here or by the middleware."""
    headers = {REQUEST_ID: request_id} if request_id else None
    return web.Response(body=encode(doc), status=status, content_type=JSON, charset="utf-8",
                        headers=headers)


def empty_response(status: int = 204) -> web.Response:
    """Delete* (204) and StopAsyncTask (200): no body; the SDK ignores it (spec §1)."""
    return web.Response(status=status)


def error_document(error: FcError, request_id: str) -> dict[str, str]:
    """The FC 3.0 error body (spec §3.1): exactly ``Code``, ``Message``, ``RequestId``."""
    return {"Code": error.code, "Message": error.message, "RequestId": request_id}


def error_response(error: FcError, request_id: str) -> web.Response:
    """An FC error with its status; ``x-fc-request-id`` equals the body's ``RequestId``."""
    return json_response(error_document(error, request_id), status=error.status,
                         request_id=request_id)


def rfc3339(ms: int) -> str:
    """``2024-05-01T00:00:00Z``: the time layout of ``createdTime`` and friends (spec §7.2)."""
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def page(key: str, items: Iterable[dict[str, Any]], next_token: str) -> dict[str, Any]:
    """A List* answer (spec §5.2): the list, plus ``nextToken`` only when there is more."""
    doc: dict[str, Any] = {key: list(items)}
    if next_token:
        doc["nextToken"] = next_token
    return doc


# -- models → wire dicts -------------------------------------------------------------


def function(f: Function) -> dict[str, Any]:
    """``Function`` (spec §11.2): the input fields echoed, plus what FC adds."""
    doc: dict[str, Any] = {
        "functionName": f.name,
        "functionArn": f.arn,
        "functionId": f.function_id,
        "runtime": f.runtime,
        "handler": f.handler,
        "timeout": f.timeout,
        "memorySize": f.memory_size,
        "diskSize": f.disk_size,
        "instanceConcurrency": f.instance_concurrency,
        "environmentVariables": dict(f.environment_variables),
        "description": f.description,
    }
    if f.cpu is not None:
        doc["cpu"] = f.cpu
    if f.custom_runtime_config is not None:
        doc["customRuntimeConfig"] = f.custom_runtime_config
    if f.instance_lifecycle_config is not None:
        doc["instanceLifecycleConfig"] = f.instance_lifecycle_config
    doc.update({k: v for k, v in f.extra.items() if k != "layers"})
    doc.update({
        "codeChecksum": f.code_checksum,
        "codeSize": f.code_size,
        "createdTime": rfc3339(f.created_ms),
        "lastModifiedTime": rfc3339(f.modified_ms),
        "state": "Active",
        "lastUpdateStatus": "Successful",
        # the SDK reads layers as FunctionLayer objects {arn, size}, tags as {Key, Value}
        "layers": [{"arn": a, **({"size": f.layer_sizes[a]} if a in f.layer_sizes else {})}
                   for a in _list(f.extra.get("layers")) if isinstance(a, str)],
        "tags": [t for t in _list(f.tags) if isinstance(t, dict)],
    })
    if f.invocation_restriction is not None:  # DisableFunctionInvocation's state
        r = f.invocation_restriction
        doc["invocationRestriction"] = {"disable": r.disable, "reason": r.reason,
                                        "lastModifiedTime": rfc3339(r.modified_ms)}
    return doc


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def async_config(c: AsyncConfig) -> dict[str, Any]:
    """``AsyncConfig`` (spec §7.2), with the effective defaults echoed."""
    destinations = {key: {"destination": arn}
                    for key, arn in (("onSuccess", c.on_success), ("onFailure", c.on_failure))
                    if arn}
    doc: dict[str, Any] = {
        "asyncTask": c.async_task,
        "createdTime": rfc3339(c.created_ms),
        "functionArn": c.function_arn,
        "lastModifiedTime": rfc3339(c.modified_ms),
        "maxAsyncEventAgeInSeconds": c.max_async_event_age_in_seconds,
        "maxAsyncRetryAttempts": c.max_async_retry_attempts,
    }
    if destinations:
        doc["destinationConfig"] = destinations
    return doc


def concurrency_config(c: ConcurrencyConfig) -> dict[str, Any]:
    """``ConcurrencyConfig`` (spec §5.1)."""
    return {"functionArn": c.function_arn, "reservedConcurrency": c.reserved_concurrency}


def task_event(e: TaskEvent) -> dict[str, Any]:
    """``AsyncTaskEvent`` (spec §9.3)."""
    return {"eventId": e.event_id, "status": e.status.value, "timestamp": e.timestamp,
            "eventDetail": e.detail}


def async_task(task: Task, *, include_payload: bool) -> dict[str, Any]:
    """``AsyncTask`` (spec §9.1), in the table's field order.

    ``endTime`` is omitted until the task is terminal (the SDK's ``from_map``
    skips absent keys). ``taskPayload`` only with ``include_payload``
    (GetAsyncTask always; ListAsyncTasks with ``includePayload=true``, §9.4).
    ``returnPayload`` only once Succeeded. ``taskErrorMessage``: see
    :func:`task_error_message`.
    """
    doc: dict[str, Any] = {
        "taskId": task.task_id,
        "requestId": task.request_id,
        "functionArn": task.function_arn,
        "qualifier": task.qualifier,
        "status": task.status.value,
        "startedTime": task.submitted_ms,
    }
    if task.end_ms is not None:
        doc["endTime"] = task.end_ms
    doc.update({
        "durationMs": task.duration_ms,
        "alreadyRetriedTimes": task.retried,
        "destinationStatus": task.destination_status,
        "instanceId": task.instance_id,
        "taskErrorMessage": task_error_message(task),
    })
    if include_payload:
        doc["taskPayload"] = _text(task.payload)
    if task.status is TaskStatus.SUCCEEDED:
        doc["returnPayload"] = _text(task.return_payload)
    doc["events"] = [task_event(e) for e in task.events]
    return doc


def task_error_message(task: Task) -> str:
    """``taskErrorMessage``: why the task failed, as FC documents its values (example
    ``UnhandledInvocationError``: docs/fidelity.md), or ``""``.

    The error type of the last failed attempt (``UnhandledInvocationError``, while
    Retrying too, and the FC error code of a failure FC does not retry); for a task that
    ended for another reason, its condition (``EventMaxAgeExceeded``,
    ``FunctionResourceExhausted``, ``InvocationStopped``); ``FunctionNotFound`` for an
    Invalid one; ``""`` while nothing failed and once Succeeded. The error's own message
    is in the result message's ``responsePayload`` and the task's logs.
    """
    if task.status is TaskStatus.SUCCEEDED:
        return ""
    if task.status is TaskStatus.INVALID:
        return task.error_type or "FunctionNotFound"
    if task.status.terminal and task.condition not in ("", "InvocationError"):
        return task.condition
    return task.error_type


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


# -- reading requests ----------------------------------------------------------------


def fc_header(request: web.Request, name: str) -> str | None:
    """An ``x-fc-*`` header (names are case-insensitive), one pair of quotes stripped.

    spec §6.1 trap: older SDK builds JSON-quoted these values (``"Async"``).
    """
    value = request.headers.get(name)
    return None if value is None else unquoted(value)


def unquoted(value: str) -> str:
    """An ``x-fc-*`` header's value as :func:`fc_header` reads it: stripped, one pair of
    quotes removed."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def function_name(request: web.Request) -> str:
    """The ``{functionName}`` path segment; a 400 naming the rule when malformed (§4.1)."""
    return checked_name(request.match_info["functionName"])


#: :func:`fcemu.api.inputs.check_function_name`, its names that passed kept (a function's
#: next invoke checks its name without the regular expressions; a bad name raises each
#: time: nothing is kept for it).
checked_name = functools.lru_cache(maxsize=256)(inputs.check_function_name)


def qualifier(request: web.Request) -> str | None:
    """The ``qualifier`` query parameter (§4.2); absent means LATEST. A URL without a query
    has none, and its query is not parsed (issue 13)."""
    if not request.rel_url.raw_query_string:
        return None
    return request.query.get("qualifier") or None


def query_limit(query: Mapping[str, str], default: int = 20) -> int:
    """``limit`` of a List* call: 1–100, default 20 (spec §5.2)."""
    return inputs.query_int(query.get("limit"), "limit", 1, 100, default) or default


def read_body(request: web.Request) -> Coroutine[Any, Any, bytes]:
    """The raw body, to await. A body over the app's ``client_max_size`` raises aiohttp's
    413, which the middleware answers as ``EntityTooLarge`` (spec §6.5). aiohttp's own
    coroutine, not one more around it (issue 13)."""
    return request.read()


def body_if_read(request: web.Request) -> bytes | None:
    """The raw body when it has arrived whole and is within the app's ``client_max_size``
    (the usual case: a small body that came with its head), without a coroutine; None
    when :func:`read_body` must be awaited for it (still arriving, or too large: its 413).
    It is :meth:`aiohttp.web.BaseRequest.read`'s answer, kept by the request as ``read()``
    keeps it, so a later ``read()`` gets the same bytes (issue 13)."""
    kept: bytes | None = request._read_bytes
    if kept is not None:
        return kept
    content = request._payload  # request.content, without its property call
    limit = request._client_max_size
    if not content.is_eof() or content.total_bytes > limit > 0:
        return None  # read() waits for the rest, or raises the 413
    body = content.read_nowait(-1)
    if type(body) is not bytes:
        body = bytes(body)
    request._read_bytes = body
    return body


#: Bodies above this many bytes are decoded on a worker thread (a code zip can be 133 MB).
_DECODE_OFF_LOOP = 1024 * 1024


def loads(raw: bytes | str) -> Any:
    """Decode a JSON document; every failure is a 400 ``InvalidArgument`` saying why.

    The one JSON reader of request bodies: not UTF-8, not JSON (``NaN`` and
    ``Infinity`` are not, nor numbers beyond a float's range), nested too deep (a
    RecursionError in the decoder, or deeper than ``inputs.MAX_JSON_DEPTH``), or a string
    holding a lone surrogate (``"\\ud800"``, named by its field).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        doc = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except UnicodeDecodeError:
        raise InvalidArgument("the request body is not UTF-8 encoded JSON") from None
    except RecursionError:
        raise InvalidArgument(f"the request body is nested more than "
                              f"{inputs.MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from None
    inputs.check_document(doc)
    return doc


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


async def read_any_json(request: web.Request) -> Any:
    """A JSON body of any kind (:func:`loads`); a large one is decoded off the loop."""
    raw = await read_body(request)
    if not raw.strip():
        raise InvalidArgument("the request body is empty: send a JSON object")
    if len(raw) > _DECODE_OFF_LOOP:
        return await asyncio.get_running_loop().run_in_executor(None, loads, raw)
    return loads(raw)


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body; a 400 ``InvalidArgument`` naming what is wrong otherwise."""
    doc = await read_any_json(request)
    if not isinstance(doc, dict):
        kind = _JSON_KINDS.get(type(doc), "value")
        raise InvalidArgument(f"the request body must be a JSON object, got a JSON {kind}")
    return doc


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}
