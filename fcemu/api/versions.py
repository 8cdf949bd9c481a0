"""Routes: function versions, aliases, and Disable/EnableFunctionInvocation (FC 3.0).

Paths, methods, query names and body fields as the SDK's ``client.py`` sends them:
``/functions/{functionName}/versions[/{versionId}]``,
``/functions/{functionName}/aliases[/{aliasName}]`` and
``/functions/{functionName}/invoke/disable|enable``. The wire shapes of ``Version``
and ``Alias`` (the SDK models' ``from_map`` names) are here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.engine import AliasSpec
from fcemu.errors import InvalidArgument
from fcemu.models import Alias, Version

routes = web.RouteTableDef()

_VERSIONS = "/functions/{functionName}/versions"
_ALIASES = "/functions/{functionName}/aliases"


def version(v: Version) -> dict[str, Any]:
    """``Version``: ``versionId``, ``description``, ``createdTime``, ``lastModifiedTime``."""
    created = wire.rfc3339(v.created_ms)
    return {"versionId": v.version_id, "description": v.description, "createdTime": created,
            "lastModifiedTime": created}


def alias(a: Alias) -> dict[str, Any]:
    """``Alias``: the input fields, plus ``createdTime`` and ``lastModifiedTime``."""
    return {"aliasName": a.alias_name, "versionId": a.version_id,
            "description": a.description,
            "additionalVersionWeight": dict(a.additional_version_weight),
            "createdTime": wire.rfc3339(a.created_ms),
            "lastModifiedTime": wire.rfc3339(a.modified_ms)}


async def _body(request: web.Request) -> Mapping[str, Any]:
    raw = await wire.read_body(request)
    if not raw.strip():
        return {}
    doc = wire.loads(raw)
    if not isinstance(doc, Mapping):
        raise InvalidArgument("the request body must be a JSON object")
    return doc


def alias_spec(doc: Mapping[str, Any], *, create: bool) -> AliasSpec:
    """A ``CreateAliasInput`` / ``UpdateAliasInput`` as a spec (checked as it is built)."""
    inputs.check_document(doc)
    known = {"aliasName", "versionId", "description", "additionalVersionWeight"}
    if not create:
        known.discard("aliasName")
    unknown = sorted(set(doc) - known)
    if unknown:
        raise InvalidArgument(f"unknown field(s) {', '.join(unknown)}: an alias takes "
                              f"{', '.join(sorted(known))}")
    return AliasSpec(alias_name=doc.get("aliasName") if create else None,
                     version_id=doc.get("versionId"), description=doc.get("description"),
                     additional_version_weight=doc.get("additionalVersionWeight"))


# -- versions -------------------------------------------------------------------------


@routes.post(_VERSIONS)
async def publish_function_version(request: web.Request) -> web.Response:
    """PublishFunctionVersion: body ``PublishVersionInput`` {``description``}."""
    name = wire.function_name(request)
    doc = await _body(request)
    description = doc.get("description")
    published = request.app[ENGINE].publish_function_version(
        name, "" if description is None else description)
    return wire.json_response(version(published))


@routes.get(_VERSIONS)
async def list_function_versions(request: web.Request) -> web.Response:
    """ListFunctionVersions: ``direction`` (BACKWARD, the default, or FORWARD), ``limit``,
    ``nextToken``; the answer names its ``direction``."""
    query = request.query
    direction = query.get("direction") or "BACKWARD"
    versions, token = request.app[ENGINE].list_function_versions(
        wire.function_name(request), direction=direction, limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""))
    doc = wire.page("versions", map(version, versions), token)
    doc["direction"] = direction
    return wire.json_response(doc)


@routes.delete(_VERSIONS + "/{versionId}")
async def delete_function_version(request: web.Request) -> web.Response:
    """DeleteFunctionVersion: 204; 412 while an alias points at the version."""
    request.app[ENGINE].delete_function_version(wire.function_name(request),
                                                request.match_info["versionId"])
    return wire.empty_response(204)


# -- aliases --------------------------------------------------------------------------


@routes.post(_ALIASES)
async def create_alias(request: web.Request) -> web.Response:
    """CreateAlias: body ``CreateAliasInput``; answers the ``Alias``."""
    name = wire.function_name(request)
    spec = alias_spec(await _body(request), create=True)
    return wire.json_response(alias(request.app[ENGINE].create_alias(name, spec)))


@routes.get(_ALIASES + "/{aliasName}")
async def get_alias(request: web.Request) -> web.Response:
    found = request.app[ENGINE].get_alias(wire.function_name(request),
                                          request.match_info["aliasName"])
    return wire.json_response(alias(found))


@routes.put(_ALIASES + "/{aliasName}")
async def update_alias(request: web.Request) -> web.Response:
    """UpdateAlias: body ``UpdateAliasInput``; what it names changes."""
    name = wire.function_name(request)
    spec = alias_spec(await _body(request), create=False)
    updated = request.app[ENGINE].update_alias(name, request.match_info["aliasName"], spec)
    return wire.json_response(alias(updated))


@routes.get(_ALIASES)
async def list_aliases(request: web.Request) -> web.Response:
    """ListAliases: ``prefix``, ``limit``, ``nextToken``."""
    query = request.query
    aliases, token = request.app[ENGINE].list_aliases(
        wire.function_name(request), prefix=query.get("prefix", ""),
        limit=wire.query_limit(query), next_token=query.get("nextToken", ""))
    return wire.json_response(wire.page("aliases", map(alias, aliases), token))


@routes.delete(_ALIASES + "/{aliasName}")
async def delete_alias(request: web.Request) -> web.Response:
    request.app[ENGINE].delete_alias(wire.function_name(request),
                                     request.match_info["aliasName"])
    return wire.empty_response(204)


# -- disable / enable -----------------------------------------------------------------


@routes.post("/functions/{functionName}/invoke/disable")
async def disable_function_invocation(request: web.Request) -> web.Response:
    """DisableFunctionInvocation: body {``abortOngoingRequest``, ``reason``}; {"success": true}."""
    name = wire.function_name(request)
    doc = await _body(request)
    abort = doc.get("abortOngoingRequest", False)
    if not isinstance(abort, bool):
        raise InvalidArgument(f"abortOngoingRequest must be true or false, got {abort!r}")
    reason = doc.get("reason")
    request.app[ENGINE].disable_function_invocation(
        name, abort_ongoing_request=abort, reason="" if reason is None else reason)
    return wire.json_response({"success": True})


@routes.post("/functions/{functionName}/invoke/enable")
async def enable_function_invocation(request: web.Request) -> web.Response:
    """EnableFunctionInvocation: {"success": true}."""
    request.app[ENGINE].enable_function_invocation(wire.function_name(request))
    return wire.json_response({"success": True})
