"""The instance pool: slots per instance, the global cap, FIFO waits, idle reaping.

Fake instances (no processes): each records its kill, so the pool's choices
can be checked exactly, and a test waits on events, never on the clock.
"""

from __future__ import annotations

import asyncio

import pytest

from fcemu.models import Function
from fcemu.runtime.pool import Instance, InstancePool


class FakeInstance(Instance):
    def __init__(self, function: Function, key: object, number: int) -> None:
        super().__init__(function, key, f"c-{number}")
        self.killed = asyncio.Event()
        self.release_kill = asyncio.Event()
        self.release_kill.set()

    async def kill(self) -> None:
        self.killed.set()
        await self.release_kill.wait()

    @property
    def exited(self) -> bool:
        return self.killed.is_set()

    @property
    def pid(self) -> int | None:
        return None

    def peak_mb(self) -> int:
        return 1


def function(name: str, concurrency: int = 1) -> Function:
    return Function(name=name, runtime="python3.10", handler="index.handler", arn=name,
                    function_id="fid", created_ms=0, modified_ms=0,
                    instance_concurrency=concurrency)


class Harness:
    def __init__(self, pool: InstancePool) -> None:
        self.pool = pool
        self.made: list[FakeInstance] = []

    def acquire(self, fn: Function, key: object = None) -> asyncio.Task[Instance | None]:
        def make() -> FakeInstance:
            instance = FakeInstance(fn, key or fn.name, len(self.made) + 1)
            self.made.append(instance)
            return instance

        return asyncio.ensure_future(self.pool.acquire(fn, key or fn.name, make))


def run(body, **settings):
    async def main():
        pool = InstancePool(**settings)
        try:
            return await body(Harness(pool))
        finally:
            await pool.close()

    return asyncio.run(main())


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_requests_share_an_instance_up_to_its_concurrency_then_scale_out():
    async def body(h):
        fn = function("f", concurrency=2)
        got = [h.acquire(fn) for _ in range(5)]
        await turns()
        ids = [(await t).instance_id for t in got]
        return ids, [i.active for i in h.made], h.pool.live, h.pool.peak

    ids, active, live, peak = run(body, max_instances=8)
    assert ids == ["c-1", "c-1", "c-2", "c-2", "c-3"]
    assert active == [2, 2, 1]
    assert (live, peak) == (3, 3)


def test_at_the_cap_requests_wait_in_fifo_order():
    async def body(h):
        f, g = function("f"), function("g")
        first = await h.acquire(f)
        waiting = [h.acquire(g), h.acquire(f)]
        await turns()
        assert not any(t.done() for t in waiting)
        h.pool.release(first)  # f's instance is free: the f request behind g takes it at once
        await turns()
        assert [t.done() for t in waiting] == [False, True]
        assert (await waiting[1]) is first
        h.pool.release(first)  # now idle: g, first in line, evicts it once it is reaped
        g_instance = await waiting[0]
        return first, g_instance, h.pool.peak

    first, g_instance, peak = run(body, max_instances=1)
    assert first.killed.is_set() and first.retired
    assert g_instance.function_name == "g"
    assert peak == 1


def test_a_freed_slot_goes_straight_to_the_next_request_of_its_function():
    async def body(h):
        fn = function("f")
        first = await h.acquire(fn)
        waiting = [h.acquire(fn) for _ in range(2)]
        await turns()
        h.pool.release(first)  # no idle time in between: no idle timer either
        await turns()
        handed = [t.done() for t in waiting]
        second = await waiting[0]
        first.healthy = False  # e.g. it timed out: not handed on, though a request waits
        h.pool.release(first)
        return first, handed, second, await waiting[1]

    timers: list[float] = []

    def idle_timer(seconds: float, callback: object) -> asyncio.TimerHandle:
        timers.append(seconds)
        return asyncio.get_running_loop().call_later(seconds, lambda: None)

    first, handed, second, third = run(body, max_instances=1, idle_timer=idle_timer)
    assert handed == [True, False] and second is first and timers == []
    assert first.retired and third is not first


def test_a_killed_instance_counts_against_the_cap_until_reaped():
    async def body(h):
        f, g = function("f"), function("g")
        first = await h.acquire(f)
        first.release_kill.clear()  # its process takes a while to die
        h.pool.retire(first)
        h.pool.release(first)
        waiting = h.acquire(g)
        await turns()
        blocked = not waiting.done() and h.pool.live == 1
        first.release_kill.set()
        return blocked, await waiting, h.pool.peak

    blocked, instance, peak = run(body, max_instances=1)
    assert blocked
    assert instance.function_name == "g"
    assert peak == 1


def test_an_unhealthy_instance_is_never_reused():
    async def body(h):
        fn = function("f")
        first = await h.acquire(fn)
        first.healthy = False  # e.g. it timed out
        h.pool.release(first)
        return first, await h.acquire(fn)

    first, second = run(body, max_instances=2)
    assert first.retired and first.killed.is_set()
    assert second is not first


