"""A durable committer whose store writes one batch per go-ahead of the test (the committer's
group commit, held still: tests/unit/test_durable.py, tests/unit/test_commit.py)."""

from __future__ import annotations

import marshal
import threading
from pathlib import Path
from typing import Any, cast

from fcemu.engine.committer import Committer
from fcemu.store.sqlite import Batch


class HeldStore:
    """A store whose writes wait for the test's go-ahead, one batch per release."""

    path = Path("held.db")

    def __init__(self, fail: Exception | None = None) -> None:
        self.allowed = threading.Semaphore(0)
        self.written: list[Batch] = []
        self.fail = fail

    def write(self, batch: Batch) -> None:
        assert self.allowed.acquire(timeout=30)
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.written.append(batch)

    def close(self) -> None:
        pass


def held_committer(store: HeldStore) -> Committer:
    committer = Committer(cast(Any, None), cast(Any, store))
    changes = iter(range(1 << 30))
    committer._collect = lambda: Batch(counters=marshal.dumps(next(changes)))  # type: ignore[method-assign]
    committer.paused = False
    return committer
