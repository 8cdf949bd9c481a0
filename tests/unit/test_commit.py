"""A batch's :class:`~fcemu.engine.committer.Commit`: what the express lane's held answers
wait on in durable mode (issue 17). Its callbacks run once the batch is committed or
failed, in the order added, and a change made while a batch is written gets the next
batch's. A store whose writes wait for the test's go-ahead; no wall-clock wait.
"""

from __future__ import annotations

import asyncio
import marshal
from typing import Any

from fcemu.engine.committer import Commit, StoreFailed
from tests.held_store import HeldStore, held_committer


async def _until(done: asyncio.Future[None]) -> None:
    await asyncio.wait_for(done, 30)


def _noting(seen: list[Any], name: str, settled: asyncio.Future[None] | None = None
            ) -> Any:
    def callback(commit: Commit) -> None:
        seen.append((name, commit.done(), commit.exception()))
        if settled is not None and not settled.done():
            settled.set_result(None)
    return callback


def test_a_batchs_held_answers_share_its_commit_and_run_in_order_once_written() -> None:
    store = HeldStore()
    committer = held_committer(store)

    async def main() -> None:
        assert committer.commit() is None  # nothing pending
        committer.touched(False)
        first = committer.commit()
        assert first is not None and committer.commit() is first and not first.done()
        seen: list[Any] = []
        written = asyncio.get_running_loop().create_future()
        first.add_done_callback(_noting(seen, "a"))
        first.add_done_callback(_noting(seen, "b", written))
        for _ in range(3):  # the batch is being written (held)
            await asyncio.sleep(0)
        assert committer.commit() is first  # nothing new: the batch being written
        committer.touched(False)  # a change made meanwhile: the next batch
        second = committer.commit()
        assert second is not None and second is not first
        second.add_done_callback(_noting(seen, "c"))
        assert seen == []
        store.allowed.release()
        await _until(written)
        assert seen == [("a", True, None), ("b", True, None)]
        assert not first.cancelled() and not second.done()
        later = asyncio.get_running_loop().create_future()
        second.add_done_callback(_noting(seen, "d", later))
        store.allowed.release()
        await _until(later)
        assert seen[2:] == [("c", True, None), ("d", True, None)]
        assert [marshal.loads(b.counters or b"") for b in store.written] == [0, 1]
        assert committer.commit() is None
        again = asyncio.get_running_loop().create_future()
        second.add_done_callback(_noting(seen, "e", again))  # settled: the next turn
        assert seen[4:] == []
        await _until(again)
        assert seen[4:] == [("e", True, None)]

    try:
        asyncio.run(main())
    finally:
        committer.close()


def test_a_failed_batch_settles_its_commit_with_the_error_and_the_next_is_written() -> None:
    store = HeldStore(fail=OSError("No space left on device"))
    committer = held_committer(store)

    async def main() -> None:
        committer.touched(False)
        failed = committer.commit()
        assert failed is not None
        seen: list[Any] = []
        settled = asyncio.get_running_loop().create_future()
        failed.add_done_callback(_noting(seen, "a", settled))
        store.allowed.release()
        await _until(settled)
        ((_, done, error),) = seen
        assert done and isinstance(error, StoreFailed) and error.status == 503
        assert "No space left on device" in str(error)
        committer.touched(False)
        nxt = committer.commit()
        assert nxt is not None and nxt is not failed
        written = asyncio.get_running_loop().create_future()
        nxt.add_done_callback(_noting(seen, "b", written))
        store.allowed.release()
        await _until(written)
        assert seen[1] == ("b", True, None) and len(store.written) == 1

    try:
        asyncio.run(main())
    finally:
        committer.close()


def test_a_callback_that_raises_is_reported_and_the_others_still_run() -> None:
    store = HeldStore()
    committer = held_committer(store)
    reported: list[dict[str, Any]] = []

    def broken(commit: Commit) -> None:
        raise RuntimeError("a broken callback")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, c: reported.append(c))
        committer.touched(False)
        commit = committer.commit()
        assert commit is not None
        seen: list[Any] = []
        written = asyncio.get_running_loop().create_future()
        commit.add_done_callback(broken)
        commit.add_done_callback(_noting(seen, "after", written))
        store.allowed.release()
        await _until(written)
        assert seen == [("after", True, None)]
        ((context,),) = [reported]
        assert isinstance(context["exception"], RuntimeError)

    try:
        asyncio.run(main())
    finally:
        committer.close()
