"""The warm task path's shortcuts keep the behaviour of the longer way (issue 13).

``Invocation`` sets its fields in one call but stays the frozen dataclass it was;
``Runtimes.invoke`` hands back the chosen runtime's own coroutine (the runtime kept per
``runtime`` value) and still answers a closed or unsupported runtime; the pool's
``line_up``/``left`` (``acquire`` in two halves, as ``PooledRuntime`` awaits it) keep the
FIFO line, the cancellation and the hand-off; ``live`` is kept as instances come and go.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import Invocation, Outcome, Runtimes
from fcemu.runtime.invocation import LOCAL_CREDENTIALS, Credentials
from fcemu.runtime.pool import InstancePool
from tests.unit.test_runtime_pool import FakeInstance, function, turns


def test_an_invocation_is_still_a_frozen_dataclass_with_the_same_fields() -> None:
    fn = function("f")
    made = Invocation("r-1", fn, b"{}", "LATEST", "cn-hangzhou", "123")
    assert [f.name for f in dataclasses.fields(Invocation)] == [
        "request_id", "function", "payload", "qualifier", "region", "account_id",
        "credentials", "http_call"]
    assert (made.request_id, made.function, made.payload, made.qualifier, made.region,
            made.account_id, made.credentials, made.http_call) == (
        "r-1", fn, b"{}", "LATEST", "cn-hangzhou", "123", LOCAL_CREDENTIALS, None)
    assert made == Invocation("r-1", fn, b"{}", "LATEST", "cn-hangzhou", "123",
                              credentials=Credentials(), http_call=None)
    assert made != Invocation("r-2", fn, b"{}", "LATEST", "cn-hangzhou", "123")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.payload = b"x"  # type: ignore[misc]
    other = dataclasses.replace(made, qualifier="1")
    assert other.qualifier == "1" and other.request_id == "r-1" and made.qualifier == "LATEST"
    assert dataclasses.asdict(made)["payload"] == b"{}"
    assert repr(made).startswith("Invocation(request_id='r-1', function=Function(")
    assert vars(made) == {f.name: getattr(made, f.name) for f in dataclasses.fields(made)}


class _Counting:
    """A runtime that counts its invocations (what ``Runtimes`` would pick)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def invoke(self, invocation: Invocation) -> Outcome:
        self.seen.append(invocation.request_id)
        return Outcome("ok", b"done")

    async def stop(self, request_id: str) -> bool:
        return False

    async def discard(self, function_name: str) -> None:
        pass

    async def retire_version(self, function_name: str, version_id: str) -> None:
        pass

    async def close(self) -> None:
        pass


def test_runtimes_invoke_gives_the_runtime_coroutine_and_answers_closed_and_unsupported(
        ) -> None:
    async def body() -> tuple[Any, ...]:
        runtimes = Runtimes(IdGenerator(1), max_instances=1)
        counting = _Counting()
        runtimes._worker = counting  # type: ignore[assignment]  # what the first call makes
        fn = function("f")
        first = runtimes.invoke(Invocation("r-1", fn, b"", "LATEST", "cn", "1"))
        assert asyncio.iscoroutine(first) and counting.seen == []  # nothing ran yet
        outcomes = [await first,
                    await runtimes.invoke(Invocation("r-2", fn, b"", "LATEST", "cn", "1"))]
        odd = dataclasses.replace(fn, runtime="cobol")
        unsupported = await runtimes.invoke(Invocation("r-3", odd, b"", "LATEST", "cn", "1"))
        await runtimes.close()
        closed = await runtimes.invoke(Invocation("r-4", fn, b"", "LATEST", "cn", "1"))
        return counting.seen, outcomes, unsupported, closed

    seen, outcomes, unsupported, closed = asyncio.run(body())
    assert seen == ["r-1", "r-2"] and [o.body for o in outcomes] == [b"done", b"done"]
    assert unsupported.kind == "error" and b"RuntimeNotSupported" in unsupported.body
    assert closed.kind == "error" and b"RuntimeClosed" in closed.body


