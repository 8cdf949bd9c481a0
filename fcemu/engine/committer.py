"""The committer of durable mode: what changed, gathered into batches, and their writers.

:class:`Committer` gathers the changes that :mod:`fcemu.engine.durable`'s hooks report (a
task's status change, an SMQ message or queue change, a request that may have changed the
engine's records) into one :class:`~fcemu.store.sqlite.Batch` per loop turn and has its
:class:`Writer` write it in one transaction: the store's writer process
(:class:`~fcemu.store.writer.WriterProcess`) in durable mode, or :class:`ThreadWriter` (a
thread of this process, for the stores tests hold). While one batch is written the next
gathers (group commit). Answers that wait for a change (:meth:`Committer.barrier`) get it
committed, or :class:`StoreFailed` (a 503) when it could not be; after a failed batch the
next one writes the whole state, so nothing that batch held is left out. The express
lane's held answers wait on the batch's :class:`Commit` instead of a future each: their
callbacks run as soon as the batch is settled, not one loop turn later each.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fcemu import code as codepkg
from fcemu.engine.state import FILE_TYPES, code_paths, repoint
from fcemu.errors import FcError
from fcemu.models import Task
from fcemu.smq import Message
from fcemu.smq.messages import message_to_state
from fcemu.store import encode_state
from fcemu.store.sqlite import Batch, SqliteStore
from fcemu.store.writer import WriterGone

if TYPE_CHECKING:
    from fcemu.smq import Smq
    from fcemu.tasks import AsyncTasks

__all__ = ["Commit", "Committer", "StoreFailed", "StoredEngine", "ThreadWriter", "Writer"]

log = logging.getLogger("fcemu.store")


class StoredEngine(Protocol):
    """What the committer reads of the engine (:class:`fcemu.engine.durable.
    DurableOperations`): its tasks and SMQ account, and the records and counters to store."""

    tasks: AsyncTasks
    _smq: Smq

    def _durable_records(self, committer: Committer) -> dict[str, Any]: ...

    def _durable_counters(self) -> dict[str, Any]: ...


class StoreFailed(FcError):
    """503: a change could not be committed to the data directory (the message says why)."""

    status = 503
    code = "ServiceUnavailable"


class Writer(Protocol):
    """Writes batches, one transaction each, in the order given; calls each batch's
    ``done`` on the loop (with the error when it was not committed)."""

    def submit(self, batch: Batch, done: Callable[[BaseException | None], None]) -> None: ...

    def close(self) -> None: ...


class ThreadWriter:
    """A :class:`Writer` on a thread of this process (for stores other than the data
    directory's, as tests use; durable mode uses :class:`~fcemu.store.writer.WriterProcess`)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fcemu-store")

    def submit(self, batch: Batch, done: Callable[[BaseException | None], None]) -> None:
        self._executor.submit(self._write, asyncio.get_running_loop(), batch, done)

    def _write(self, loop: asyncio.AbstractEventLoop, batch: Batch,
               done: Callable[[BaseException | None], None]) -> None:
        error: BaseException | None = None
        try:
            self.store.write(batch)
        except BaseException as exc:  # every waiting answer gets it
            error = exc
        try:
            loop.call_soon_threadsafe(done, error)
        except RuntimeError:  # the loop is closed: nothing waits any more
            pass

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()


class Commit:
    """One batch's outcome, for the express lane's held answers (:mod:`fcemu.api.express`):
    its callbacks run in the order added as soon as the batch is committed or failed
    (:meth:`exception` says which), from the committer itself, where a future's each take
    a handle and a loop turn (issue 17). Nothing awaits or cancels it: a caller that must
    await a commit takes :meth:`Committer.waiter`'s future."""

    __slots__ = ("_callbacks", "_done", "_error")

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Commit], object]] = []
        self._done = False
        self._error: StoreFailed | None = None

    def add_done_callback(self, callback: Callable[[Commit], object]) -> None:
        """Call ``callback(self)`` once settled (on the next loop turn when it is already)."""
        if self._done:
            asyncio.get_running_loop().call_soon(callback, self)
        else:
            self._callbacks.append(callback)

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        """Never: a batch is committed or fails (for the reader of a future's outcome)."""
        return False

    def exception(self) -> StoreFailed | None:
        """Why the batch was not committed (None once it was, or while it is pending)."""
        return self._error

    def _settle(self, error: StoreFailed | None) -> None:
        self._done, self._error = True, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception as exc:  # as the loop reports a failing handle; the rest go on
                asyncio.get_running_loop().call_exception_handler({
                    "message": "a commit's callback failed", "exception": exc,
                    "callback": callback})


