"""The Python API's snapshots: take, restore, list, save to a file and load one.

A mixin of :class:`fcemu.server.Emulator`; each method is one engine call on the
emulator loop (:mod:`fcemu.engine.snapshots`). ``emu.snapshot()`` returns the snapshot's
ID; ``emu.restore(snap)`` takes that ID, or the bytes or the path of a snapshot file
(:meth:`save_snapshot`). A restore puts the whole emulator back: functions, configs,
tasks with their timers, queues and messages, the clock and the ID streams (the next IDs
are those that came after the snapshot was taken).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from fcemu.engine import Engine, SnapshotInfo

T = TypeVar("T")

__all__ = ["EmulatorSnapshots"]


class EmulatorSnapshots:
    """Snapshots from Python (see the module docstring)."""

    def call(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = 600.0) -> T:
        raise NotImplementedError

    def snapshot(self, snapshot_id: str | None = None) -> str:
        """Snapshot the whole state now; returns its ID (``snapshot_id``, else ``snap-N``).
        Taking one under an existing ID replaces that snapshot."""

        async def take(engine: Engine) -> str:
            return engine.snapshot(snapshot_id).snapshot_id

        return self.call(take)

    def restore(self, snap: str | bytes | os.PathLike[str]) -> None:
        """Restore a snapshot: its ID (a ``str``), a snapshot file's bytes, or a path to
        one (``os.PathLike``). Every handler instance and running execution ends first,
        as at a reset."""
        if isinstance(snap, os.PathLike):
            snap = Path(snap).read_bytes()

        async def restore(engine: Engine) -> None:
            snapshot_id = (snap if isinstance(snap, str)
                           else engine.import_snapshot(snap).snapshot_id)
            await engine.restore_snapshot(snapshot_id)

        self.call(restore)

    def snapshots(self) -> list[SnapshotInfo]:
        """The snapshots kept, by ID."""

        async def listing(engine: Engine) -> list[SnapshotInfo]:
            return engine.list_snapshots()

        return self.call(listing)

    def save_snapshot(self, snapshot_id: str, path: str | os.PathLike[str] | None = None
                      ) -> bytes:
        """A snapshot as a file's bytes (written to ``path`` too when given), to restore
        in another emulator: ``emu.restore(Path("state.fcemu"))``."""

        async def save(engine: Engine) -> bytes:
            return engine.snapshot_file(snapshot_id)

        data = self.call(save)
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot."""

        async def delete(engine: Engine) -> None:
            engine.delete_snapshot(snapshot_id)

        self.call(delete)
