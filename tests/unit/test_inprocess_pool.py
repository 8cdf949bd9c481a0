"""The in-process runtime's thread pool and stop flag (fcemu.runtime.inprocess, issue 13):
a burst beyond the pool's threads is queued and every handler runs, on no more threads
than the pool has; ``context.stop_requested`` is a working ``threading.Event``."""

from __future__ import annotations

import threading

from fcemu.runtime.inprocess import _Executor, _StopFlag


def test_a_burst_beyond_the_threads_is_queued_and_every_handler_runs() -> None:
    pool = _Executor(2, thread_name_prefix="fcemu-test")
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


def test_the_stop_flag_is_an_event_another_thread_waits_on() -> None:
    flag = _StopFlag()
    assert isinstance(flag, threading.Event) and not flag.is_set()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(flag.wait(10)))
    waiter.start()
    flag.set()
    waiter.join(10)
    assert woke == [True] and flag.is_set()
    flag.clear()
    assert not flag.wait(0)
