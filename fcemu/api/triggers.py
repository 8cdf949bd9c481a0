"""Routes: the trigger API (CreateTrigger … DeleteTrigger, ``/functions/{fn}/triggers``),
``POST /_fcemu/triggers/{fn}/{trigger}/fire`` on the control API, and the wire form of a
trigger.

An HTTP trigger's ``httpTrigger.urlInternet`` / ``urlIntranet`` point at the emulator
itself (:func:`http_trigger_url`, served by :mod:`fcemu.api.http_triggers`), built from
the address the request came in on, so a test reads the URL from GetTrigger.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.errors import InvalidArgument
from fcemu.triggers import Trigger, TriggerSpec

__all__ = ["HTTP_TRIGGER_PREFIX", "HTTP_TRIGGER_VPC_PREFIX", "control_routes", "http_trigger_url",
           "routes", "trigger"]

routes = web.RouteTableDef()
control_routes = web.RouteTableDef()

#: The path under which the emulator serves HTTP triggers: ``/http-triggers/{fn}/{trigger}``.
HTTP_TRIGGER_PREFIX = "/http-triggers"
#: The same triggers as their ``urlIntranet`` (FC's VPC address), which
#: ``disableURLInternet`` leaves open.
HTTP_TRIGGER_VPC_PREFIX = "/http-triggers-vpc"

_CREATE_FIELDS = ("triggerName", "triggerType", "triggerConfig", "qualifier", "invocationRole",
                  "sourceArn", "description")
_UPDATE_FIELDS = ("triggerConfig", "qualifier", "invocationRole", "description")


def http_trigger_url(base_url: str, function_name: str, trigger_name: str, *,
                     intranet: bool = False) -> str:
    """Where the emulator serves an HTTP trigger (``base_url``: ``http://127.0.0.1:PORT``):
    its ``urlInternet``, or with ``intranet`` its ``urlIntranet``."""
    prefix = HTTP_TRIGGER_VPC_PREFIX if intranet else HTTP_TRIGGER_PREFIX
    return f"{base_url.rstrip('/')}{prefix}/{function_name}/{trigger_name}"


def trigger(t: Trigger, base_url: str) -> dict[str, Any]:
    """``Trigger`` as the SDK reads it (read-only fields included)."""
    doc: dict[str, Any] = {
        "triggerName": t.trigger_name, "triggerType": t.trigger_type,
        "triggerConfig": t.trigger_config, "triggerId": t.trigger_id,
        "qualifier": t.qualifier, "invocationRole": t.invocation_role,
        "sourceArn": t.source_arn, "description": t.description, "status": t.status,
        "targetArn": t.target_arn, "createdTime": wire.rfc3339(t.created_ms),
        "lastModifiedTime": wire.rfc3339(t.modified_ms),
    }
    if t.trigger_type == "http":
        doc["httpTrigger"] = {
            "urlInternet": http_trigger_url(base_url, t.function_name, t.trigger_name),
            "urlIntranet": http_trigger_url(base_url, t.function_name, t.trigger_name,
                                            intranet=True)}
    return doc


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _spec(doc: dict[str, Any], allowed: tuple[str, ...]) -> TriggerSpec:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise InvalidArgument(f"unknown field(s) {', '.join(unknown)}; a trigger takes "
                              f"{', '.join(allowed)}")
    values: dict[str, str | None] = {}
    for key in allowed:
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"{key} must be a string"
                                  + (" (a JSON object, serialised)" if key == "triggerConfig"
                                     else ""))
        values[key] = value
    return TriggerSpec(
        trigger_name=values.get("triggerName"), trigger_type=values.get("triggerType"),
        trigger_config=values.get("triggerConfig"), qualifier=values.get("qualifier"),
        invocation_role=values.get("invocationRole"), source_arn=values.get("sourceArn"),
        description=values.get("description"))


def _trigger_name(request: web.Request) -> str:
    return request.match_info["triggerName"]


@routes.post("/functions/{functionName}/triggers")
async def create_trigger(request: web.Request) -> web.Response:
    """CreateTrigger: ``CreateTriggerInput`` → ``Trigger``."""
    spec = _spec(await wire.read_json(request), _CREATE_FIELDS)
    created = request.app[ENGINE].create_trigger(wire.function_name(request), spec)
    return wire.json_response(trigger(created, _base_url(request)))


@routes.get("/functions/{functionName}/triggers/{triggerName}")
async def get_trigger(request: web.Request) -> web.Response:
    found = request.app[ENGINE].get_trigger(wire.function_name(request), _trigger_name(request))
    return wire.json_response(trigger(found, _base_url(request)))


@routes.put("/functions/{functionName}/triggers/{triggerName}")
async def update_trigger(request: web.Request) -> web.Response:
    """UpdateTrigger: ``UpdateTriggerInput`` → ``Trigger``; all of it or nothing."""
    spec = _spec(await wire.read_json(request), _UPDATE_FIELDS)
    updated = request.app[ENGINE].update_trigger(wire.function_name(request),
                                                 _trigger_name(request), spec)
    return wire.json_response(trigger(updated, _base_url(request)))


@routes.get("/functions/{functionName}/triggers")
async def list_triggers(request: web.Request) -> web.Response:
    """ListTriggers: ``prefix``, ``limit`` (1–100, default 20), ``nextToken``."""
    query = request.query
    found, token = request.app[ENGINE].list_triggers(
        wire.function_name(request), prefix=query.get("prefix", ""),
        limit=wire.query_limit(query), next_token=query.get("nextToken", ""))
    base = _base_url(request)
    return wire.json_response(wire.page("triggers", (trigger(t, base) for t in found), token))


@routes.delete("/functions/{functionName}/triggers/{triggerName}")
async def delete_trigger(request: web.Request) -> web.Response:
    request.app[ENGINE].delete_trigger(wire.function_name(request), _trigger_name(request))
    return wire.empty_response(204)


@control_routes.get("/triggers")
async def list_all_triggers(request: web.Request) -> web.Response:
    """Every trigger (``?function=`` filters), each with ``functionName`` and, for an armed
    timer, ``nextFireTime`` (epoch ms on the emulator clock)."""
    engine = request.app[ENGINE]
    base, out = _base_url(request), []
    for t in engine.all_triggers(request.query.get("function") or None):
        doc = {"functionName": t.function_name, **trigger(t, base)}
        due = engine.next_fire(t.function_name, t.trigger_name)
        if due is not None:
            doc["nextFireTime"] = due
        out.append(doc)
    return wire.json_response({"triggers": out})


@control_routes.post("/triggers/{functionName}/{triggerName}/fire")
async def fire_trigger(request: web.Request) -> web.Response:
    """Fire a trigger now: the body is the event (empty: the trigger's own event, or FC's
    sample for its type); answers ``{"taskId", "requestId"}`` of the invocation started."""
    name = inputs.check_function_name(request.match_info["functionName"])
    body = await wire.read_body(request)
    task = request.app[ENGINE].fire_trigger(name, _trigger_name(request), body or None)
    return wire.json_response({"taskId": task.task_id, "requestId": task.request_id},
                              status=202)
