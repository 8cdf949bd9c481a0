"""The front door: the root app's request handler, in front of every route.

:class:`FrontDoor` runs before anything else for every request (FC API,
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
4. The handler (the sub-app's error layer first:
   :class:`fcemu.api.middleware.ErrorLayer`), then, in durable mode, the wait
   for the commit of what it changed (:func:`fcemu.api.durable.durable_commit`).
   A failure of these, outside every sub-app's error layer, is FC error JSON
   (:func:`fcemu.api.middleware.render_error`); on the MNS paths it passes untouched.

All this, and each sub-app's own steps (:class:`fcemu.api.middleware.ErrorLayer`), is
one coroutine per request, :class:`FrontDoor`, which :func:`install` makes the root
app's request handler: aiohttp would run its own handler, a middleware per app and
one more per app that sets ``request.app`` (five coroutines; each layer costs every
request one: issue 13). It resolves, sets ``request.app`` (the root, then the sub-app
during its steps) and runs the steps in the order aiohttp's chain ran them.

Refusals are the FC error JSON, or MNS XML on ``/queues`` and ``/topics``
(:func:`error_response`, also used for errors met before any route by
:mod:`fcemu.api.protocol`). What happens below the routes (heads and bodies
too long or too slow) is :mod:`fcemu.api.protocol`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import hdrs, web

from fcemu import hosts
from fcemu.api import wire
from fcemu.api.auth import check_fc_signature, secrets_of
from fcemu.api.durable import durable_commit
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import ErrorLayer, is_smq, new_request_id, render_error
from fcemu.api.smq import smq_error_response
from fcemu.errors import AccessDenied, FcError, SmqError

__all__ = ["FrontDoor", "SmqAccessDenied", "error_response", "install"]

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


def install(root: web.Application, layers: Mapping[web.Application, ErrorLayer]) -> None:
    """Make :class:`FrontDoor` ``root``'s request handler (what aiohttp's server calls for
    each request, in place of ``Application._handle``); ``layers``: each sub-app's steps.
    The apps carry no aiohttp middleware."""
    # aiohttp's servers (AppRunner, TestServer) take app._handle when they start
    object.__setattr__(root, "_handle", FrontDoor(root, layers))


class FrontDoor:
    """The root app's request handling (see the module docstring)."""

    def __init__(self, root: web.Application,
                 layers: Mapping[web.Application, ErrorLayer]) -> None:
        self._root = root
        self._layers = dict(layers)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """aiohttp's ``Application._handle`` (resolution, the ``Expect`` answer), then what
        its middleware chain ran: the root's steps (Host and Origin checks; follow mode's
        clock, the rest and durable mode's commit, whose failures become FC error JSON,
        except on MNS paths; CORS headers) around the sub-app's (its error layer) around
        the handler."""
        root = self._root
        match_info = await root.router.resolve(request)
        match_info.add_app(root)
        match_info.freeze()
        request._match_info = match_info
        if request.headers.get(hdrs.EXPECT):
            answer = await match_info.expect_handler(request)
            await request.writer.drain()
            if answer is not None:
                return answer
        apps = match_info.apps
        prev = match_info.current_app
        match_info.current_app = root  # request.app: the root for its steps
        try:
            engine = root[ENGINE]
            settings = engine.settings
            host = request.headers.get(hdrs.HOST)
            origin = request.headers.get(hdrs.ORIGIN)
            if not hosts.host_allowed(host, settings.host, settings.allow_hosts):
                return _refuse(request, f"Host {_quote(host)} is not allowed: fcemu answers "
                                        "requests for loopback names and addresses, the "
                                        "--host it listens on and the names given with "
                                        "--allow-host")
            if not hosts.origin_allowed(origin, request.headers.get("Sec-Fetch-Site"), host,
                                        settings.allow_origins):
                what = (f"Origin {_quote(origin)}" if origin is not None
                        else "a cross-site request")
                return _refuse(request, f"{what} is not allowed: fcemu answers web pages "
                                        "only from its own origin and from the origins "
                                        "given with --allow-origin")
            cors = origin is not None and not hosts.same_origin(origin, host)
            if cors and request.method == hdrs.METH_OPTIONS and \
                    hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
                return _preflight(request, str(origin))
            response: web.StreamResponse
            try:
                if engine.following:  # follow mode: what fell due fires first
                    await engine.follow_time(strict=False)
                durable = engine.durable
                layer = self._layers.get(apps[-1]) if len(apps) > 1 else None
                if layer is None:
                    response = await match_info.handler(request)
                else:  # the sub-app's steps, request.app the sub-app
                    match_info.current_app = layer.app
                    try:
                        inner = request if layer.prepare is None else layer.prepare(request)
                        secrets = secrets_of(engine)
                        if secrets:
                            await check_fc_signature(inner, secrets)
                        response = await match_info.handler(inner)
                        if layer.stamp_success and wire.REQUEST_ID not in response.headers:
                            response.headers[wire.REQUEST_ID] = new_request_id(request)
                    except Exception as exc:  # every failure becomes FC error JSON
                        response = render_error(request, exc)
                    finally:
                        match_info.current_app = root
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
        finally:
            match_info.current_app = prev


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
