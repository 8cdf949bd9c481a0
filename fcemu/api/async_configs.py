"""Routes: Put/Get/Delete/List async invoke configs (spec §7, §5.1)."""

from __future__ import annotations

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE

routes = web.RouteTableDef()

_CONFIG = "/functions/{functionName}/async-invoke-config"


@routes.put(_CONFIG)
async def put_async_invoke_config(request: web.Request) -> web.Response:
    """PutAsyncInvokeConfig: replace the (function, qualifier) config; omitted fields default."""
    name = wire.function_name(request)
    spec = inputs.async_config_spec(await wire.read_json(request))
    config = request.app[ENGINE].put_async_invoke_config(name, wire.qualifier(request), spec)
    return wire.json_response(wire.async_config(config))


@routes.get(_CONFIG)
async def get_async_invoke_config(request: web.Request) -> web.Response:
    """GetAsyncInvokeConfig; 404 ``AsyncConfigNotExists`` when none is set (spec §7.2)."""
    config = request.app[ENGINE].get_async_invoke_config(
        wire.function_name(request), wire.qualifier(request))
    return wire.json_response(wire.async_config(config))


@routes.delete(_CONFIG)
async def delete_async_invoke_config(request: web.Request) -> web.Response:
    """DeleteAsyncInvokeConfig: 204, no body."""
    request.app[ENGINE].delete_async_invoke_config(
        wire.function_name(request), wire.qualifier(request))
    return wire.empty_response(204)


@routes.get("/async-invoke-configs")
async def list_async_invoke_configs(request: web.Request) -> web.Response:
    """ListAsyncInvokeConfigs: ``functionName`` (omit ⇒ all), ``limit``, ``nextToken``."""
    query = request.query
    configs, token = request.app[ENGINE].list_async_invoke_configs(
        function_name=query.get("functionName") or None, limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""))
    return wire.json_response(wire.page("configs", map(wire.async_config, configs), token))
