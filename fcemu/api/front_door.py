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

An async submit on an idle connection, for which steps 1 to 3 would do nothing
(:meth:`FrontDoor.express_engine`), is answered below the routes by the express lane
(:mod:`fcemu.api.express`), with the route's own parts and step 4's durable wait.

Refusals are the FC error JSON, or MNS XML on ``/queues`` and ``/topics``
(:func:`error_response`, also used for errors met before any route by
:mod:`fcemu.api.protocol`). What happens below the routes (heads and bodies
too long or too slow) is :mod:`fcemu.api.protocol`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from aiohttp import hdrs, web

from fcemu import hosts
from fcemu.api import wire
from fcemu.api.auth import check_fc_signature, secrets_of
from fcemu.api.durable import durable_commit
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import ErrorLayer, is_smq, new_request_id, render_error
from fcemu.api.routing import kept_matcher
from fcemu.api.smq import smq_error_response
from fcemu.engine import Engine
from fcemu.errors import AccessDenied, FcError, SmqError
from fcemu.settings import Settings

__all__ = ["FrontDoor", "SmqAccessDenied", "error_response", "install"]

log = logging.getLogger("fcemu.api.front_door")

#: Longest header value quoted back in a refusal.
_QUOTE = 200
#: Most Host values whose check is remembered; past it the memory starts over.
_HOSTS_KEPT = 256
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
        self._router = root.router
        #: the root router's kept answers (fcemu.api.routing), None when it keeps none
        self._kept_match = kept_matcher(root)
        #: each sub-app's steps by id(app): no Application.__hash__ call (Python) a request
        self._layers = {id(app): layer for app, layer in layers.items()}
        #: The answers of the Host check for the settings they were made with (frozen: a
        #: reset that replaces them starts over), by Host value: one dict read a request.
        self._hosts_of: Settings | None = None
        self._hosts: dict[str, bool] = {}
        self._engine: Engine | None = None

    def _host_allowed(self, settings: Settings, host: str) -> bool:
        if settings is not self._hosts_of or len(self._hosts) >= _HOSTS_KEPT:
            self._hosts_of = settings
            self._hosts = {}
        allowed = self._hosts[host] = hosts.host_allowed(host, settings.host,
                                                          settings.allow_hosts)
        return allowed

    def express_engine(self, get: Callable[[str], str | None]) -> Engine | None:
        """The engine when, for a request with these headers (their ``get``), every root
        step would do nothing but durable mode's wait: its ``Host`` was allowed
        before under the current settings (or it has none), it sends neither ``Origin``
        nor ``Sec-Fetch-Site`` (no origin check, no CORS) nor ``Expect``, and the engine
        is in neither follow mode nor verify mode (no signature check). Else None. The
        condition of the express lane (:mod:`fcemu.api.express`), which in durable mode
        waits for the commit itself."""
        engine = self._engine
        if engine is None or engine.following:
            return None
        settings = engine.settings
        if settings.access_keys or settings is not self._hosts_of:
            return None
        host = get(hdrs.HOST)
        if host is not None and not self._hosts.get(host):
            return None
        if get(hdrs.ORIGIN) is not None or get("Sec-Fetch-Site") is not None or \
                get(hdrs.EXPECT):
            return None
        return engine

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """aiohttp's ``Application._handle`` (resolution, the ``Expect`` answer), then what
        its middleware chain ran: the root's steps (Host and Origin checks; follow mode's
        clock, the rest and durable mode's commit, whose failures become FC error JSON,
        except on MNS paths; CORS headers) around the sub-app's (its error layer) around
        the handler."""
        root = self._root
        kept_match = self._kept_match
        found = kept_match(request, root) if kept_match is not None else None
        if found is not None:  # a (method, path) met before: no coroutine (issue 13)
            match_info, handler, innermost = found
            current = root if innermost is None else innermost  # the first app added
        else:
            match_info = await self._router.resolve(request)
            match_info.add_app(root)
            match_info.freeze()
            handler = match_info.handler
            apps = match_info.apps
            innermost = apps[-1] if len(apps) > 1 else None
            current = match_info.current_app
        request._match_info = match_info
        get = request.headers.get
        if get(hdrs.EXPECT):
            answer = await match_info.expect_handler(request)
            await request.writer.drain()
            if answer is not None:
                return answer
        # request.app: the root for the root's steps, the sub-app for the sub-app's, as
        # aiohttp's chain had it; switched only before a step that reads it (a refusal,
        # the handler, an error's answer), not four times a request (issue 13)
        prev = current
        try:
            engine = self._engine
            if engine is None:  # the root's, set before it starts (make_app)
                engine = self._engine = root[ENGINE]
            settings = engine.settings
            host = get(hdrs.HOST)
            if host is not None and not (
                    self._hosts.get(host) if settings is self._hosts_of else None) and \
                    not self._host_allowed(settings, host):
                return _refuse(root, request, f"Host {_quote(host)} is not allowed: fcemu "
                                              "answers requests for loopback names and "
                                              "addresses, the --host it listens on and the "
                                              "names given with --allow-host")
            origin = get(hdrs.ORIGIN)
            fetch_site = get("Sec-Fetch-Site")
            # neither header (SDKs, curl, the CLI): nothing to check (issue 13)
            if (origin is not None or fetch_site is not None) and not hosts.origin_allowed(
                    origin, fetch_site, host, settings.allow_origins):
                what = (f"Origin {_quote(origin)}" if origin is not None
                        else "a cross-site request")
                return _refuse(root, request, f"{what} is not allowed: fcemu answers web "
                                              "pages only from its own origin and from the "
                                              "origins given with --allow-origin")
            cors = origin is not None and not hosts.same_origin(origin, host)
            if cors and request.method == hdrs.METH_OPTIONS and \
                    hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
                return _preflight(request, str(origin))
            response: web.StreamResponse
            try:
                if engine.following:  # follow mode: what fell due fires first
                    await engine.follow_time(strict=False)
                durable = engine.durable
                layer = (self._layers.get(id(innermost)) if innermost is not None
                         else None)
                if layer is None:
                    if current is not root:
                        match_info.current_app = current = root
                    response = await handler(request)
                else:  # the sub-app's steps, request.app the sub-app
                    if current is not layer.app:
                        match_info.current_app = current = layer.app
                    try:
                        prepare = layer.prepare
                        inner = request if prepare is None or (
                            layer.prepare_only is not None and
                            handler not in layer.prepare_only) else prepare(request)
                        if settings.access_keys:  # verify mode (secrets_of: a dict)
                            await check_fc_signature(inner, secrets_of(engine))
                        response = await handler(inner)
                        if layer.stamp_success and type(response) is not \
                                wire.StampedResponse and wire.REQUEST_ID not in response.headers:
                            response.headers[wire.REQUEST_ID] = new_request_id(request)
                    except Exception as exc:  # every failure becomes FC error JSON
                        response = render_error(request, exc)
                if durable:  # a 2xx goes out once its change is committed
                    if current is not root:
                        match_info.current_app = current = root
                    await durable_commit(engine, request)
            except Exception as exc:  # outside every sub-app: FC error JSON too (principle 5)
                if is_smq(request.path):
                    raise
                if current is not root:
                    match_info.current_app = current = root
                response = render_error(request, exc)
            if cors and not response.prepared:
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = str(origin)
                response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "*"
                response.headers.add(hdrs.VARY, hdrs.ORIGIN)
            return response
        finally:
            if current is not prev:
                match_info.current_app = prev


def _quote(value: str | None) -> str:
    text = repr(value) if value is not None else "(none)"
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "…"


def _refuse(root: web.Application, request: web.Request, message: str) -> web.Response:
    log.warning("refused %s %s: %s", request.method, request.path[:_QUOTE], message)
    return error_response(root, request.path, AccessDenied(message), SmqAccessDenied(message))


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