def test_an_updated_function_does_not_reuse_old_instances():
    async def body(h):
        fn = function("f")
        old = await h.acquire(fn, key="v1")
        h.pool.release(old)
        new = await h.acquire(fn, key="v2")
        await turns()
        return old, new

    old, new = run(body, max_instances=4)
    assert new is not old
    assert old.killed.is_set()


def test_idle_instances_are_reaped_after_the_idle_time():
    async def body(h):
        fn = function("f")
        instance = await h.acquire(fn)
        h.pool.release(instance)
        await asyncio.wait_for(instance.killed.wait(), 5)
        await turns()
        return instance, h.pool.live

    instance, live = run(body, max_instances=2, idle_seconds=0.01)
    assert instance.retired
    assert live == 0


def test_the_idle_clock_starts_when_the_last_request_leaves():
    async def body(h):
        fn = function("f", concurrency=2)
        instance = await h.acquire(fn)
        assert await h.acquire(fn) is instance
        h.pool.release(instance)
        busy_timer = instance.idle_timer  # one request left: busy, no idle timer
        h.pool.release(instance)
        idle_timer = instance.idle_timer
        assert await h.acquire(fn) is instance  # a new request stops the idle clock
        return busy_timer, idle_timer, instance.idle_timer, idle_timer.cancelled()

    busy, idle, after, cancelled = run(body, max_instances=2, idle_seconds=300)
    assert busy is None and idle is not None
    assert after is None and cancelled


def test_close_answers_waiters_and_kills_everything():
    async def body(h):
        f = function("f")
        first = await h.acquire(f)
        waiting = h.acquire(function("g"))
        await turns()
        await h.pool.close()
        return first, await waiting, await h.pool.acquire(f, "f", lambda: None)

    first, waited, late = run(body, max_instances=1)
    assert first.killed.is_set()
    assert waited is None and late is None


def test_a_cancelled_waiter_gives_its_place_back():
    async def body(h):
        f = function("f")
        first = await h.acquire(f)
        cancelled = h.acquire(f)
        behind = h.acquire(f)
        await turns()
        cancelled.cancel()
        await turns()
        h.pool.release(first)
        return first, await behind

    first, behind = run(body, max_instances=1)
    assert behind is first


def test_max_instances_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        InstancePool(0)



def test_requests_joining_a_line_are_served_in_order_then_an_update_gets_its_own():
    """A request that joins its function's line waits behind it without a pass over the
    pool; one for the updated function (a new key) is no such joiner: it waits its turn,
    then a new instance serves it and every instance of the old key is retired."""
    async def body(h):
        fn = function("f")
        running = await h.acquire(fn, "v1")
        line = [h.acquire(fn, "v1") for _ in range(3)]
        updated = h.acquire(fn, "v2")  # the same function, updated: its own key
        more = h.acquire(fn, "v2")  # joins v2's line
        await turns()
        order = []
        for _ in range(5):
            h.pool.release(running)
            done = next(t for t in asyncio.as_completed([*line, updated, more]))
            running = await done
            order.append((running.key, running.instance_id))
            line = [t for t in line if not t.done()]
            if updated.done() and more.done():
                break
        return order, h.made

    order, made = run(body, max_instances=1)
    assert [key for key, _ in order] == ["v1", "v1", "v1", "v2", "v2"]
    assert all(i.retired for i in made if i.key == "v1")
    assert len({instance for key, instance in order if key == "v2"}) == 1


def test_a_deleted_versions_instances_go_once_idle_and_other_versions_keep_theirs():
    """DeleteFunctionVersion: the version's idle instance goes now, its busy one once its
    request ends; LATEST's busy instance and version 2's idle one are left alone."""
    import dataclasses

    async def body(h):
        latest = function("f")
        v1, v2 = (dataclasses.replace(latest, version_id=v) for v in "12")
        busy_latest = await h.acquire(latest, key="L")
        idle_v1, busy_v1 = await h.acquire(v1, key="k1"), await h.acquire(v1, key="k1")
        idle_v2 = await h.acquire(v2, key="k2")
        h.pool.release(idle_v1)
        h.pool.release(idle_v2)
        retiring = asyncio.ensure_future(h.pool.retire_version("f", "1"))
        await turns()
        states = [(i.retired, i.killed.is_set()) for i in (idle_v1, busy_v1)]
        assert not retiring.done()  # busy_v1's request still runs
        h.pool.release(busy_v1)
        await asyncio.wait_for(retiring, 5)
        return states, [(i.retired, i.killed.is_set()) for i in (busy_v1, busy_latest, idle_v2)]

    before, after = run(body, max_instances=8)
    assert before == [(True, True), (False, False)]
    assert after == [(True, True), (False, False), (False, False)]
