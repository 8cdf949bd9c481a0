"""The SQLite store of durable mode on its own: what a batch writes is what a load reads."""

from __future__ import annotations

import marshal
from pathlib import Path

from fcemu.store.sqlite import _CHUNK, Batch, SqliteStore, StoreError
from fcemu.store.writer import WriterProcess


def _rows(prefix: str, n: int, value: str) -> list[tuple[str, tuple[str, int]]]:
    return [(f"{prefix}/{i}", (value, i)) for i in range(n)]


def test_batches_of_every_size_replace_and_delete_rows(tmp_path: Path) -> None:
    """Rows go in multi-row statements of at most _CHUNK rows: a batch of more rows than
    that, of exactly that many, of one, and deletes of more than a chunk."""
    store = SqliteStore(tmp_path)
    many = 2 * _CHUNK + 3
    store.write(Batch(full=True, records=b"r1", counters=marshal.dumps({"n": 1}),
                      tasks=_rows("f", many, "first"), messages=_rows("q", many, "m")))
    store.write(Batch(counters=marshal.dumps({"n": 2}), tasks=_rows("f", _CHUNK, "second")))
    store.write(Batch(tasks=[("f/7", ("third", 7))],
                      message_deletes=[f"q/{i}" for i in range(_CHUNK + 2)]))
    stored = store.load()
    store.close()
    assert stored is not None
    assert (stored.records, stored.counters) == (b"r1", {"n": 2})
    expected = {i: "second" if i < _CHUNK else "first" for i in range(many)}
    expected[7] = "third"
    assert dict((i, value) for value, i in stored.tasks) == expected
    assert sorted(i for _, (_, i) in stored.messages) == list(range(_CHUNK + 2, many))
    assert {name for name, _ in stored.messages} == {"q"}


def test_a_full_batch_replaces_every_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, relaxed=True)
    store.write(Batch(full=True, records=b"r", counters=marshal.dumps(0),
                      tasks=_rows("f", 5, "old"), messages=_rows("q", 5, "old")))
    store.write(Batch(full=True, records=b"r", counters=marshal.dumps(0),
                      tasks=_rows("g", 2, "new")))
    stored = store.load()
    store.close()
    assert stored is not None
    assert sorted(stored.tasks) == [("new", 0), ("new", 1)]
    assert stored.messages == []


def test_a_row_marshal_cannot_write_fails_its_batch_at_once(tmp_path: Path) -> None:
    """Rows are plain data the writer encodes: one that is not (an emulator bug) fails
    its batch when sent, with no writer process started, and the store is left as it was."""
    writer = WriterProcess(tmp_path, relaxed=False)
    outcomes: list[BaseException | None] = []
    writer.submit(Batch(tasks=[("f/1", (object(),))]), outcomes.append)
    ((error,),) = [outcomes]
    assert isinstance(error, StoreError) and "could not be encoded" in str(error)
    assert writer.pid is None
    writer.close()
