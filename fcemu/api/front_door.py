"""The front door: the root app's one middleware, in front of every route.

:func:`front_door` runs before anything else for every request (FC API,
control API, MNS routes, router misses):

1. ``Host`` must be one fcemu answers (:func:`fcemu.hosts.host_allowed`):
   else 403 ``AccessDenied``. This stops DNS rebinding.
2. ``Origin`` / ``Sec-Fetch-Site`` must not be a foreign web page
   (:func:`fcemu.hosts.origin_allowed`): else 403 ``AccessDenied``. An origin
   listed with ``--allow-origin`` gets CORS: its preflight ``OPTIONS`` is
   answered 204 and its responses carry ``Access-Control-Allow-Origin``.

3. Follow mode (:mod:`fcemu.follow`): timers that fell due by the process's time
   fire before the request is handled (a refused backwards move is kept for
   ``check()``).
4. The handler (the sub-apps' own middleware first:
   :func:`fcemu.api.middleware.error_middleware`), then, in durable mode, the wait
   for the commit of what it changed (:func:`fcemu.api.durable.durable_commit`).
   A failure of these, outside every sub-app's error middleware, is FC error JSON
   (:func:`fcemu.api.middleware.render_error`); on the MNS paths it passes untouched.

All this is one middleware, not one per step: each layer costs every request a
coroutine (issue 13).

Refusals are the FC error JSON, or MNS XML on ``/queues`` and ``/topics``
(:func:`error_response`, also used for errors met before any route by
:mod:`fcemu.api.protocol`). What happens below the routes (heads and bodies
too long or too slow) is :mod:`fcemu.api.protocol`'s.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from fcemu import hosts
from fcemu.api import wire
from fcemu.api.durable import durable_commit
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import is_smq, render_error
from fcemu.api.smq import smq_error_response
from fcemu.errors import AccessDenied, FcError, SmqError

__all__ = ["SmqAccessDenied", "error_response", "front_door"]

log = logging.getLogger("fcemu.api.front_door")

#: Longest header value quoted back in a refusal.
_QUOTE = 200
#: What a preflight answer may be cached for by the browser (seconds).
_PREFLIGHT_MAX_AGE = "600"


class SmqAccessDenied(SmqError):
    status = 403
    code = "AccessDenied"


def error_response(app: web.Application, path: str, fc: FcError,
                   mns: SmqError) -> web.Response:
    """``fc`` as FC error JSON, or ``mns`` as MNS XML when ``path`` is an MNS route; with a
    fresh request ID from the engine."""
    engine = app[ENGINE]
    if is_smq(path):
        return smq_error_response(mns, engine.smq.new_request_id())
    return wire.error_response(fc, engine.response_id())


@web.middleware
async def front_door(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The root's one middleware (see the module docstring): Host and Origin checks; then
    follow mode's clock, the handler and durable mode's commit, whose failures become FC
    error JSON (MNS paths: they pass untouched to the MNS error middleware's caller);
    then CORS headers."""
    engine = request.app[ENGINE]
    settings = engine.settings
    host = request.headers.get(hdrs.HOST)
    origin = request.headers.get(hdrs.ORIGIN)
    if not hosts.host_allowed(host, settings.host, settings.allow_hosts):
        return _refuse(request, f"Host {_quote(host)} is not allowed: fcemu answers requests "
                                "for loopback names and addresses, the --host it listens on "
                                "and the names given with --allow-host")
    if not hosts.origin_allowed(origin, request.headers.get("Sec-Fetch-Site"), host,
                                settings.allow_origins):
        what = f"Origin {_quote(origin)}" if origin is not None else "a cross-site request"
        return _refuse(request, f"{what} is not allowed: fcemu answers web pages only from "
                                "its own origin and from the origins given with --allow-origin")
    cors = origin is not None and not hosts.same_origin(origin, host)
    if cors and request.method == hdrs.METH_OPTIONS and \
            hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
        return _preflight(request, str(origin))
    try:
        if engine.following:  # follow mode: what fell due fires first
            await engine.follow_time(strict=False)
        durable = engine.durable
        response = await handler(request)
        if durable:  # a 2xx goes out once its change is committed
            await durable_commit(engine, request)
    except Exception as exc:  # outside every sub-app: FC error JSON too (principle 5)
        if is_smq(request.path):
            raise
        response = render_error(request, exc)
    if cors and not response.prepared:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = str(origin)
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "*"
        response.headers.add(hdrs.VARY, hdrs.ORIGIN)
    return response


def _quote(value: str | None) -> str:
    text = repr(value) if value is not None else "(none)"
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "…"


def _refuse(request: web.Request, message: str) -> web.Response:
    log.warning("refused %s %s: %s", request.method, request.path[:_QUOTE], message)
    return error_response(request.app, request.path, AccessDenied(message),
                          SmqAccessDenied(message))


def _preflight(request: web.Request, origin: str) -> web.Response:
    """The CORS preflight answer for an origin the user allowed."""
    headers = {hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
               hdrs.ACCESS_CONTROL_ALLOW_METHODS:
                   request.headers[hdrs.ACCESS_CONTROL_REQUEST_METHOD],
               hdrs.ACCESS_CONTROL_MAX_AGE: _PREFLIGHT_MAX_AGE, hdrs.VARY: hdrs.ORIGIN}
    wanted = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS)
    if wanted:
        headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = wanted
    return web.Response(status=204, headers=headers)
