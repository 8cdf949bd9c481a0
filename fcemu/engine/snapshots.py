"""Snapshots of the engine's state (issue 17): kept in memory by ID, written to files and
read back. A mixin of :class:`fcemu.engine.Engine`.

A snapshot (:meth:`SnapshotOperations.snapshot`) is :meth:`~fcemu.engine.state.
StateOperations.capture_state`'s data with a frozen copy of every code directory it
names, so it survives resets and restores, and a restore
(:meth:`SnapshotOperations.restore_snapshot`, through ``restore_state``) copies nothing on
disk. :meth:`SnapshotOperations.snapshot_file` and
:meth:`SnapshotOperations.import_snapshot` write a snapshot to bytes and read it back
(:mod:`fcemu.store.codec`: JSON, no pickle), code packages included as zips; an
in-process Python handler cannot go in a file.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu import code as codepkg
from fcemu.engine.state import FILE_TYPES, code_paths, repoint
from fcemu.errors import FcError, InvalidArgument
from fcemu.store import NotPortable, StateFileError, decode_state, encode_state
from fcemu.unpacking import unpack

if TYPE_CHECKING:
    from fcemu.settings import Settings

__all__ = ["SnapshotInfo", "SnapshotNotFound", "SnapshotOperations", "check_snapshot_id"]

#: Snapshot IDs: what a caller may name one.
SNAPSHOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SnapshotNotFound(FcError):
    """404: no snapshot has this ID; the message lists those there are."""

    status = 404
    code = "SnapshotNotFound"


@dataclass(frozen=True)
class SnapshotInfo:
    """What :meth:`SnapshotOperations.list_snapshots` tells of one snapshot."""

    snapshot_id: str
    #: The emulator time it was taken at (epoch ms).
    time_ms: int
    functions: int
    tasks: int
    queues: int


@dataclass
class _Snapshot:
    info: SnapshotInfo
    state: dict[str, Any]
    #: The frozen copies of its code directories (None: it names none).
    directory: Path | None
    #: Whether it is known to restore whole: taken here, or read from a file and restored
    #: once (a file's is tried on an engine of its own first: :meth:`_check_restorable`).
    checked: bool = True


class SnapshotOperations:
    """Take, keep, restore, write and read snapshots (see the module docstring)."""

    settings: Settings
    _make_runtimes: Any
    capture_state: Callable[[], dict[str, Any]]
    restore_state: Callable[[dict[str, Any]], Awaitable[None]]

    def _init_snapshots(self) -> None:
        """The snapshot shelf: kept across resets and restores (engine start only)."""
        self._snapshots: dict[str, _Snapshot] = {}
        self._snapshot_numbers = itertools.count(1)
        self._snapshot_root: Path | None = None


    def snapshot(self, snapshot_id: str | None = None) -> SnapshotInfo:
        """Take a snapshot of the whole state, kept under ``snapshot_id`` (a new
        ``snap-N`` when None; a snapshot of the same ID is replaced)."""
        if snapshot_id is None:
            snapshot_id = f"snap-{next(self._snapshot_numbers)}"
            while snapshot_id in self._snapshots:
                snapshot_id = f"snap-{next(self._snapshot_numbers)}"
        check_snapshot_id(snapshot_id)
        state = self.capture_state()
        directory = self._freeze_code(state, snapshot_id)
        return self._shelve(snapshot_id, state, directory)

    async def restore_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """Restore the snapshot of ``snapshot_id`` (:meth:`restore_state`); it stays
        kept, so it can be restored again."""
        found = self._snapshots.get(snapshot_id)
        if found is None:
            there = ", ".join(sorted(self._snapshots)) or "none"
            raise SnapshotNotFound(f"snapshot {snapshot_id!r} does not exist (snapshots: "
                                   f"{there}): take one with POST /_fcemu/snapshot")
        if not found.checked:
            await self._check_restorable(snapshot_id, found)
        await self.restore_state(found.state)
        return found.info

    async def _check_restorable(self, snapshot_id: str, found: _Snapshot) -> None:
        """Restore a snapshot read from a file on an engine of its own (in memory, a
        manual clock: nothing runs) before this one is touched: a file that decodes but
        holds something fcemu cannot load is refused whole (400, saying what is wrong) and
        forgotten, and this engine's state (and in durable mode its data directory) is
        left as it was, never half restored."""
        from fcemu.clock import ManualClock
        from fcemu.ids import IdGenerator

        state = found.state
        trial: Any = None
        try:
            seed = state["seed"]
            trial = type(self)(  # type: ignore[call-arg]
                self.settings.replace(data_dir=None, seed=seed, clock="manual"),
                ManualClock(int(state["clock"]["now_ms"])), IdGenerator(seed),
                runtimes=self._make_runtimes)
            await trial.restore_state(state)
        except FcError:
            self.delete_snapshot(snapshot_id)
            raise
        except Exception as exc:
            self.delete_snapshot(snapshot_id)
            raise InvalidArgument(f"snapshot {snapshot_id!r} cannot be restored: its file "
                                  f"is damaged ({_what(exc)}); nothing was changed"
                                  ) from None
        finally:
            if trial is not None:
                await trial.shutdown()
        found.checked = True

    def list_snapshots(self) -> list[SnapshotInfo]:
        """The snapshots kept, by ID."""
        return [self._snapshots[k].info for k in sorted(self._snapshots)]

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot and its frozen code (a missing one is not an error)."""
        found = self._snapshots.pop(snapshot_id, None)
        if found is not None and found.directory is not None:
            shutil.rmtree(found.directory, ignore_errors=True)

    def snapshot_file(self, snapshot_id: str) -> bytes:
        """The snapshot as a file (:mod:`fcemu.store.codec`), code packages as zips."""
        found = self._snapshots.get(snapshot_id)
        if found is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id!r} does not exist")
        packages: dict[str, bytes] = {}
        if found.directory is not None:
            for path in sorted((found.directory / "code").iterdir()):
                packages[str(path)] = codepkg.zip_code(path)
        try:
            return encode_state({"state": found.state, "packages": packages}, FILE_TYPES)
        except NotPortable as exc:
            raise InvalidArgument(f"snapshot {snapshot_id!r} cannot be written to a file: "
                                  f"{exc} (a function registered with a Python callable "
                                  "lives in this process only; restore it by ID)") from None

    def import_snapshot(self, data: bytes, snapshot_id: str | None = None) -> SnapshotInfo:
        """Keep the snapshot a file holds (:meth:`snapshot_file`) under ``snapshot_id``
        (else the next ``snap-N``); restore it with :meth:`restore_snapshot`."""
        try:
            document = decode_state(data, FILE_TYPES)
            state, packages = document["state"], document["packages"]
            if not isinstance(state, dict) or not isinstance(packages, dict):
                raise StateFileError("the snapshot file is damaged: no state in it")
        except StateFileError as exc:
            raise InvalidArgument(str(exc)) from None
        except (KeyError, TypeError) as exc:  # decoded, but not a snapshot's document
            raise InvalidArgument(f"the snapshot file is damaged ({_what(exc)})") from None
        if snapshot_id is None:
            snapshot_id = f"snap-{next(self._snapshot_numbers)}"
            while snapshot_id in self._snapshots:
                snapshot_id = f"snap-{next(self._snapshot_numbers)}"
        check_snapshot_id(snapshot_id)
        directory: Path | None = None
        moved: dict[Path, Path] = {}
        try:
            if packages:
                directory = self._new_snapshot_dir(snapshot_id)
                for i, (old, zipped) in enumerate(packages.items()):
                    dest = directory / "code" / f"{i}-{Path(old).name}"
                    unpack(zipped, dest)
                    codepkg.package_zip(dest).write_bytes(zipped)  # for GetFunctionCode
                    moved[Path(old)] = dest
            repoint(state, moved)
            info = self._shelve(snapshot_id, state, directory)
        except (AttributeError, LookupError, TypeError, ValueError) as exc:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
            raise InvalidArgument(f"the snapshot file is damaged ({_what(exc)})") from None
        self._snapshots[snapshot_id].checked = False
        return info

    # -- internals --------------------------------------------------------------------

    def _shelve(self, snapshot_id: str, state: dict[str, Any],
                directory: Path | None) -> SnapshotInfo:
        self.delete_snapshot(snapshot_id)
        info = SnapshotInfo(snapshot_id, int(state["clock"]["now_ms"]), len(state["functions"]),
                            len(state["tasks"]["tasks"]), len(state["smq"]["queues"]))
        self._snapshots[snapshot_id] = _Snapshot(info, state, directory)
        return info

    def _new_snapshot_dir(self, snapshot_id: str) -> Path:
        if self._snapshot_root is None:
            root = Path(tempfile.mkdtemp(prefix="fcemu-snapshots-", dir=self.settings.data_dir))
            weakref.finalize(self, shutil.rmtree, root, True)
            self._snapshot_root = root
        directory = Path(tempfile.mkdtemp(prefix=f"{snapshot_id}-", dir=self._snapshot_root))
        (directory / "code").mkdir()
        (directory / "code.zips").mkdir()
        return directory

    def _freeze_code(self, state: dict[str, Any], snapshot_id: str) -> Path | None:
        """Copy every code directory the state names (and its package zip, for
        GetFunctionCode) into the snapshot's own directory, and point the state there:
        deleting or updating a function later cannot take a snapshot's code away."""
        paths = sorted({p for p in code_paths(state) if p.is_dir()})
        if not paths:
            return None
        directory = self._new_snapshot_dir(snapshot_id)
        moved: dict[Path, Path] = {}
        for i, path in enumerate(paths):
            dest = directory / "code" / f"{i}-{path.name}"
            shutil.copytree(path, dest, symlinks=True)
            package = codepkg.package_zip(path)
            if package.is_file():
                shutil.copyfile(package, codepkg.package_zip(dest))
            moved[path] = dest
        repoint(state, moved)
        return directory


def _what(error: Exception) -> str:
    """An exception as a reader of an error message takes it: its type and text."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_snapshot_id(snapshot_id: str) -> str:
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID.match(snapshot_id):
        raise InvalidArgument(f"snapshot id {snapshot_id!r} is not valid: 1 to 64 letters, "
                              "digits, '_', '-' or '.', starting with a letter or digit")
    return snapshot_id