def _make(made: list[FakeInstance]) -> Any:
    def make(fn: Function, key: object) -> FakeInstance:
        instance = FakeInstance(fn, key, len(made) + 1)
        made.append(instance)
        return instance

    return make


def test_line_up_serves_in_order_and_left_gives_a_place_back() -> None:
    async def body() -> tuple[Any, ...]:
        pool = InstancePool(1)
        made: list[FakeInstance] = []
        fn = function("f")
        first = pool.line_up(fn, "f", _make(made))
        assert first is not None
        instance = await first.future
        cancelled = pool.line_up(fn, "f", _make(made))
        behind = pool.line_up(fn, "f", _make(made))
        assert cancelled is not None and behind is not None
        await turns()
        waiting = (cancelled.future.done(), behind.future.done())
        cancelled.future.cancel()
        pool.left(cancelled)  # as the awaiting caller does when cancelled
        pool.release(instance)
        handed = await behind.future
        lines = dict(pool._by_key)
        pool.release(handed)
        await pool.close()
        late = pool.line_up(fn, "f", _make(made))
        return waiting, handed is instance, lines, len(made), late, pool.live

    waiting, same, lines, made, late, live = asyncio.run(body())
    assert waiting == (False, False) and same and lines == {} and made == 1
    assert late is None and live == 0


def test_left_gives_back_an_instance_handed_just_as_the_caller_was_cancelled() -> None:
    async def body() -> tuple[Any, ...]:
        pool = InstancePool(1)
        made: list[FakeInstance] = []
        fn = function("f")
        first = pool.line_up(fn, "f", _make(made))
        assert first is not None
        instance = await first.future
        second = pool.line_up(fn, "f", _make(made))
        third = pool.line_up(fn, "f", _make(made))
        assert second is not None and third is not None
        pool.release(instance)  # handed to the second, whose caller is cancelled before it wakes
        handed = second.future.result()
        pool.left(second)
        got = await third.future
        pool.release(got)
        await pool.close()
        return handed is instance, got is instance, len(made)

    assert asyncio.run(body()) == (True, True, 1)


def test_the_hand_off_starts_a_lined_up_request_with_its_own_request_object() -> None:
    async def body() -> tuple[Any, ...]:
        pool = InstancePool(1)
        made: list[FakeInstance] = []
        fn = function("f")
        first = pool.line_up(fn, "f", _make(made))
        assert first is not None
        instance = await first.future
        started: list[tuple[Any, ...]] = []

        def start(on: Any, request: Any, reply: asyncio.Future[Any]) -> bool:
            started.append((on, request))
            reply.set_result({"answer": request})
            return True

        waiter = pool.line_up(fn, "f", _make(made), start, "the request")
        assert waiter is not None
        pool.release(instance)
        reply = await waiter.future
        result = (started == [(instance, "the request")], waiter.started is instance, reply,
                  instance.active)
        pool.release(instance)
        await pool.close()
        return result

    assert asyncio.run(body()) == (True, True, {"answer": "the request"}, 1)


def test_live_counts_instances_until_they_are_reaped() -> None:
    async def body() -> list[int]:
        pool = InstancePool(2)
        made: list[FakeInstance] = []
        counts = [pool.live]
        waiters = [pool.line_up(function(name), name, _make(made)) for name in ("f", "g")]
        instances = [await w.future for w in waiters if w is not None]
        counts.append(pool.live)
        made[0].release_kill.clear()
        pool.retire(instances[0])  # being killed: still counted
        counts.append(pool.live)
        made[0].release_kill.set()
        await pool.reaped()
        counts.append(pool.live)
        for instance in instances[1:]:
            pool.release(instance)
        await pool.close()
        counts.append(pool.live)
        return counts

    assert asyncio.run(body()) == [0, 2, 2, 1, 0]
