"""Routes: the function CRUD that async flows need (spec §5.1, §11).

CreateFunction and UpdateFunction read bodies up to the size of FC's largest code
upload (a 100 MB zip, Base64-encoded: :func:`code_body_limit`; :func:`code_bodies`,
called by the FC sub-app's middleware, raises the limit for them before anything reads
the body), and the engine unpacks the code on a worker thread, so a big package never
stalls the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from fcemu import code
from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.api.tags import json_tags
from fcemu.unpacking import CodeSizeExceeded

routes = web.RouteTableDef()

#: Room for the other fields of a CreateFunction / UpdateFunction body.
_FIELDS_ROOM = 1024 * 1024


def code_body_limit() -> int:
    """The largest CreateFunction / UpdateFunction body: a Base64 code zip at FC's limit,
    plus the other fields (the zip limit itself is checked on the decoded bytes)."""
    return (code.MAX_ZIP_BYTES + 2) // 3 * 4 + _FIELDS_ROOM


#: The handlers that take a ``code.zipFile`` (:func:`code_bodies` raises their body limit).
CODE_ROUTES: set[Callable[..., Awaitable[web.StreamResponse]]] = set()


def _takes_code(handler: Callable[[web.Request], Awaitable[web.Response]],
                ) -> Callable[[web.Request], Awaitable[web.Response]]:
    CODE_ROUTES.add(handler)
    return handler


def code_bodies(request: web.Request) -> web.Request:
    """The request, with the body limit raised when its route takes a ``code.zipFile``: the
    FC sub-app's error layer (:class:`fcemu.api.middleware.ErrorLayer`) calls it
    ahead of anything that reads the body, e.g. the signature check."""
    if request.match_info.handler in CODE_ROUTES:
        request = request.clone(client_max_size=max(request.client_max_size,
                                                    code_body_limit()))
    return request


async def _read_function_doc(request: web.Request) -> dict[str, Any]:
    try:
        return await wire.read_json(request)
    except web.HTTPRequestEntityTooLarge:
        raise CodeSizeExceeded(
            f"the request body is over {request.client_max_size} bytes: FC takes a "
            f"code.zipFile of at most {code.MAX_ZIP_BYTES} bytes (Base64-encoded) through "
            "the API") from None


#: The same for the other routes that take a ``code.zipFile`` (CreateLayerVersion).
takes_code, read_code_doc = _takes_code, _read_function_doc


@routes.post("/functions")
@_takes_code
async def create_function(request: web.Request) -> web.Response:
    """CreateFunction: ``CreateFunctionInput`` → ``Function``, 200 (decisions.md)."""
    spec = inputs.function_spec(await _read_function_doc(request), create=True)
    function = await request.app[ENGINE].create_function_async(spec)
    return wire.json_response(wire.function(function))


@routes.get("/functions/{functionName}")
async def get_function(request: web.Request) -> web.Response:
    """GetFunction (``qualifier`` query)."""
    engine = request.app[ENGINE]
    function = engine.get_function(wire.function_name(request), wire.qualifier(request))
    return wire.json_response(wire.function(function))


@routes.get("/functions")
async def list_functions(request: web.Request) -> web.Response:
    """ListFunctions: ``prefix``, ``limit`` (1–100, default 20), ``nextToken`` (spec §5.2),
    and the filters ``runtime``, ``description``, ``tags`` (a JSON array of ``{Key, Value}``),
    ``fcVersion`` and ``gpuType`` (:class:`fcemu.engine.resources.FunctionFilter`)."""
    query = request.query
    engine = request.app[ENGINE]
    match = engine.function_filter(
        runtime=query.get("runtime") or None, description=query.get("description") or None,
        tags=json_tags(query.get("tags"), "tags"), fc_version=query.get("fcVersion") or None,
        gpu_type=query.get("gpuType") or None)
    functions, token = engine.list_functions(
        prefix=query.get("prefix", ""), limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""), match=match)
    return wire.json_response(wire.page("functions", map(wire.function, functions), token))


@routes.put("/functions/{functionName}")
@_takes_code
async def update_function(request: web.Request) -> web.Response:
    """UpdateFunction: ``UpdateFunctionInput`` → ``Function``; all of it or nothing."""
    name = wire.function_name(request)
    spec = inputs.function_spec(await _read_function_doc(request), create=False)
    function = await request.app[ENGINE].update_function_async(name, spec)
    return wire.json_response(wire.function(function))


@routes.delete("/functions/{functionName}")
async def delete_function(request: web.Request) -> web.Response:
    """DeleteFunction: 204, no body (decisions.md)."""
    request.app[ENGINE].delete_function(wire.function_name(request))
    return wire.empty_response(204)
