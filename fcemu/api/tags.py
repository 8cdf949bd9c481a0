"""Routes: TagResources, UntagResources and ListTagResources on ``/2023-03-30/tags-v2``
(the SDK's paths), and the ``tags`` query of ListFunctions: tags are ``{Key, Value}``
objects, list parameters JSON arrays in the query, as the SDK sends them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.engine.resources import TagResource
from fcemu.errors import InvalidArgument

routes = web.RouteTableDef()

_TAGS = "/tags-v2"


@routes.post(_TAGS)
async def tag_resources(request: web.Request) -> web.Response:
    """TagResources: ``{"ResourceId": [arn], "ResourceType", "Tag": [{Key, Value}]}``; 204."""
    doc = await wire.read_json(request)
    if not isinstance(doc, dict):
        raise InvalidArgument("the body must be a JSON object: {ResourceId, ResourceType, Tag}")
    ids = _strings(doc.get("ResourceId"), "ResourceId")
    tags = [(t.get("Key"), t.get("Value", "")) for t in _objects(doc.get("Tag"), "Tag")]
    request.app[ENGINE].tag_resources(ids, _type(doc.get("ResourceType")), tags)
    return wire.empty_response(204)


@routes.delete(_TAGS)
async def untag_resources(request: web.Request) -> web.Response:
    """UntagResources: query ``ResourceId``, ``ResourceType``, ``TagKey``, ``All``; 204."""
    q = request.query
    request.app[ENGINE].untag_resources(
        json_strings(q.get("ResourceId"), "ResourceId"), q.get("ResourceType"),
        json_strings(q.get("TagKey"), "TagKey"), inputs.query_bool(q.get("All"), "All"))
    return wire.empty_response(204)


@routes.get(_TAGS)
async def list_tag_resources(request: web.Request) -> web.Response:
    """ListTagResources → ``{"TagResources": [...], "NextToken", "RequestId"}``."""
    q = request.query
    rows, token = request.app[ENGINE].list_tag_resources(
        json_strings(q.get("ResourceId"), "ResourceId"), q.get("ResourceType"),
        json_tags(q.get("Tag"), "Tag"),
        inputs.query_int(q.get("Limit"), "Limit", 1, 100, 20) or 20, q.get("NextToken", ""))
    engine = request.app[ENGINE]
    request_id = engine.response_id()
    doc: dict[str, Any] = {"TagResources": [_row(r) for r in rows], "RequestId": request_id}
    if token:
        doc["NextToken"] = token
    return wire.json_response(doc, request_id=request_id)


def _row(row: TagResource) -> dict[str, str]:
    return {"ResourceId": row.resource_id, "ResourceType": row.resource_type,
            "TagKey": row.tag_key, "TagValue": row.tag_value}


def _type(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgument(f"ResourceType must be a string, got {value!r}")


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{key} must be a list of strings, got {value!r}")
    return value


def _objects(value: Any, key: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidArgument(f"{key} must be a list of {{Key, Value}} objects, got {value!r}")
    return value


def _query_json(value: str | None, key: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise InvalidArgument(f"{key} must be a JSON array (as the SDK sends it), "
                              f"got {value!r}") from None


def json_strings(value: str | None, key: str) -> list[str]:
    """A query parameter the SDK sends as a JSON array of strings."""
    return _strings(_query_json(value, key), key)


def json_tags(value: str | None, key: str) -> list[tuple[str, str]]:
    """A query parameter the SDK sends as a JSON array of ``{Key, Value}`` tags."""
    tags = []
    for tag in _objects(_query_json(value, key), key):
        k, v = tag.get("Key"), tag.get("Value", "")
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgument(f"{key}: each tag needs a string Key (and Value), got {tag!r}")
        tags.append((k, v))
    return tags
