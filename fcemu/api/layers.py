"""Routes: the layer operations (CreateLayerVersion, GetLayerVersion, GetLayerVersionByArn,
ListLayers, ListLayerVersions, DeleteLayerVersion, PutLayerACL) and the ``Layer`` wire
shape, as the FC 3.0 SDK's client calls and reads them.

CreateLayerVersion takes a ``code.zipFile`` as CreateFunction does (same body limit,
same checks, unpacked on a worker thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from fcemu.api import functions, inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.checks import check_document, check_mapping
from fcemu.errors import InvalidArgument
from fcemu.layers import LayerSpec, check_layer_name
from fcemu.models import LayerVersion

routes = web.RouteTableDef()

_VERSION = "/layers/{layerName}/versions/{version}"
#: The largest version number a path may name (versions are counted from 1).
_MAX_VERSION = 999_999_999


def layer(layer_version: LayerVersion) -> dict[str, Any]:
    """``Layer``: a layer version as GetLayerVersion and the List* calls return it."""
    return {
        "layerName": layer_version.layer_name,
        "version": layer_version.version,
        "layerVersionArn": layer_version.arn,
        "description": layer_version.description,
        "license": layer_version.license,
        "compatibleRuntime": list(layer_version.compatible_runtime),
        "code": {"repositoryType": "OSS", "location": ""},
        "codeSize": layer_version.code_size,
        "codeChecksum": layer_version.code_checksum,
        "createTime": wire.rfc3339(layer_version.created_ms),
        "acl": layer_version.acl,
    }


def _name(request: web.Request) -> str:
    return check_layer_name(request.match_info["layerName"])


def _version(request: web.Request) -> int:
    number = inputs.query_int(request.match_info["version"], "version", 1, _MAX_VERSION, None)
    assert number is not None  # a path segment is never empty
    return number


def layer_spec(doc: Mapping[str, Any]) -> LayerSpec:
    """A ``CreateLayerVersionInput`` as a :class:`~fcemu.layers.LayerSpec`."""
    check_document(doc)
    code = doc.get("code")
    if code is None:
        raise InvalidArgument("code is required: send code.zipFile (a base64 zip holding the "
                              "layer's content, e.g. python/<package>/)")
    code = check_mapping(code, "code")
    if code.get("ossBucketName") or code.get("ossObjectName"):
        raise InvalidArgument("code.ossBucketName/ossObjectName: fcemu runs offline and cannot "
                              "fetch code from OSS; send the layer as code.zipFile (a base64 "
                              "zip)")
    runtimes = doc.get("compatibleRuntime")
    return LayerSpec(zip_file=code.get("zipFile"),  # type: ignore[arg-type]  # checked there
                     compatible_runtime=() if runtimes is None else runtimes,
                     description=doc.get("description") or "",
                     license=doc.get("license") or "")


@routes.post("/layers/{layerName}/versions")
@functions.takes_code
async def create_layer_version(request: web.Request) -> web.Response:
    """CreateLayerVersion: ``CreateLayerVersionInput`` → ``Layer``, 200."""
    name = _name(request)
    spec = layer_spec(await functions.read_code_doc(request))
    created = await request.app[ENGINE].create_layer_version_async(name, spec)
    return wire.json_response(layer(created))


@routes.get(_VERSION)
async def get_layer_version(request: web.Request) -> web.Response:
    """GetLayerVersion → ``Layer``."""
    found = request.app[ENGINE].get_layer_version(_name(request), _version(request))
    return wire.json_response(layer(found))


@routes.get("/layerarn/{arn:.+}")
async def get_layer_version_by_arn(request: web.Request) -> web.Response:
    """GetLayerVersionByArn: the ARN percent-encoded as one path segment → ``Layer``."""
    found = request.app[ENGINE].get_layer_version_by_arn(request.match_info["arn"])
    return wire.json_response(layer(found))


@routes.delete(_VERSION)
async def delete_layer_version(request: web.Request) -> web.Response:
    """DeleteLayerVersion: 204, no body."""
    request.app[ENGINE].delete_layer_version(_name(request), _version(request))
    return wire.empty_response(204)


@routes.get("/layers")
async def list_layers(request: web.Request) -> web.Response:
    """ListLayers: ``prefix``, ``limit``, ``nextToken``, ``public``, ``official`` →
    ``ListLayersOutput`` (the latest version of each layer)."""
    query = request.query
    found, token = request.app[ENGINE].list_layers(
        prefix=query.get("prefix", ""), limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""),
        public=_flag(query, "public"), official=_flag(query, "official"))
    return wire.json_response(wire.page("layers", map(layer, found), token))


@routes.get("/layers/{layerName}/versions")
async def list_layer_versions(request: web.Request) -> web.Response:
    """ListLayerVersions: ``startVersion``, ``limit`` → ``ListLayerVersionOutput``
    (``nextVersion`` only when there are more)."""
    query = request.query
    start = inputs.query_int(query.get("startVersion"), "startVersion", 1, _MAX_VERSION, 1)
    found, next_version = request.app[ENGINE].list_layer_versions(
        _name(request), start_version=start or 1, limit=wire.query_limit(query))
    doc: dict[str, Any] = {"layers": [layer(v) for v in found]}
    if next_version is not None:
        doc["nextVersion"] = next_version
    return wire.json_response(doc)


@routes.put("/layers/{layerName}/acl")
async def put_layer_acl(request: web.Request) -> web.Response:
    """PutLayerACL: ``acl`` (0 or 1) or ``public`` (true or false) in the query; 204."""
    query = request.query
    request.app[ENGINE].put_layer_acl(_name(request), acl=query.get("acl") or None,
                                      public=_flag(query, "public"))
    return wire.empty_response(204)


def _flag(query: Mapping[str, str], key: str) -> bool | None:
    if query.get(key) in (None, ""):
        return None
    return inputs.query_bool(query.get(key), key)
