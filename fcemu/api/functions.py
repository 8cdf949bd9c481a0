"""Routes: the function CRUD that async flows need (spec §5.1, §11)."""

from __future__ import annotations

from aiohttp import web

from fcemu.api import wire
from fcemu.api.keys import ENGINE

routes = web.RouteTableDef()


@routes.post("/functions")
async def create_function(request: web.Request) -> web.Response:
    """CreateFunction: ``CreateFunctionInput`` → ``Function``, 200 (decisions.md)."""
    doc = await wire.read_json(request)
    function = request.app[ENGINE].create_function(doc)
    return wire.json_response(wire.function(function))


@routes.get("/functions/{functionName}")
async def get_function(request: web.Request) -> web.Response:
    """GetFunction (``qualifier`` query)."""
    engine = request.app[ENGINE]
    function = engine.get_function(wire.function_name(request), wire.qualifier(request))
    return wire.json_response(wire.function(function))


@routes.get("/functions")
async def list_functions(request: web.Request) -> web.Response:
    """ListFunctions: ``prefix``, ``limit`` (1–100, default 20), ``nextToken`` (spec §5.2)."""
    query = request.query
    functions, token = request.app[ENGINE].list_functions(
        prefix=query.get("prefix", ""), limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""))
    return wire.json_response(wire.page("functions", map(wire.function, functions), token))


@routes.put("/functions/{functionName}")
async def update_function(request: web.Request) -> web.Response:
    """UpdateFunction: ``UpdateFunctionInput`` → ``Function``."""
    name = wire.function_name(request)
    doc = await wire.read_json(request)
    return wire.json_response(wire.function(request.app[ENGINE].update_function(name, doc)))


@routes.delete("/functions/{functionName}")
async def delete_function(request: web.Request) -> web.Response:
    """DeleteFunction: 204, no body (decisions.md)."""
    request.app[ENGINE].delete_function(wire.function_name(request))
    return wire.empty_response(204)
