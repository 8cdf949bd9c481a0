"""The pool's shortcuts on the warm path keep its choices (issue 13).

A line of waiting requests knows whether its key is the newest of its function version
(``Line.latest``, :mod:`fcemu.runtime.pool_lines`), so a line-up or a release need not
look the version's newest key up; the line last used is kept with its key (the hot
line); a release with one slot to give hands it to the first in line directly;
``PooledRuntime`` keeps one entry per request (None while it waits, then its instance).
These tests pin the pool's choices where the shortcuts could go wrong: keys shared by
two versions (a version published from LATEST has LATEST's code, so the same key), an
update while requests of the old key wait, a request cancelled but still in line, a
seeded mix of everything with and without the hot line, and requests that leave, stop or
end in every state."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import Invocation, Outcome
from fcemu.runtime.pool import Instance, InstancePool, Key
from fcemu.runtime.pooled import PooledRuntime
from tests.unit.test_runtime_pool import FakeInstance, function, run, turns


def test_a_key_shared_by_two_versions_is_stale_only_for_the_version_that_moved_on() -> None:
    async def body(h: Any) -> tuple[Any, ...]:
        latest = function("f")
        v1 = dataclasses.replace(latest, version_id="1")  # published: LATEST's key
        a = await h.acquire(latest, "K")
        b = await h.acquire(v1, "K")
        c = h.acquire(latest, "K")  # waits (the cap): a line of LATEST's
        d = h.acquire(v1, "K")  # joins it: K is v1's newest too
        await turns()
        e = h.acquire(latest, "K2")  # LATEST updated: K is stale for LATEST only
        await turns()
        h.pool.release(b)  # v1's instance, K still v1's newest: it takes the next in line
        got_c = await c
        h.pool.release(a)  # LATEST's instance of K is stale: retired, not handed on
        got_d = await d
        retired = [i.retired for i in h.made]
        h.pool.release(got_c)
        h.pool.release(got_d)
        got_e = await e
        h.pool.release(got_e)
        await turns()
        return a, b, got_c, got_d, got_e, retired, list(h.made)

    a, b, c, d, e, retired, made = run(body, max_instances=2)
    assert a is made[0] and c is b and retired == [True, False, False]
    assert d is made[2] and d.key == "K" and d.group == ("f", "1")
    assert e.key == "K2" and e.group == ("f", "")
    assert [i.instance_id for i in made] == ["c-1", "c-2", "c-3", "c-4"]


def test_an_instance_of_another_version_than_its_line_checks_its_own_version() -> None:
    async def body(h: Any) -> tuple[Any, ...]:
        latest = function("f")
        v1 = dataclasses.replace(latest, version_id="1")
        x = await h.acquire(v1, "K")
        await h.acquire(latest, "K")
        z = h.acquire(latest, "K")  # waits (the cap): a line of LATEST's, K its newest
        w = h.acquire(v1, "K3")  # v1's newest is K3 now: x's instance is stale
        await turns()
        h.pool.release(x)  # not handed to z (LATEST's line), though K is LATEST's newest
        got_z = await z
        return x, x.retired, got_z, w.done()

    x, retired, z, w_served = run(body, max_instances=2)
    assert retired and z is not x and z.key == "K" and z.group == ("f", "")
    assert not w_served


def test_a_request_joining_another_versions_line_makes_its_key_its_versions_newest() -> None:
    async def body(h: Any) -> tuple[Any, ...]:
        latest = function("f")
        v1 = dataclasses.replace(latest, version_id="1")
        x = await h.acquire(v1, "K")
        await h.acquire(v1, "K3")  # v1's newest is K3: x's instance is stale for now
        await h.acquire(latest, "K")
        r = h.acquire(latest, "K")  # waits (the cap): a line of LATEST's
        await turns()
        s = h.acquire(v1, "K")  # joins that line, and K is v1's newest again
        await turns()
        h.pool.release(x)  # so x's instance takes the next in line
        return x, await r, x.retired, s.done()

    x, r, retired, s_served = run(body, max_instances=3)
    assert r is x and not retired and not s_served


def test_a_version_that_moves_back_to_an_older_key_serves_its_line_again() -> None:
    async def body(h: Any) -> tuple[Any, ...]:
        fn = function("f")
        first = await h.acquire(fn, "K1")
        waiting = h.acquire(fn, "K1")
        await turns()
        updated = h.pool.line_up(fn, "K2", lambda _fn, _key: None)
        h.pool.left(updated)  # the newest became K2 (and its request left)
        back = h.acquire(fn, "K1")  # and K1 again: the line of K1 is the newest's again
        await turns()
        got = []
        for request in (waiting, back):
            h.pool.release(first)
            got.append(await request)
        h.pool.release(first)
        return first, got, first.retired, list(h.made)

    first, got, retired, made = run(body, max_instances=1)
    assert got == [first, first] and not retired and made == [first]


def test_a_release_skips_a_request_cancelled_but_not_yet_out_of_its_line() -> None:
    async def body(h: Any) -> tuple[Any, ...]:
        fn = function("f")
        first = await h.acquire(fn)
        second, third = h.acquire(fn), h.acquire(fn)
        await turns()
        second.cancel()  # its waiter's future is cancelled now, its line left a turn later
        h.pool.release(first)  # the one free slot: not for the cancelled request
        got = await third
        await asyncio.gather(second, return_exceptions=True)
        return first, got, second.cancelled(), first.active, len(h.made)

    first, got, cancelled, active, made = run(body, max_instances=1)
    assert got is first and cancelled and active == 1 and made == 1


class _Slow(FakeInstance):
    """Started the usual way once (``prepare``), then by the hand-off: its reply is set by
    the test (``replies``)."""

    def __init__(self, fn: Function, key: object, number: int,
                 replies: dict[str, asyncio.Future[Any]]) -> None:
        super().__init__(fn, key, number)
        self.replies = replies
        self.warm = False

    async def prepare(self, invocation: Invocation) -> Outcome | None:
        self.warm = True
        return None

    async def execute(self, invocation: Invocation) -> Outcome:
        request_id = invocation.request_id
        reply = self.replies[request_id] = asyncio.get_running_loop().create_future()
        try:
            return Outcome("ok", await reply, instance_id=self.instance_id)
        finally:
            self.replies.pop(request_id, None)

    def begin(self, invocation: Invocation, reply: asyncio.Future[Any]) -> bool:
        if not self.warm:
            return False
        self.replies[invocation.request_id] = reply
        return True

    async def finish(self, invocation: Invocation) -> Outcome:
        return Outcome("ok", self.replies.pop(invocation.request_id).result(),
                       instance_id=self.instance_id)

    def abandon(self, request_id: str) -> None:
        self.replies.pop(request_id, None)


class _Runtime(PooledRuntime):
    def __init__(self, pool: InstancePool) -> None:
        super().__init__(IdGenerator(1), pool)
        self.replies: dict[str, asyncio.Future[Any]] = {}
        self.made: list[_Slow] = []

    def _key(self, function: Function) -> Key:
        return function.name

    def _make(self, function: Function, key: Key) -> Instance:
        self.made.append(_Slow(function, key, len(self.made) + 1, self.replies))
        return self.made[-1]


def test_requests_are_found_by_a_stop_in_each_state_and_forgotten_when_they_end() -> None:
    async def body() -> tuple[Any, ...]:
        pool = InstancePool(1)
        runtime = _Runtime(pool)
        fn = function("f")

        def invoke(request_id: str) -> asyncio.Task[Outcome]:
            return asyncio.ensure_future(runtime.invoke(
                Invocation(request_id, fn, b"", "LATEST", "cn", "1")))

        first = invoke("r-1")  # started the usual way
        await turns()
        queued = [invoke(f"r-{i}") for i in range(2, 6)]  # wait for its slot
        await turns()
        states = dict(runtime._requests)
        stopped = await runtime.stop("r-2")  # waiting: stopped when it gets its slot
        queued[1].cancel()  # r-3 leaves while it waits
        runtime.replies["r-1"].set_result(b"one")
        outcomes = [await first]
        runtime.replies["r-4"].set_result(b"four")  # r-2 ended at once; r-4 was started
        outcomes.append(await queued[0])
        outcomes.append(await queued[2])
        await turns()
        queued[3].cancel()  # r-5: started by the hand-off, then cancelled
        await asyncio.gather(queued[1], queued[3], return_exceptions=True)
        unknown = await runtime.stop("r-9")
        left = dict(runtime._requests)
        await pool.close()
        closed = await runtime.invoke(Invocation("r-6", fn, b"", "LATEST", "cn", "1"))
        return (states, stopped, outcomes, queued[1].cancelled(), queued[3].cancelled(),
                unknown, left, runtime.replies, runtime._requests, runtime.made, closed)

    (states, stopped, outcomes, left_3, left_5, unknown, left, replies, requests, made,
     closed) = asyncio.run(body())
    assert states == {"r-1": made[0], "r-2": None, "r-3": None, "r-4": None, "r-5": None}
    assert stopped and not unknown
    assert [(o.kind, o.body) for o in outcomes] == [
        ("ok", b"one"), ("stopped", outcomes[1].body), ("ok", b"four")]
    assert left_3 and left_5 and left == {} and replies == {} and requests == {}
    assert len(made) == 1 and made[0].active == 0
    assert closed.kind == "error" and b"RuntimeClosed" in closed.body


class _Cold(InstancePool):
    """The pool without its hot line: every line is looked up by its key."""

    @property  # type: ignore[override]
    def _hot_key(self) -> object:
        return object()  # never the key at hand

    @_hot_key.setter
    def _hot_key(self, key: object) -> None:
        pass


async def _script(pool: InstancePool, seed: int) -> list[Any]:
    """A seeded mix of line-ups (two functions, two versions, updates), releases, requests
    that leave and reaps; what each request got, in order, and the pool's state at the end.
    The hot line, when there is one, is always its key's line."""
    rng = random.Random(seed)
    made: list[FakeInstance] = []
    f, g = function("f", concurrency=2), function("g")
    kinds = [(f, ("f", 1)), (f, ("f", 2)), (dataclasses.replace(f, version_id="1"), ("f", 1)),
             (g, ("g", 1))]
    keys = [(fn, (*key, "x" * 8)) for fn, key in kinds]  # tuples, made once, as a worker's
    waiting: list[Any] = []
    held: list[Any] = []
    got: list[Any] = []

    def make(fn: Function, key: object) -> FakeInstance:
        made.append(FakeInstance(fn, key, len(made) + 1))
        return made[-1]

    for _ in range(400):
        step = rng.random()
        if step < 0.45:
            fn, key = rng.choice(keys[:2] if rng.random() < 0.7 else keys)
            waiter = pool.line_up(fn, key, make)
            assert waiter is not None
            waiting.append(waiter)
        elif step < 0.8 and held:
            pool.release(held.pop(rng.randrange(len(held))))
        elif step < 0.9 and waiting:
            waiter = waiting.pop(rng.randrange(len(waiting)))
            if not waiter.future.done():
                waiter.future.cancel()
            pool.left(waiter)
            got.append(("left", waiter.key))
        else:
            await turns(2)
        for waiter in [w for w in waiting if w.future.done()]:
            waiting.remove(waiter)
            held.append(waiter.future.result())
            got.append((waiter.key, held[-1].instance_id))
        hot = pool._hot_line
        assert hot is None or type(pool) is _Cold or pool._by_key.get(pool._hot_key) is hot
    state = [(i.instance_id, i.key, i.active, i.retired) for i in made]
    await pool.close()
    return [got, state, pool.peak]


def test_the_hot_line_changes_no_choice_of_the_pool() -> None:
    for seed in range(6):
        hot = asyncio.run(_script(InstancePool(3), seed))
        cold = asyncio.run(_script(_Cold(3), seed))
        assert hot == cold and len(hot[0]) > 100
