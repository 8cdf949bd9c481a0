"""Route: ListInstances on FC's own path, ``GET /2023-03-30/functions/{functionName}/instances``,
with the SDK's query parameters (``ListInstancesRequest``): ``qualifier``, ``instanceIds``
and ``instanceStatus`` (JSON arrays, as the SDK sends them), ``limit``, ``startKey``,
``startTimeMs``, ``endTimeMs``, ``withAllActive``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.engine.resources import InstanceInfo, InstanceQuery
from fcemu.errors import InvalidArgument

routes = web.RouteTableDef()

#: FC 2.0 documents ``limit`` in [0, 1000] for ListInstances.
MAX_LIMIT = 1000


@routes.get("/functions/{functionName}/instances")
async def list_instances(request: web.Request) -> web.Response:
    """ListInstances → ``{"instances": [InstanceInfo], "requestId"}`` (and ``nextToken``
    when ``limit`` cut the list)."""
    name = wire.function_name(request)
    q = request.query
    query = InstanceQuery(
        instance_ids=_string_array(q.get("instanceIds"), "instanceIds"),
        statuses=_string_array(q.get("instanceStatus"), "instanceStatus"),
        limit=inputs.query_int(q.get("limit"), "limit", 0, MAX_LIMIT, MAX_LIMIT) or 0,
        start_key=q.get("startKey", ""),
        start_time_ms=inputs.query_int(q.get("startTimeMs"), "startTimeMs", 0, 2**53, None),
        end_time_ms=inputs.query_int(q.get("endTimeMs"), "endTimeMs", 0, 2**53, None),
        with_all_active=inputs.query_bool(q.get("withAllActive"), "withAllActive"))
    engine = request.app[ENGINE]
    infos, next_key = engine.list_instances(name, wire.qualifier(request), query)
    request_id = engine.response_id()  # ListInstancesOutput carries it in the body too
    doc: dict[str, Any] = {"instances": [_instance(i) for i in infos], "requestId": request_id}
    if next_key:  # not in the SDK's model: pass it back as startKey for the next page
        doc["nextToken"] = next_key
    return wire.json_response(doc, request_id=request_id)


def _instance(info: InstanceInfo) -> dict[str, Any]:
    return {"instanceId": info.instance_id, "qualifier": info.qualifier,
            "versionId": info.version_id, "status": info.status}


def _string_array(value: str | None, key: str) -> tuple[str, ...]:
    """A query parameter the SDK sends as a JSON array of strings (``["a","b"]``)."""
    if value is None or value == "":
        return ()
    try:
        doc = json.loads(value)
    except ValueError:
        doc = None
    if not isinstance(doc, list) or not all(isinstance(v, str) for v in doc):
        raise InvalidArgument(f"{key} must be a JSON array of strings, e.g. [\"id-1\"], "
                              f"got {value!r}")
    return tuple(doc)
