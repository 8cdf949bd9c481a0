"""fcemu.api.routing: the root router's kept answers are the walk's answers (issue 13)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from fcemu.api import routing
from tests.api.conftest import Api

METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")


class Request:
    """What a resolution reads of a request: its method and URL (aiohttp's mocked request
    takes milliseconds to make)."""

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.rel_url = URL(path)


def make_mocked_request(method: str, path: str) -> Any:
    return Request(method, path)


def answer(match_info: web.UrlMappingMatchInfo) -> tuple[Any, ...]:
    """What a resolution decides: the route (or the miss and its allowed methods), the
    path's variables and the sub-apps passed."""
    error = match_info.http_exception
    if error is not None:
        allowed = getattr(error, "allowed_methods", None)
        return type(error), error.status, allowed and sorted(allowed)
    return match_info.route, dict(match_info), match_info.apps, match_info.handler


def every_path(root: web.Application) -> list[str]:
    """Each route's path of the root and its sub-apps (variables filled in, plain and
    percent-encoded), variants with a slash more or less, and misses."""
    resources = list(root.router.resources())
    for resource in list(resources):
        if isinstance(resource, web.PrefixedSubAppResource):
            resources += resource._app.router.resources()  # type: ignore[attr-defined]
    paths = []
    for resource in resources:
        canonical = resource.canonical
        for fill in ("f", "my-fn_1", "a%20b", "x.y"):
            path = re.sub(r"\{[^}]+\}", fill, canonical)
            paths += [path, path + "/", path + "/x", path.rsplit("/", 1)[0] or "/"]
    return [*sorted(set(paths)), "/", "/zz", "/2023-03-30", "/2023-03-30/"]


async def test_kept_answers_are_the_walks_answers(api: Api) -> None:
    root = api.client_app
    router = root.router
    assert type(router).__name__ == "_KeepingRouter"
    paths = every_path(root)
    assert len(paths) > 200
    for method, path in itertools.product(METHODS, paths):
        walked = await web.UrlDispatcher.resolve(router, make_mocked_request(method, path))
        first = await router.resolve(make_mocked_request(method, path))
        again = await router.resolve(make_mocked_request(method, path))
        assert answer(first) == answer(walked) == answer(again), (method, path)
        assert again is not first
    assert 0 < len(router._kept) <= routing.KEPT  # type: ignore[attr-defined]


async def test_a_kept_match_is_a_fresh_one_each_time(api: Api) -> None:
    router = api.client_app.router
    path = "/2023-03-30/functions/f/invocations"
    first = await router.resolve(make_mocked_request("POST", path))
    first["functionName"] = "changed"  # a handler's change stays in its own request
    first.freeze()
    again = await router.resolve(make_mocked_request("POST", path))
    assert dict(again) == {"functionName": "f"}
    again.add_app(api.client_app)  # not frozen: the app adds itself, as after a walk
    assert again.apps[0] is api.client_app and len(again.apps) == 2


async def test_the_memory_is_bounded(api: Api) -> None:
    router = api.client_app.router
    for i in range(routing.KEPT + 10):
        await router.resolve(make_mocked_request("GET", f"/2023-03-30/functions/f{i}"))
        assert len(router._kept) <= routing.KEPT  # type: ignore[attr-defined]
    match_info = await router.resolve(make_mocked_request("GET", "/2023-03-30/functions/g"))
    assert dict(match_info) == {"functionName": "g"}


def test_a_router_with_a_domain_sub_app_is_left_alone() -> None:
    app = web.Application()
    app.add_domain("example.com", web.Application())
    routing.keep_resolutions(app)
    assert type(app.router) is web.UrlDispatcher


async def test_the_front_doors_kept_match_is_a_walk_with_the_root_added(api: Api) -> None:
    """kept_match: what Application._handle makes of a walk (the root added, frozen), the
    route's handler and the innermost app; None until the walk has kept an answer."""
    root = api.client_app
    kept_match = routing.kept_matcher(root)
    assert kept_match is not None
    paths = every_path(root)
    seen = 0
    for method, path in itertools.product(("GET", "POST", "DELETE"), paths):
        request = make_mocked_request(method, path)
        found = kept_match(request, root)
        walked = await web.UrlDispatcher.resolve(root.router, request)
        walked.add_app(root)
        walked.freeze()
        kept = await root.router.resolve(request)  # keeps it, when it is kept
        if found is None:
            found = kept_match(request, root)
            if found is None:  # a miss or a kind of route never kept
                assert kept.http_exception is not None or not isinstance(
                    kept.route.resource, (web.PlainResource, web.DynamicResource))
                continue
        seen += 1
        match_info, handler, innermost = found
        assert answer(match_info) == answer(walked), (method, path)
        assert handler is walked.handler
        assert match_info.current_app is walked.current_app
        assert innermost is (walked.apps[-1] if len(walked.apps) > 1 else None)
        with pytest.raises(RuntimeError):
            match_info.add_app(root)  # frozen, as after Application._handle
        assert kept_match(request, root)[0] is not match_info  # type: ignore[index]
    assert seen > 100


def test_a_router_that_keeps_nothing_has_no_kept_match() -> None:
    app = web.Application()
    assert routing.kept_matcher(app) is None
    routing.keep_resolutions(app)
    assert routing.kept_matcher(app) is not None
