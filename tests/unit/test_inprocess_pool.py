"""The in-process runtime's thread pool and stop flag (fcemu.runtime.inprocess_threads,
issue 13): a burst beyond the pool's threads is queued and every handler runs, on no more
threads than the pool has; a job comes back to the loop with its value or exception, and
one given up on is dropped; ``context.stop_requested`` is a working ``threading.Event``."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

from fcemu.runtime.inprocess_threads import Executor, Handoff, Job, StopFlag


def test_a_burst_beyond_the_threads_is_queued_and_every_handler_runs() -> None:
    pool = Executor(2, thread_name_prefix="fcemu-test")
    gate = threading.Event()

    def held(i: int) -> int:
        gate.wait(10)
        return i

    def double(i: int) -> int:
        return i * 2

    try:
        futures = [pool.submit(held, i) for i in range(7)]
        assert len(pool._threads) == 2  # the rest wait in the queue, no thread each
        gate.set()
        assert [f.result(timeout=10) for f in futures] == list(range(7))
        again = [pool.submit(double, i) for i in range(5)]  # threads idle: reused
        assert [f.result(timeout=10) for f in again] == [0, 2, 4, 6, 8]
        assert len(pool._threads) == 2
    finally:
        gate.set()
        pool.shutdown(wait=True)


class _Owner:
    """What a job tells when it is back on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.back = loop.create_future()

    def awake(self) -> None:
        if not self.back.done():
            self.back.set_result(None)


def test_jobs_beyond_the_threads_come_back_with_their_values_and_errors() -> None:
    async def go() -> list[Any]:
        pool = Executor(2, thread_name_prefix="fcemu-test")
        loop = asyncio.get_running_loop()
        handoff = Handoff(loop)
        gate = threading.Event()

        def held(i: int, context: object) -> int:
            gate.wait(10)
            if i == 3:
                raise KeyError(i)
            return i * 10

        try:
            owners = [_Owner(loop) for _ in range(6)]
            jobs = [Job(held, i, None, contextvars.copy_context(), handoff, owner)  # type: ignore[arg-type]
                    for i, owner in enumerate(owners)]
            for job in jobs:
                pool.run_soon(job)
            assert len(pool._threads) == 2 and not any(job.done() for job in jobs)
            gate.set()
            await asyncio.wait_for(asyncio.gather(*(o.back for o in owners)), 10)
            assert all(job.settled and job.done() for job in jobs)
            assert isinstance(jobs[3].error, KeyError)
            return [job.value for job in jobs]
        finally:
            gate.set()
            pool.shutdown(wait=True)

    assert asyncio.run(go()) == [0, 10, 20, None, 40, 50]


def test_a_job_given_up_on_is_dropped_when_it_comes_back() -> None:
    async def go() -> Job:
        pool = Executor(1, thread_name_prefix="fcemu-test")
        loop = asyncio.get_running_loop()
        gate = threading.Event()
        owner = _Owner(loop)
        job = Job(lambda payload, context: gate.wait(10), b"", None,
                  contextvars.copy_context(), Handoff(loop), owner)
        try:
            pool.run_soon(job)
            assert job.cancel() and job.done() and not job.settled
            gate.set()
            await asyncio.wait_for(owner.back, 10)  # still told: its execution's wake-up
            assert not job.cancel()  # already given up on: nothing more to drop
            assert job.done() and not job.settled
            return job
        finally:
            gate.set()
            pool.shutdown(wait=True)

    job = asyncio.run(go())
    assert job.dropped


def test_a_shutdown_drops_the_queued_jobs_and_refuses_new_ones() -> None:
    pool = Executor(1, thread_name_prefix="fcemu-test")
    gate, ran = threading.Event(), []

    class Loop:
        def call_soon_threadsafe(self, callback: Any) -> None:
            raise RuntimeError("Event loop is closed")  # nobody left: the result is dropped

    def note(payload: bytes, context: object) -> None:
        gate.wait(10)
        ran.append(payload)

    handoff = Handoff(Loop())  # type: ignore[arg-type]
    jobs = [Job(note, bytes([i]), None, contextvars.copy_context(), handoff, None)
            for i in range(3)]
    for job in jobs:
        pool.run_soon(job)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    for thread in list(pool._threads):
        thread.join(10)
    assert ran == [b"\0"]  # the running one ends; the queued ones were dropped
    assert jobs[1].dropped and jobs[2].dropped
    try:
        pool.run_soon(jobs[0])
    except RuntimeError:
        pass
    else:
        raise AssertionError("a pool that is shut down took a job")


def test_the_stop_flag_builds_its_condition_only_when_used() -> None:
    flag = StopFlag()
    assert not flag.is_set() and "_cond" not in flag.__dict__
    flag.set()
    assert flag.is_set() and isinstance(flag.__dict__["_cond"], threading.Condition)
