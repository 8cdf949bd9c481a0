"""The root app's URL resolution, kept per method and path (issue 13).

aiohttp's router resolves a request by walking its path's parts backwards, each
part's candidate resources in the order they were added, and a sub-app's
resource resolves again in the sub-app's router; every InvokeFunction of one
function walks the same way to the same route. :func:`keep_resolutions` makes
the root's router remember, per ``(method, path)``, the route a walk found, the
path's variables and the sub-apps it passed, and answer the next request for
that method and path with a fresh match built from them, without the walk.

That is the walk's own answer: with a frozen route table (aiohttp freezes it at
startup) and no resource that matches on anything but the path and method
(domain sub-apps, ``MatchedSubAppResource``, match on the ``Host``: with one of
them the router is left as it is), a walk's answer is a function of the method
and the path (``rel_url.path_safe``, what the walk reads). Only matches of
plain and variable routes are kept (not misses, not static files), at most
:data:`KEPT` of them; past that the memory starts over.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import MatchedSubAppResource

__all__ = ["KEPT", "keep_resolutions"]

#: Most (method, path) answers kept; past it they are forgotten, all at once.
KEPT = 1024

_Kept = tuple[web.AbstractRoute, dict[str, str], tuple[web.Application, ...]]


class _KeepingRouter(web.UrlDispatcher):
    """aiohttp's router, answering a (method, path) it resolved before from memory."""

    _kept: dict[tuple[str, str], _Kept]

    async def resolve(self, request: web.Request) -> web.UrlMappingMatchInfo:
        key = (request.method, request.rel_url.path_safe)
        kept = self._kept.get(key)
        if kept is not None:
            route, variables, apps = kept
            match_info = web.UrlMappingMatchInfo(variables.copy(), route)
            for app in reversed(apps):  # as the sub-app resources add them: innermost first
                match_info.add_app(app)
            return match_info
        match_info = await super().resolve(request)
        if match_info.http_exception is None and isinstance(
                match_info.route.resource, (web.PlainResource, web.DynamicResource)):
            if len(self._kept) >= KEPT:
                self._kept.clear()
            self._kept[key] = (match_info.route, dict(match_info), match_info.apps)
        return match_info


def keep_resolutions(app: web.Application) -> None:
    """Make ``app``'s router keep its answers (see the module docstring); nothing when a
    resource of it matches on more than the method and the path."""
    router = app.router
    if type(router) is not web.UrlDispatcher or any(
            isinstance(r, MatchedSubAppResource) for r in router.resources()):
        return
    router.__class__ = _KeepingRouter  # same object and routes; resolve() keeps answers
    assert isinstance(router, _KeepingRouter)
    router._kept = {}
