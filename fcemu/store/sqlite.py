"""The durable store of ``--data-dir DIR``: one SQLite database, ``DIR/fcemu.db``.

Stdlib :mod:`sqlite3` in WAL mode. Three tables: ``meta`` (the schema version, and two
blobs: the emulator's small records and its counters), ``tasks`` (one row per task record)
and ``messages`` (one row per live SMQ message). A :class:`Batch` is written in one
transaction: a task's terminal state and the result message it pushed are always in the
same batch (they change in the same loop turn), so a crash keeps both or neither.

Durability: ``strict`` (the default) commits with ``synchronous=FULL``: each commit is on
disk (fsync) before it returns, so a committed change survives a process kill and a
power loss. ``relaxed`` uses ``synchronous=NORMAL``: in WAL mode a commit is written to
the log but synced only at checkpoints, so it survives the process being killed (the
operating system still holds the write) but not a power loss or an OS crash.

The schema has a version (:data:`SCHEMA_VERSION`, in ``meta``). Older ones are
migrated when opened (their version is set to the current one; their rows are read as
they are): version 1 kept the ID generator's full state in the counters, 3 KB a stream
(version 2 writes each stream's position, :meth:`fcemu.ids.IdGenerator.position`, and
reads both); version 2's task rows end before a task's HTTP call (version 3 adds it as
the last field, :func:`fcemu.taskstate.task_from_state` reads both); version 4's message
rows of a message with properties end with them (one field more; a message without
properties has version 3's row, :func:`fcemu.smq.messages.message_from_state` reads
both), so version 3 migrates as it is, and the version written keeps an older fcemu from
reading properties as something else. A database of another version is refused with a
message saying what to do. Row values are
:mod:`marshal` data of plain values (the state tuples of :mod:`fcemu.taskstate` and
:mod:`fcemu.smq.messages`): fast, and the file is the emulator's own (snapshot files,
which may come from anywhere, use :mod:`fcemu.store.codec` instead).
"""

from __future__ import annotations

import marshal
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DB_NAME", "SCHEMA_VERSION", "Batch", "SqliteStore", "StoreError", "Stored"]

SCHEMA_VERSION = 4
#: Older versions this one reads, migrated when opened (their rows are read as they are).
_MIGRATED = frozenset({1, 2, 3})
DB_NAME = "fcemu.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (key TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


class StoreError(Exception):
    """A data directory fcemu cannot use; the message says why and what to do."""


@dataclass
class Batch:
    """Changes written in one transaction. ``full``: the state was replaced (start, reset,
    restore): every row goes before these are written. Task and message rows are
    ``(key, value)`` with the value as plain data, which :meth:`SqliteStore.write`
    turns into :mod:`marshal` data (in the writer process: not the server's work)."""

    full: bool = False
    records: bytes | None = None
    counters: bytes | None = None
    tasks: list[tuple[str, Any]] = field(default_factory=list)
    messages: list[tuple[str, Any]] = field(default_factory=list)
    message_deletes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.full or self.records is not None or self.counters is not None
                    or self.tasks or self.messages or self.message_deletes)


@dataclass
class Stored:
    """What a data directory holds: the two blobs, then every task and message row."""

    records: bytes
    counters: Any
    tasks: list[Any]
    messages: list[tuple[str, Any]]


