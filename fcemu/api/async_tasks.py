"""Routes: GetAsyncTask, ListAsyncTasks, StopAsyncTask (spec §9)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.errors import InvalidArgument
from fcemu.models import TaskStatus
from fcemu.tasks import TaskQuery

routes = web.RouteTableDef()

_TASK = "/functions/{functionName}/async-tasks/{taskId}"
_MAX_MS = 2**63 - 1


@routes.get(_TASK)
async def get_async_task(request: web.Request) -> web.Response:
    """GetAsyncTask: the ``AsyncTask`` record, payload included (spec §9.1)."""
    task = request.app[ENGINE].get_async_task(
        wire.function_name(request), request.match_info["taskId"], wire.qualifier(request))
    return wire.json_response(wire.async_task(task, include_payload=True))


@routes.get("/functions/{functionName}/async-tasks")
async def list_async_tasks(request: web.Request) -> web.Response:
    """ListAsyncTasks: filtered, sorted by ``startedTime``, paginated (spec §9.4)."""
    name = wire.function_name(request)
    query = task_query(request.query)
    include = inputs.query_bool(request.query.get("includePayload"), "includePayload")
    tasks, token = request.app[ENGINE].list_async_tasks(name, query, wire.qualifier(request))
    records = (wire.async_task(t, include_payload=include) for t in tasks)
    return wire.json_response(wire.page("tasks", records, token))


@routes.put(_TASK + "/stop")
async def stop_async_task(request: web.Request) -> web.Response:
    """StopAsyncTask: 200, empty body (decisions.md); 412 once the task is terminal."""
    request.app[ENGINE].stop_async_task(
        wire.function_name(request), request.match_info["taskId"], wire.qualifier(request))
    return wire.empty_response(200)


def task_query(query: Mapping[str, str]) -> TaskQuery:
    """Read the ListAsyncTasks filters; every bad value is a 400 naming the parameter."""
    order = query.get("sortOrderByTime") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidArgument(f"sortOrderByTime must be asc or desc, got {order!r}")
    return TaskQuery(
        prefix=query.get("prefix", ""),
        status=_status(query.get("status")),
        started_begin=inputs.query_int(query.get("startedTimeBegin"), "startedTimeBegin",
                                       0, _MAX_MS, None),
        started_end=inputs.query_int(query.get("startedTimeEnd"), "startedTimeEnd",
                                     0, _MAX_MS, None),
        ascending=order == "asc",
        limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""),
    )


def _status(text: str | None) -> TaskStatus | None:
    if not text:
        return None
    try:
        return TaskStatus.parse(text)
    except ValueError:
        valid = ", ".join(s.value for s in TaskStatus)
        raise InvalidArgument(
            f"status must be one of {valid} (Dequeued is accepted for Processed), "
            f"got {text!r}") from None
