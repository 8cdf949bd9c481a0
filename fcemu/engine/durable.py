"""Durable mode (``--data-dir DIR``): every change committed to SQLite before its answer.

A mixin of :class:`fcemu.engine.Engine`, driving a :class:`~fcemu.engine.committer.
Committer`. The parts say what changed through small hooks that cost nothing when durable
mode is off: the task life cycle's observer (every status change of a task), the SMQ
account's ``on_change`` (a message sent, received, hidden, deleted or expired; a queue or
topic created, deleted or published to), and the front doors (an HTTP request or a Python
API call that may have changed the engine's own records: functions, configs, versions,
triggers, layers). The committer gathers what changed into one batch per loop turn,
written in one transaction by the store's writer process
(:class:`~fcemu.store.writer.WriterProcess`: no GIL shared with the loop); meanwhile the
next changes gather into the next batch (group commit: a burst of concurrent submits
shares one fsync). An answer goes out only once the batch holding its change is
committed (:meth:`DurableOperations.committed`). A task's terminal state and the result
message it pushed change in the same loop turn, so they are in the same transaction: the
outbox is never lost or doubled.

At start, a DIR that holds a database is loaded through :meth:`StateOperations.
restore_state` (the snapshot restore): waiting tasks get their timers back, a task that
was Running counts that attempt as an instance crash and follows its retry policy,
received messages stay hidden until their visibility timeout ends, a manual clock
continues where it stood and a real one at wall time. Code packages are kept under
``DIR/packages`` (frozen copies, like a snapshot's). A function registered with a Python
callable lives in its process only and is not stored.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fcemu import code as codepkg
from fcemu.engine.committer import Commit, Committer, StoreFailed
from fcemu.engine.state import FILE_TYPES, STATE_VERSION, code_paths
from fcemu.models import TASK_RETENTION_MS, Task, TaskEvent, TaskStatus
from fcemu.store import StateFileError, decode_state
from fcemu.store.lock import DirectoryLock
from fcemu.store.sqlite import SqliteStore, Stored
from fcemu.store.writer import WriterProcess
from fcemu.taskstate import TASK_STATE_FIELDS

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.code import CodeStore
    from fcemu.destinations import Delivery
    from fcemu.ids import IdGenerator
    from fcemu.settings import Settings
    from fcemu.smq import Smq
    from fcemu.tasks import AsyncTasks, TaskObserver
    from fcemu.tasks.events import ChangeObserver

__all__ = ["Commit", "Committer", "DurableOperations", "StoreFailed"]


class _Observer:
    """The task observer in durable mode: the engine's own, then the committer. It takes a
    change by its fields (``ChangeObserver``: issue 13, no TaskEvent made for it) and
    passes it on as the engine's takes it; an attempt's Processed and Running at once
    while the engine's does (:attr:`started`)."""

    __slots__ = ("_changes", "committer", "inner")

    def __init__(self, inner: TaskObserver | None, committer: Committer) -> None:
        self.inner, self.committer = inner, committer
        #: The engine's observer when it takes a change by its fields.
        self._changes = cast("ChangeObserver", inner) if hasattr(inner, "changed") else None

    def event(self, task: Task, event: TaskEvent, previous: TaskStatus) -> None:
        if self.inner is not None:
            self.inner.event(task, event, previous)
        self.committer.task_changed(task)

    def changed(self, task: Task, event_id: int, status: TaskStatus, at: int, detail: str,
                previous: TaskStatus) -> None:
        changes = self._changes
        if changes is not None:
            changes.changed(task, event_id, status, at, detail, previous)
        elif self.inner is not None:
            self.inner.event(task, TaskEvent(event_id, status, at, detail), previous)
        self.committer.task_changed(task)

    @property
    def started(self) -> Callable[[Task, int, int], None] | None:
        """:meth:`_started` while the engine's observer takes the two events at once (no
        event listener registered); None else (each event is told on its own)."""
        changes = self._changes
        return None if changes is None or changes.started is None else self._started

    def _started(self, task: Task, event_id: int, at: int) -> None:
        changes = self._changes
        assert changes is not None and changes.started is not None  # (started's check)
        changes.started(task, event_id, at)
        self.committer.task_changed(task)

    def enqueued(self, task: Task) -> None:
        if self.inner is not None:
            self.inner.enqueued(task)
        self.committer.task_changed(task)

    def throttled(self, function_name: str, qualifier: str) -> None:
        if self.inner is not None:
            self.inner.throttled(function_name, qualifier)

    def loaded(self, tasks: list[Task]) -> None:
        """A state load's tasks, for the engine's observer (they are stored already)."""
        loaded = getattr(self.inner, "loaded", None)
        if loaded is not None:
            loaded(tasks)