class Committer:
    """Gathers changes into batches and has its :class:`Writer` write them, one
    transaction at a time (see the module docstring)."""

    def __init__(self, engine: StoredEngine, store: SqliteStore,
                 writer: Writer | None = None) -> None:
        self.engine = engine
        self.store = store
        self._writer = ThreadWriter(store) if writer is None else writer
        self._tasks: dict[int, Task] = {}
        self._messages: dict[tuple[str, str], tuple[str, Message]] = {}
        self.records = False
        self.full = False
        #: While paused (engine closing), changes are not recorded.
        self.paused = True
        #: Changes gather for a batch; one is being written; what waits for each (a future
        #: per waiter, resolved by :meth:`_written` itself: no future chained to a future;
        #: and the batch's :class:`Commit`, made for its first held answer).
        self._gathering = self._writing = False
        self._pending: list[asyncio.Future[None]] = []
        self._running: list[asyncio.Future[None]] = []
        self._pending_commit: Commit | None = None
        self._running_commit: Commit | None = None
        #: Code directories already copied under DIR/packages, and where.
        self.packages: dict[Path, Path] = {}

    # -- what changed -------------------------------------------------------------------

    def task_changed(self, task: Task) -> None:
        if not self.paused:
            self._tasks[id(task)] = task
            if not self._gathering:
                self._soon()

    def smq_changed(self, name: str, message: Message | None) -> None:
        if self.paused:
            return
        if message is None:
            self.records = True
        else:
            self._messages[(name, message.message_id)] = (name, message)
        self._soon()

    def touched(self, records: bool) -> None:
        """A request or call that may have changed the clock, the IDs or (``records``)
        the engine's own records."""
        if not self.paused:
            if records:
                self.records = True
            if not self._gathering:
                self._soon()

    def records_changed(self) -> None:
        """The engine's own records changed without a request (an EventBridge delivery):
        written with the batch that holds the task's terminal state."""
        self.touched(True)

    def replaced(self) -> None:
        """The whole state was replaced (start, reset, restore): write all of it."""
        self.full, self.paused = True, False
        self._tasks.clear()
        self._messages.clear()
        self._soon()

    # -- batches ------------------------------------------------------------------------

    def _soon(self) -> None:
        if not self._gathering:
            self._gathering = True
            if not self._writing:
                asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        if not self._gathering or self._writing:
            return
        self._gathering = False
        waiters, self._pending = self._pending, []
        commit, self._pending_commit = self._pending_commit, None
        try:
            batch = self._collect()
        except Exception as exc:  # an emulator bug: every waiting answer fails, loudly
            error = StoreFailed(f"could not gather changes: {exc!r}")
            _settle(waiters, error)
            log.exception("fcemu could not gather the changes to store")
            if commit is not None:
                commit._settle(error)
            return
        self._writing, self._running, self._running_commit = True, waiters, commit
        self._writer.submit(batch, self._written)

    def _written(self, error: BaseException | None) -> None:
        """A batch's outcome: its waiters' futures resolved, the next batch started when
        one gathered, then the batch's :class:`Commit` callbacks run (the held answers go
        out while the next batch is written)."""
        self._writing = False
        waiters, self._running = self._running, []
        commit, self._running_commit = self._running_commit, None
        failed: StoreFailed | None = None
        if error is not None:
            log.error("fcemu could not commit to %s: %s", self.store.path, error)
            self.full = True  # what that batch held is written with the next one, whole
            hint = "" if isinstance(error, WriterGone) else \
                "; check the disk (space, permissions) of --data-dir"
            failed = StoreFailed(
                f"the change could not be stored in {self.store.path}: {error}{hint}")
        _settle(waiters, failed)
        if self._gathering:
            self._start()
        if commit is not None:
            commit._settle(failed)

    async def barrier(self) -> None:
        """Return once every change made so far is committed."""
        waiter = self.waiter()
        if waiter is not None:
            await waiter  # a cancelled waiter is this caller's own: the batch goes on

    def waiter(self) -> asyncio.Future[None] | None:
        """:meth:`barrier`'s future: done once every change made so far is committed (with
        :class:`StoreFailed` when it could not be); None when none is pending."""
        if self._gathering:
            waiters = self._pending
        elif self._writing:
            waiters = self._running
        else:
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        return waiter

    def submitted(self) -> Commit | None:
        """:meth:`touched` (not the records), then :meth:`commit`: the express lane's step
        after each async submit, in one call."""
        if not self.paused and not self._gathering:
            self._soon()
        return self.commit()

    def commit(self) -> Commit | None:
        """The :class:`Commit` of the batch that will hold every change made so far (for
        callbacks only: see the class); None when none is pending."""
        if self._gathering:
            commit = self._pending_commit
            if commit is None:
                commit = self._pending_commit = Commit()
        elif self._writing:
            commit = self._running_commit
            if commit is None:
                commit = self._running_commit = Commit()
        else:
            return None
        return commit

    def close(self) -> None:
        """Engine shutdown: the writer ends and the database is closed (call after the
        last :meth:`barrier`; nothing is recorded any more)."""
        self.paused = True
        self._writer.close()

    def _collect(self) -> Batch:
        engine = self.engine
        tasks, smq = engine.tasks, engine._smq
        batch = Batch(full=self.full)
        if self.full:
            every = [t for records in tasks.by_function.values() for t in records.values()]
            messages = [(q.name, m) for q in smq.list_queues(limit=1 << 30)[0]
                        for m in q.messages()]
        else:
            every, messages = list(self._tasks.values()), list(self._messages.values())
        row = tasks.row  # rows as plain data: the writer encodes them (Batch)
        batch.tasks = [(f"{t.function_name}/{t.task_id}", row(t)) for t in every]
        for name, message in messages:
            key = f"{name}/{message.message_id}"
            if message.gen < 0:
                batch.message_deletes.append(key)
            else:
                batch.messages.append((key, (message_to_state(message), message.hidden)))
        if self.full or self.records:
            batch.records = encode_state(self.engine._durable_records(self), FILE_TYPES)
        batch.counters = marshal.dumps(self.engine._durable_counters())
        self.full = self.records = False
        self._tasks.clear()
        self._messages.clear()
        return batch

    def freeze(self, state: dict[str, Any]) -> None:
        """Point the records' code directories at copies under DIR/packages (made once)."""
        root = self.store.directory / "packages"
        for path in {p for p in code_paths(state) if p.is_dir()}:
            if path.parent == root or path in self.packages:
                continue
            dest = root / f"{uuid.uuid4().hex}-{path.name}"
            root.mkdir(exist_ok=True)
            shutil.copytree(path, dest, symlinks=True)
            package = codepkg.package_zip(path)
            if package.is_file():
                codepkg.package_zip(dest).parent.mkdir(exist_ok=True)
                shutil.copyfile(package, codepkg.package_zip(dest))
            self.packages[path] = dest
        repoint(state, self.packages)


def _settle(waiters: list[asyncio.Future[None]], error: StoreFailed | None) -> None:
    """Resolve the futures of a batch's waiters (the cancelled ones wait no more)."""
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
