"""Durable mode's HTTP side: a 2xx goes out only once its change is committed.

:func:`durable_commit`, awaited by the front door once the handler is done, tells the
engine that a request may have changed state (every method but GET, HEAD and OPTIONS; an
InvokeFunction or an SMQ message operation changes only what the task and queue hooks
see already, so it does not make the engine's records be written again), then waits for
the batch holding the request's changes before the answer goes out
(:mod:`fcemu.engine.durable`). Without ``--data-dir`` it costs the front door one
attribute read per request.
"""

from __future__ import annotations

import re

from aiohttp import web

from fcemu.engine import Engine

__all__ = ["durable_commit"]

#: Paths whose requests change tasks or messages only (hooked directly).
_HOT = re.compile(r"^(?:/2023-03-30/functions/[^/]+/invocations|/queues/[^/]+/messages)")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def durable_commit(engine: Engine, request: web.Request) -> None:
    """Durable mode, once ``request``'s handler is done: tell ``engine`` it may have changed
    state (see the module docstring), then wait until the batch holding the change is
    committed. The front door (:class:`fcemu.api.front_door.FrontDoor`) awaits it
    when ``engine.durable``."""
    if request.method not in _READS:  # after the change: the batch must see it
        engine.store_touched(records=_HOT.match(request.path) is None)
    await engine.committed()