class DurableOperations:
    """The engine's side of durable mode (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    ids: IdGenerator
    tasks: AsyncTasks
    code: CodeStore
    delivery: Delivery
    _smq: Smq

    capture_records: Callable[[], dict[str, Any]]
    restore_state: Callable[[dict[str, Any]], Awaitable[None]]

    def _init_store(self) -> None:
        """No store until :meth:`load_store` or :meth:`start_store` (engine start only);
        the data directory is made now (code is unpacked there from the start)."""
        self._committer: Committer | None = None
        #: The data directory's lock (:mod:`fcemu.store.lock`), held until shutdown and
        #: taken before anything in the directory is touched: one server per directory.
        self._dir_lock: DirectoryLock | None = None
        directory = self.settings.data_dir
        if directory is not None:
            self._dir_lock = DirectoryLock.take(directory)

    @property
    def durable(self) -> bool:
        """Whether state is kept in a data directory (``--data-dir``)."""
        return self._committer is not None

    async def load_store(self) -> bool:
        """Load the state of ``settings.data_dir`` when it holds a database; False when
        there is none (nothing is created yet) or durable mode is off. A database this
        fcemu cannot read raises :class:`~fcemu.store.sqlite.StoreError`."""
        directory = self.settings.data_dir
        if directory is None or not SqliteStore.exists(directory):
            return False
        store = SqliteStore(directory, relaxed=self.settings.durability == "relaxed")
        try:
            stored = store.load()
        finally:
            store.close()  # from now on the writer process writes (fcemu.store.writer)
        self._committer = Committer(self, store, WriterProcess(directory,
                                                               relaxed=store.relaxed))
        if stored is None:
            return False
        try:
            state = self._state_of(stored)
        except (AttributeError, LookupError, TypeError, ValueError) as exc:  # StateFileError too
            why = ("its records are not in fcemu's encoding" if isinstance(exc, StateFileError)
                   else repr(exc))
            raise store.damaged(f"its state cannot be loaded: {why}") from None
        self._committer.packages = {p: p for p in code_paths(state)}
        _remove_unused(directory, set(self._committer.packages), self.code.root)
        try:
            await self.restore_state(state)  # its _build attaches the store (_attach_store)
        except (AttributeError, LookupError, TypeError, ValueError) as exc:
            raise store.damaged(f"its state cannot be loaded: {exc!r}") from None
        self.ids.next_epoch()  # the IDs answers drew without a commit are not drawn again
        return True

    def start_store(self) -> None:
        """Durable mode from now on (creating the database if needed): the whole state is
        written now, then every change."""
        directory = self.settings.data_dir
        if directory is None:
            return
        if self._committer is None:
            store = SqliteStore(directory, relaxed=self.settings.durability == "relaxed")
            store.close()  # made and checked here; the writer process writes
            self._committer = Committer(self, store, WriterProcess(directory,
                                                                   relaxed=store.relaxed))
        self._attach_store()

    def _attach_store(self) -> None:
        """Hook the parts just built (from ``_build``) to the committer."""
        committer = self._committer
        if committer is None:
            return
        self.tasks.observer = _Observer(self.tasks.observer, committer)
        self._smq.on_change = committer.smq_changed
        self.delivery.on_eventbus = committer.records_changed
        committer.replaced()

    async def _pause_store(self) -> None:
        """Before the parts close (a reset, a restore, shutdown): commit what changed,
        then record nothing until the next :meth:`_attach_store`."""
        if self._committer is not None:
            await self._pause_store_of(self._committer)

    @staticmethod
    async def _pause_store_of(committer: Committer) -> None:
        if not committer.paused:
            try:
                await committer.barrier()
            finally:
                committer.paused = True

    async def close_store(self) -> None:
        """Engine shutdown: commit what changed, then end the store's thread and close the
        database. A later start opens the data directory again."""
        committer, self._committer = self._committer, None
        try:
            if committer is not None:
                try:
                    await self._pause_store_of(committer)
                finally:
                    committer.close()
        finally:
            self.release_data_dir()

    def release_data_dir(self) -> None:
        """Let another server use the data directory (at shutdown, after the last commit;
        a process that ends releases it anyway)."""
        lock, self._dir_lock = self._dir_lock, None
        if lock is not None:
            lock.release()

    def store_touched(self, records: bool = True) -> None:
        """A request or call that may have changed state outside the hooked parts."""
        if self._committer is not None:
            self._committer.touched(records)

    async def committed(self) -> None:
        """Return once every change made so far is stored (at once when not durable)."""
        waiter = self.commit_waiter()
        if waiter is not None:
            await waiter

    def commit_waiter(self) -> asyncio.Future[None] | None:
        """:meth:`committed`'s future (failed with ``StoreFailed`` when the change could not
        be stored); None when every change is stored already, or when not durable."""
        return None if self._committer is None else self._committer.waiter()

    def submit_commit(self) -> Commit | None:
        """The express lane's step after an async submit (:func:`fcemu.api.durable.
        durable_commit`'s for an InvokeFunction: :meth:`store_touched` with ``records``
        False): the :class:`~fcemu.engine.committer.Commit` of the batch that holds the
        task, for callbacks; None when every change is stored already, or when not
        durable."""
        committer = self._committer
        return None if committer is None else committer.submitted()

    # -- what is stored -----------------------------------------------------------------

    def _durable_records(self, committer: Committer) -> dict[str, Any]:
        records = self.capture_records()
        kept = [f for f in records["functions"] if f.inprocess_handler is None]
        if len(kept) != len(records["functions"]):
            records["functions"] = kept  # Python callables live in this process only
            versions = records["versions"]
            for name in [n for n in versions
                         if any(v.snapshot.inprocess_handler for v in versions[n].values())]:
                del versions[name]
        committer.freeze(records)
        records["smq"] = self._smq.to_state(messages=False)
        return records

    def _durable_counters(self) -> dict[str, Any]:
        return {"ids": self.ids.position(), "now_ms": self.clock.now_ms(),
                "seed": self.settings.seed, "seq": self.tasks.seq}

    def _state_of(self, stored: Stored) -> dict[str, Any]:
        """The state a database holds, as :meth:`restore_state` takes it."""
        records = decode_state(stored.records, FILE_TYPES)
        counters = stored.counters
        smq = records.pop("smq")
        queues = {q["name"]: q for q in smq["queues"]}
        for name, row in stored.messages:
            if name in queues:
                queues[name]["messages"].append(row)
        now = self.clock.now_ms() if self.clock.mode == "real" else counters["now_ms"]
        cutoff = now - TASK_RETENTION_MS
        tasks = [row for row in stored.tasks if not _gone(row, cutoff)]
        return {**records, "version": STATE_VERSION, "seed": counters["seed"],
                "clock": {"mode": self.clock.mode, "now_ms": counters["now_ms"]},
                "ids": counters["ids"], "smq": smq,
                "tasks": {"seq": counters["seq"], "tasks": tasks}}


_TERMINAL = {s.value for s in TaskStatus if s.terminal}
_STATUS_AT = TASK_STATE_FIELDS.index("status")
_SUBMITTED_AT = TASK_STATE_FIELDS.index("submitted_ms")


def _gone(row: Any, cutoff: int) -> bool:
    """A finished task past its retention (it would have been forgotten)."""
    state = row[0]
    return bool(state[_STATUS_AT] in _TERMINAL and state[_SUBMITTED_AT] <= cutoff)


def _remove_unused(directory: Path, used: set[Path], keep: Path) -> None:
    """Code copies no stored record names any more (with their zips), and the unpack
    directories of earlier runs (a killed server leaves its ``fcemu-code-*`` behind)."""
    packages = directory / "packages"
    if packages.is_dir():
        for path in packages.iterdir():
            if path.is_dir() and path not in used:
                shutil.rmtree(path, ignore_errors=True)
    zips = directory / "packages.zips"  # each package's zip (fcemu.code.package_zip)
    if zips.is_dir():
        kept = {codepkg.package_zip(path) for path in used}
        for path in zips.iterdir():
            if path.is_file() and path not in kept:
                path.unlink(missing_ok=True)
    for path in directory.glob("fcemu-code-*"):
        if path != keep and path.name != keep.name + ".zips":
            shutil.rmtree(path, ignore_errors=True)
