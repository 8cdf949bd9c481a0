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
:data:`KEPT` of them; past that the memory starts over. :meth:`_KeepingRouter.kept_match`
gives the front door such an answer without a coroutine, with the root app added and
frozen (what ``Application._handle`` does to a resolution), the route's handler and the
innermost app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import MatchedSubAppResource

__all__ = ["KEPT", "KeptMatch", "keep_resolutions", "kept_matcher"]

#: Most (method, path) answers kept; past it they are forgotten, all at once.
KEPT = 1024

_Handler = Callable[..., Awaitable[web.StreamResponse]]
#: route, path variables, sub-apps passed (outermost first), the route's handler
_Kept = tuple[web.AbstractRoute, dict[str, str], tuple[web.Application, ...], _Handler]
#: A kept answer for the front door: the frozen match (the root app added), the route's
#: handler and the innermost app (None: a route of the root itself).
KeptMatch = tuple[web.UrlMappingMatchInfo, _Handler, web.Application | None]


class _KeepingRouter(web.UrlDispatcher):
    """aiohttp's router, answering a (method, path) it resolved before from memory."""

    _kept: dict[tuple[str, str], _Kept]

    async def resolve(self, request: web.Request) -> web.UrlMappingMatchInfo:
        key = (request.method, request.rel_url.path_safe)
        kept = self._kept.get(key)
        if kept is not None:
            route, variables, apps, _ = kept
            match_info = web.UrlMappingMatchInfo(variables.copy(), route)
            for app in reversed(apps):  # as the sub-app resources add them: innermost first
                match_info.add_app(app)
            return match_info
        match_info = await super().resolve(request)
        self._keep(key, match_info)
        return match_info

    def kept_match(self, request: web.Request, root: web.Application) -> KeptMatch | None:
        """The kept answer for ``request``'s method and path as the front door uses it (see
        :data:`KeptMatch`), without a coroutine; None when none is kept (then
        :meth:`resolve` walks)."""
        kept = self._kept.get((request.method, request.rel_url.path_safe))
        if kept is None:
            return None
        route, variables, apps, handler = kept
        match_info = web.UrlMappingMatchInfo(variables.copy(), route)
        for app in reversed(apps):  # as the sub-app resources add them: innermost first
            match_info.add_app(app)
        match_info.add_app(root)  # then the root, as Application._handle does
        match_info.freeze()
        return match_info, handler, apps[-1] if apps else None

    def _keep(self, key: tuple[str, str], match_info: web.UrlMappingMatchInfo) -> None:
        if match_info.http_exception is None and isinstance(
                match_info.route.resource, (web.PlainResource, web.DynamicResource)):
            if len(self._kept) >= KEPT:
                self._kept.clear()
            route = match_info.route
            self._kept[key] = (route, dict(match_info), match_info.apps, route.handler)


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


def kept_matcher(app: web.Application) -> Callable[[web.Request, web.Application],
                                                    KeptMatch | None] | None:
    """``app``'s router's :meth:`_KeepingRouter.kept_match`, or None when its router keeps
    nothing (see :func:`keep_resolutions`)."""
    router = app.router
    return router.kept_match if isinstance(router, _KeepingRouter) else None
