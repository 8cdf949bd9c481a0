"""Routes: Put/Get/Delete/List concurrency configs (spec §5.1, §11.4)."""

from __future__ import annotations

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.errors import InvalidArgument

routes = web.RouteTableDef()

_CONFIG = "/functions/{functionName}/concurrency"
#: fcemu's cap on ``reservedConcurrency`` (FC's is the account's regional quota; 0 = no runs).
MAX_RESERVED_CONCURRENCY = 1000


@routes.put(_CONFIG)
async def put_concurrency_config(request: web.Request) -> web.Response:
    """PutConcurrencyConfig: ``{"reservedConcurrency": int}`` (required) → ``ConcurrencyConfig``."""
    name = wire.function_name(request)
    doc = await wire.read_json(request)
    reserved = inputs.integer(doc, "reservedConcurrency", 0, MAX_RESERVED_CONCURRENCY)
    if reserved is None:
        raise InvalidArgument("reservedConcurrency is required: an integer between 0 and "
                              f"{MAX_RESERVED_CONCURRENCY}")
    config = request.app[ENGINE].put_concurrency_config(name, reserved)
    return wire.json_response(wire.concurrency_config(config))


@routes.get(_CONFIG)
async def get_concurrency_config(request: web.Request) -> web.Response:
    """GetConcurrencyConfig; 404 ``OnDemandConfigNotFound`` when none is set (spec §3.3)."""
    config = request.app[ENGINE].get_concurrency_config(wire.function_name(request))
    return wire.json_response(wire.concurrency_config(config))


@routes.delete(_CONFIG)
async def delete_concurrency_config(request: web.Request) -> web.Response:
    """DeleteConcurrencyConfig: 204, no body."""
    request.app[ENGINE].delete_concurrency_config(wire.function_name(request))
    return wire.empty_response(204)


@routes.get("/concurrency-configs")
async def list_concurrency_configs(request: web.Request) -> web.Response:
    """ListConcurrencyConfigs: ``functionName``, ``limit``, ``nextToken``."""
    query = request.query
    configs, token = request.app[ENGINE].list_concurrency_configs(
        function_name=query.get("functionName") or None, limit=wire.query_limit(query),
        next_token=query.get("nextToken", ""))
    return wire.json_response(wire.page("configs", map(wire.concurrency_config, configs), token))
