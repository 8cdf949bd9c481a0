"""Durable mode's HTTP side: a 2xx goes out only once its change is committed.

The root middleware :func:`durable_commit` tells the engine, once the handler is done,
that a request may have changed state (every method but GET, HEAD and OPTIONS; an
InvokeFunction or an SMQ message operation changes only what the task and queue hooks
see already, so it does not make the engine's records be written again), then waits for
the batch holding the request's changes before the answer goes out
(:mod:`fcemu.engine.durable`). Without ``--data-dir`` it costs one attribute read per
request.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler

from fcemu.api.keys import ENGINE

__all__ = ["durable_commit"]

#: Paths whose requests change tasks or messages only (hooked directly).
_HOT = re.compile(r"^(?:/2023-03-30/functions/[^/]+/invocations|/queues/[^/]+/messages)")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def durable_commit(request: web.Request, handler: Handler) -> web.StreamResponse:
    engine = request.app[ENGINE]
    if not engine.durable:
        return await handler(request)
    response = await handler(request)
    if request.method not in _READS:  # after the change: the batch must see it
        engine.store_touched(records=_HOT.match(request.path) is None)
    await engine.committed()
    return response
