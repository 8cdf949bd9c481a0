"""A request's frame goes into the worker's stdin pipe whole, whatever its size.

The server writes a frame straight into the pipe when nothing of an earlier frame is queued
in the pipe's transport, and hands what the pipe cannot take (a pipe holds 64 KiB) to the
transport, which writes it in order as the worker reads; until the transport has written
it all, a request is not started by the pool's hand-off (``WorkerInstance.begin``) but the
usual way, which waits for the pipe to drain (fcemu.runtime.worker_requests). These tests
send payloads many times a pipe's size, alone and one after another on one instance.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from fcemu.runtime import Invocation
from fcemu.runtime.worker import WorkerInstance
from tests.unit.test_runtime_worker import call, function, run

#: Several times what a pipe holds, and Base64 makes it a third more.
BIG = 3 * 1024 * 1024


def payload(n: int) -> bytes:
    """``BIG`` bytes of its own for request ``n`` (not one repeated byte)."""
    block = hashlib.sha256(str(n).encode()).digest()
    return (block * (BIG // len(block) + 1))[:BIG]


@pytest.fixture
def begun(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the hand-off started (``WorkerInstance.begin`` said yes)."""
    started: list[str] = []
    original = WorkerInstance.begin

    def begin(self: WorkerInstance, invocation: Invocation, reply: asyncio.Future) -> bool:
        ok = original(self, invocation, reply)
        if ok:
            started.append(invocation.request_id)
        return ok

    monkeypatch.setattr(WorkerInstance, "begin", begin)
    return started


def test_large_frames_one_after_another_reach_the_worker_whole(begun):
    fn = function("echo", timeout=30)

    async def body(rt):
        first = await rt.invoke(call(fn, payload(0), "r-0"))  # starts the instance
        tasks = [asyncio.create_task(rt.invoke(call(fn, payload(n), f"r-{n}")))
                 for n in range(1, 5)]
        return first, await asyncio.gather(*tasks)

    first, rest = run(body, max_instances=1)
    outcomes = [first, *rest]
    assert [o.kind for o in outcomes] == ["ok"] * 5
    assert [o.body == payload(n) for n, o in enumerate(outcomes)] == [True] * 5
    assert len({o.instance_id for o in outcomes}) == 1
    assert begun == ["r-1", "r-2", "r-3", "r-4"]  # the idle instance, then its freed slot
    assert [o.logs for o in outcomes] == [
        f"FC Invoke Start RequestId: r-{n}\nFC Invoke End RequestId: r-{n}\n" for n in range(5)]


def test_small_and_large_frames_mixed_keep_their_order(begun):
    fn = function("echo", timeout=30)
    sizes = [10, BIG, 10, BIG, 10]

    async def body(rt):
        await rt.invoke(call(fn, b"warm", "r-warm"))
        tasks = [asyncio.create_task(rt.invoke(call(fn, payload(n)[:size], f"r-{n}")))
                 for n, size in enumerate(sizes)]
        return await asyncio.gather(*tasks)

    outcomes = run(body, max_instances=1)
    assert [o.body for o in outcomes] == [payload(n)[:size] for n, size in enumerate(sizes)]
    assert begun == [f"r-{n}" for n in range(len(sizes))]


def test_frames_queued_behind_a_large_one_on_a_busy_instance_keep_their_order():
    """With ``instanceConcurrency`` above 1 a request comes while an earlier frame is still
    queued for the pipe: it is not started by the hand-off, and its frame follows."""
    fn = function("echo", timeout=30, instance_concurrency=4)
    sizes = [BIG, 10, BIG, 10, 10, BIG]

    async def body(rt):
        await rt.invoke(call(fn, b"warm", "r-warm"))
        tasks = [asyncio.create_task(rt.invoke(call(fn, payload(n)[:size], f"r-{n}")))
                 for n, size in enumerate(sizes)]
        return await asyncio.gather(*tasks)

    outcomes = run(body, max_instances=1)
    assert [o.kind for o in outcomes] == ["ok"] * len(sizes)
    assert [o.body for o in outcomes] == [payload(n)[:size] for n, size in enumerate(sizes)]
    assert len({o.instance_id for o in outcomes}) == 1
