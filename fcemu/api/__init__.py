"""The HTTP face of the engine: FC 3.0 API, MNS API and control API on one port.

``make_app(engine)`` builds the root application (STYLE.md, aiohttp 2):

- ``/2023-03-30/…``: the FC API, a sub-app with one route module per resource;
- ``/_fcemu/…``: the control API, a second sub-app;
- ``/queues…`` and ``/topics…``: the MNS routes of :mod:`fcemu.api.smq`, on the root.

The root's request handler is the front door (:mod:`fcemu.api.front_door`):
every request, whatever its route, passes its Host and Origin checks first
(and, served by :mod:`fcemu.api.protocol`, its head and body time limits); it
lets follow mode move the clock before any handler runs, waits for durable
mode's commit, and turns failures outside every sub-app into FC error JSON.
It runs each sub-app's error layer too (:class:`fcemu.api.middleware.ErrorLayer`). Handlers
call the engine's public methods only. In verify mode (``Settings.access_keys``)
the FC sub-app, the control API and the MNS routes check request signatures, dates
and nonces before their handlers (:mod:`fcemu.api.auth`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from fcemu.api import (
    async_configs,
    async_tasks,
    concurrency,
    console,
    control,
    function_code,
    functions,
    http_triggers,
    instances,
    invocations,
    layers,
    smq,
    snapshots,
    tags,
    triggers,
    versions,
)
from fcemu.api.front_door import install
from fcemu.api.keys import ENGINE, NONCES
from fcemu.api.middleware import CLIENT_MAX_SIZE, ErrorLayer
from fcemu.api.replay import Nonces
from fcemu.api.routing import keep_resolutions
from fcemu.engine import Engine

__all__ = ["ENGINE", "FC_PREFIX", "make_app"]

#: The API version prefix of every FC path (spec §1).
FC_PREFIX = "/2023-03-30"
CONTROL_PREFIX = "/_fcemu"

#: Invocations first: aiohttp tries the routes under one static prefix in this order, and
#: no two FC routes match one path (tests/api/test_route_order.py), so the busiest path is
#: found first (the URL resolution of an invoke 6.6-9.5 -> 3.7-4.4 us, issue 13).
_FC_MODULES = (invocations, functions, async_configs, concurrency, async_tasks, triggers,
               layers, versions, instances, tags, function_code)


def make_app(engine: Engine) -> web.Application:
    """The root application serving ``engine``; closing it closes the engine."""
    fc_app = _app(engine)
    for module in _FC_MODULES:
        fc_app.add_routes(module.routes)
    control_app = _app(engine)
    control_app.add_routes(control.routes)
    control_app.add_routes(triggers.control_routes)
    control_app.add_routes(snapshots.routes)  # snapshot, restore (fcemu.engine.snapshots)
    control_app.add_routes(console.routes)  # metrics, events, the web console's needs
    console.setup(control_app)
    root = _app(engine)
    root[NONCES] = Nonces()
    root.add_routes(smq.routes)
    root.add_routes(http_triggers.routes)
    root.add_routes(function_code.download_routes)  # before the /_fcemu sub-app
    root.add_subapp(FC_PREFIX, fc_app)
    root.add_subapp(CONTROL_PREFIX, control_app)
    keep_resolutions(root)  # a (method, path) resolved once is not walked again
    install(root, {fc_app: ErrorLayer(fc_app, stamp_success=True, prepare=functions.code_bodies,
                                      prepare_only=functions.CODE_ROUTES),
                   control_app: ErrorLayer(control_app, stamp_success=False)})
    # long polls parked on queues answer at once instead of holding shutdown for up to 30 s
    root.on_shutdown.append(smq.release_long_polls)
    root.cleanup_ctx.append(_engine_lifetime)
    return root


def _app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app[ENGINE] = engine
    return app


async def _engine_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Nothing to start (the engine is live once built); at shutdown, shut it down."""
    yield
    await app[ENGINE].shutdown()