class SqliteStore:
    """One data directory's database (see the module docstring). Its methods block: call
    :meth:`write` from one worker thread at a time."""

    def __init__(self, directory: Path, *, relaxed: bool = False) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self.relaxed = relaxed
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None,
                                       cached_statements=512)  # one per row count
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'NORMAL' if relaxed else 'FULL'}")
            self._check_schema()
        except sqlite3.OperationalError as exc:  # cannot open, read or write it
            raise StoreError(f"cannot open {self.path} for reading and writing ({exc})"
                             f"{_access_hint(directory, self.path)}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an fcemu data directory's database "
                             f"({exc}): start with another --data-dir, or move that file "
                             "away") from None
        except OSError as exc:
            raise StoreError(f"cannot use --data-dir {directory}: {exc.strerror or exc}"
                             ) from None

    @staticmethod
    def exists(directory: Path) -> bool:
        """Whether ``directory`` holds a database already."""
        return (directory / DB_NAME).is_file()

    def _check_schema(self) -> None:
        tables = {row[0] for row in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION).encode(),))
            return
        if "meta" not in tables:
            raise StoreError(f"{self.path} holds tables that are not fcemu's: start with "
                             "another --data-dir, or move that file away")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version: int | str | None = int(row[0]) if row is not None else None
        except (TypeError, ValueError):
            version = repr(row[0])  # not a version fcemu writes: refused below
        if version in _MIGRATED:
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                             (str(SCHEMA_VERSION).encode(),))
            return
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, and this fcemu reads version "
                f"{SCHEMA_VERSION} (and migrates {', '.join(map(str, sorted(_MIGRATED)))}) "
                "only: use the fcemu that wrote it, or start with another "
                "--data-dir (nothing was changed)")

    def load(self) -> Stored | None:
        """Everything stored, or None when nothing was ever written."""
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if "records" not in meta:
            return None
        what = "the counters"
        try:
            counters = marshal.loads(meta["counters"])
            what = "a task row"
            tasks = [marshal.loads(row[0]) for row in self._db.execute(
                "SELECT data FROM tasks")]
            what = "a message row"
            messages = [(key.partition("/")[0], marshal.loads(data)) for key, data
                        in self._db.execute("SELECT key, data FROM messages")]
        except (EOFError, LookupError, TypeError, ValueError) as exc:
            raise self.damaged(f"{what} cannot be read: {exc or type(exc).__name__}"
                               ) from None
        return Stored(meta["records"], counters, tasks, messages)

    def damaged(self, what: str) -> StoreError:
        """The error of a database whose content fcemu cannot read (``what``: why)."""
        return StoreError(f"{self.path} is damaged ({what}): fcemu cannot resume from it; "
                          "start with another --data-dir, or move that directory away "
                          "(nothing was changed)")

    def write(self, batch: Batch) -> None:
        """Write one batch in one transaction (committed, and with ``strict`` synced,
        when this returns).

        Each table's rows go in one multi-row statement (up to :data:`_CHUNK` rows): the
        sqlite3 module gives the GIL back around every statement step and takes it again
        after, and on this thread, beside a busy event loop, each take waits for the loop
        to let the GIL go; a row per step made a batch of k tasks wait k + 3 times, now 4
        (BEGIN, meta, tasks, COMMIT)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if batch.full:
                db.execute("DELETE FROM tasks")
                db.execute("DELETE FROM messages")
            meta = [(key, value) for key, value in (("records", batch.records),
                                                     ("counters", batch.counters))
                    if value is not None]
            _insert(db, "meta", meta)
            _insert(db, "tasks", _encoded(batch.tasks))
            deletes = batch.message_deletes
            for start in range(0, len(deletes), _CHUNK):
                chunk = deletes[start:start + _CHUNK]
                db.execute("DELETE FROM messages WHERE key IN "
                           f"({','.join('?' * len(chunk))})", chunk)
            _insert(db, "messages", _encoded(batch.messages))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()


def _access_hint(directory: Path, path: Path) -> str:
    """Why SQLite may not open a database: what this user may not do there."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return (f": this user may not write in {directory} (permissions, or a read-only "
                "file system), and SQLite writes its log there; give it write access, or "
                "start with another --data-dir")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (f": this user may not read and write {path} (permissions); give it "
                "access, or start with another --data-dir")
    return ": check the permissions and free space of --data-dir"


#: Rows per statement: 2 parameters a row, under the 999 parameters of old SQLite builds.
_CHUNK = 499


def _encoded(rows: list[tuple[str, Any]]) -> list[tuple[str, bytes]]:
    dumps = marshal.dumps
    return [(key, dumps(value)) for key, value in rows]


def _insert(db: sqlite3.Connection, table: str, rows: list[tuple[str, bytes]]) -> None:
    """``INSERT OR REPLACE`` of ``(key, value)`` rows, :data:`_CHUNK` per statement."""
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        db.execute(f"INSERT OR REPLACE INTO {table} VALUES {','.join(['(?,?)'] * len(chunk))}",
                   [value for row in chunk for value in row])
