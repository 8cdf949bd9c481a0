"""ListAsyncInvokeConfigs pages (spec §5.2): the ``nextToken`` is a position in the order
the list is sorted in, (function, qualifier), so paging with any ``limit`` lists each
config exactly once, in order, and ends with an empty token; a token that names no
position is InvalidArgument, as ListAsyncTasks answers one.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.engine.versions import AliasSpec
from fcemu.errors import InvalidArgument
from fcemu.models import LATEST
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from tests.unit.test_engine import run

#: Names whose characters sort on both sides of the old token's ``:`` ("-" and digits
#: below it, "_" and letters above): ``a`` / ``a-b``, ``f1`` / ``f10`` / ``f_``.
NAMES = st.from_regex(r"[a-c][a-c0-9_-]{0,2}", fullmatch=True)
ALIASES = st.from_regex(r"[A-Za-z_][a-z0-9_-]{0,2}", fullmatch=True)
#: Per function: a LATEST config or not, the published versions that get a config (of
#: 11, so "10" and "11" sort before "2"), and aliases of version 1 with a config.
FUNCTION = st.tuples(st.booleans(), st.sets(st.integers(1, 11), max_size=4),
                     st.sets(ALIASES, max_size=3))


def deploy(engine, layout: dict[str, tuple[bool, set[int], set[str]]]) -> list[tuple[str, str]]:
    """Functions, versions, aliases and configs as ``layout`` says; their keys, sorted."""
    keys = []
    for name, (latest, versions, aliases) in layout.items():
        engine.create_function(FunctionSpec(name=name, runtime="python3.10",
                                            handler="index.handler", timeout=1),
                               handler=lambda event, context: event)
        for _ in range(max(versions | {1 if aliases else 0})):
            engine.publish_function_version(name)
        for alias in aliases:
            engine.create_alias(name, AliasSpec(alias_name=alias, version_id="1"))
        qualifiers = [LATEST] * latest + [str(v) for v in versions] + sorted(aliases)
        for qualifier in qualifiers:
            engine.put_async_invoke_config(name, qualifier, AsyncConfigSpec())
            keys.append((name, qualifier))
    return sorted(keys)


def page_through(engine, limit: int, function_name: str | None = None) -> list[tuple[str, str]]:
    listed, token = [], ""
    for _ in range(len(engine.async_configs) + 2):  # bounded: a loop that never ends fails
        page, token = engine.list_async_invoke_configs(function_name, limit, token)
        assert len(page) <= limit
        listed += [(c.function_name, c.qualifier) for c in page]
        if not token:
            return listed
    raise AssertionError(f"paging with limit {limit} did not end: {listed}")


@settings(max_examples=60, deadline=None)
@given(layout=st.dictionaries(NAMES, FUNCTION, min_size=1, max_size=5),
       limit=st.integers(1, 6))
def test_paging_with_any_limit_lists_each_config_once_in_order(layout, limit) -> None:
    async def scenario(engine, runtime):
        keys = deploy(engine, layout)
        assert page_through(engine, limit) == keys
        name = min(layout)
        assert page_through(engine, limit, name) == [k for k in keys if k[0] == name]

    run(scenario)


@pytest.mark.parametrize("names", [("a", "a-b"), ("f1", "f10"), ("a_", "a-b", "a")])
def test_names_around_the_tokens_separator_page_one_by_one(names) -> None:
    async def scenario(engine, runtime):
        keys = deploy(engine, {n: (True, set(), set()) for n in names})
        return page_through(engine, 1), keys

    listed, keys = run(scenario)
    assert listed == keys


def test_an_alias_sorted_before_the_next_function_is_listed_once() -> None:
    """The audit's case: ``a``, ``a/prod``, ``a-b``; limit 1 used to stop after ``a/prod``."""
    async def scenario(engine, runtime):
        deploy(engine, {"a": (True, set(), {"prod"}), "a-b": (True, set(), set())})
        return page_through(engine, 1)

    assert run(scenario) == [("a", LATEST), ("a", "prod"), ("a-b", LATEST)]


def test_a_token_is_a_position_even_after_its_config_is_deleted() -> None:
    async def scenario(engine, runtime):
        deploy(engine, {n: (True, set(), set()) for n in ("a", "b", "c")})
        first, token = engine.list_async_invoke_configs(None, 1, "")
        engine.delete_async_invoke_config("b", None)
        rest, end = engine.list_async_invoke_configs(None, 5, token)
        return [c.function_name for c in first + rest], token, end

    assert run(scenario) == (["a", "c"], "b:LATEST", "")


@pytest.mark.parametrize("token", ["zzz", "a:", ":LATEST", "a:b:c", "a b:LATEST",
                                   "YTpMQVRFU1Q=", "a:LATEST\n"])
def test_a_token_that_names_no_position_is_invalid_argument(token) -> None:
    async def scenario(engine, runtime):
        deploy(engine, {"a": (True, set(), set())})
        with pytest.raises(InvalidArgument) as raised:
            engine.list_async_invoke_configs(None, 1, token)
        return raised.value.message

    assert run(scenario) == (f"invalid nextToken {token!r}: pass the nextToken of the "
                             "previous page unchanged")
