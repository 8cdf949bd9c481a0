"""The store's writer process: durable mode's commits, outside the server's process.

A strict commit is cheap (a WAL append and an fsync, well under a millisecond), but a
thread of the server's process that writes it must take the GIL back after every SQLite
call it makes, and beside a busy event loop each take waits up to the interpreter's
switch interval (5 ms): a batch of BEGIN, a few statements and COMMIT waited several
times as long as its fsync (issue 17, traced with ``strace -f``). So the commits run in
a child process of their own, which has its own interpreter.

:class:`WriterProcess` is the server's side. It starts ``python -m fcemu.store.writer
DIR strict|relaxed`` on the first batch, sends each batch as one frame on the child's
standard input (a 4-byte big-endian length, then :mod:`marshal` data of the batch's
plain fields) without blocking the loop, and reads one answer per batch, in order, on
the child's standard output: ``0`` (committed; with ``strict``, synced) or ``1``, a
length and a UTF-8 message (the transaction was rolled back). It calls each batch's
``done`` on the loop. The child (:func:`main`) writes with
:meth:`fcemu.store.sqlite.SqliteStore.write`, one batch at a time.

The child never outlives the server: it ends at the end of its standard input, which
comes when the server closes it (:meth:`WriterProcess.close`) or dies, even by
``kill -9`` (a batch being written then is committed or rolled back whole; its answer
never went out, so nothing acknowledged is lost). It runs in a session of its own, so a
Ctrl-C in the server's terminal (a signal to its process group) leaves it writing until
the server's shutdown has committed the last batch. If the child dies, every batch it held
fails (the waiting answers are 503) and the next batch starts a new child.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from fcemu.store.sqlite import Batch, SqliteStore, StoreError

__all__ = ["WriterGone", "WriterProcess", "main"]

_LENGTH = 4
_OK, _FAILED = 0, 1
#: Seconds :meth:`WriterProcess.close` waits for the child to end before killing it.
_CLOSE_WAIT_S = 10.0

Done = Callable[[BaseException | None], None]


class WriterGone(StoreError):
    """The writer process ended with batches unanswered (not a disk's fault)."""


def _frame(batch: Batch) -> bytes:
    data = marshal.dumps((batch.full, batch.records, batch.counters, batch.tasks,
                          batch.messages, batch.message_deletes))
    return len(data).to_bytes(_LENGTH, "big") + data


def _batch(data: bytes) -> Batch:
    full, records, counters, tasks, messages, deletes = marshal.loads(data)
    return Batch(full=full, records=records, counters=counters, tasks=tasks,
                 messages=messages, message_deletes=deletes)


class WriterProcess:
    """The server's side of the writer process (see the module docstring). Runs on the
    event loop; :meth:`close` blocks until the child has ended."""

    def __init__(self, directory: Path, *, relaxed: bool) -> None:
        self.directory = directory
        self.relaxed = relaxed
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()  # frames not yet taken by the pipe
        self._in = bytearray()  # answers not yet read whole
        self._done: deque[Done] = deque()  # one per batch sent, in order
        self._waiting = False  # whether the loop waits for the pipe to take the rest

    @property
    def pid(self) -> int | None:
        """The child's process ID (None before the first batch and after it ended)."""
        return None if self._proc is None else self._proc.pid

    def submit(self, batch: Batch, done: Done) -> None:
        """Send ``batch``; ``done(None)`` once it is committed, ``done(error)`` if not
        (at once when it holds a value :mod:`marshal` cannot write: an emulator bug)."""
        try:
            frame = _frame(batch)
        except ValueError as exc:
            done(StoreError(f"a change could not be encoded: {exc}"))
            return
        if self._proc is None:
            self._start()
        self._done.append(done)
        self._out += frame
        self._flush()

    def close(self) -> None:
        """End the child (after the last batch's answer) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._unhook(proc)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()  # the end of its input: it ends
        try:
            proc.wait(_CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        self._fail(WriterGone("the store's writer process was closed"))

    # -- the pipes ----------------------------------------------------------------------

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fcemu.store.writer", str(self.directory),
             "relaxed" if self.relaxed else "strict"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            start_new_session=True)  # a terminal's Ctrl-C is the server's to handle
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        os.set_blocking(proc.stdout.fileno(), False)
        self._loop.add_reader(proc.stdout.fileno(), self._readable)
        self._proc = proc

    def _flush(self) -> None:
        proc, loop = self._proc, self._loop
        if proc is None or loop is None:
            return
        assert proc.stdin is not None
        fd = proc.stdin.fileno()
        try:
            sent = os.write(fd, self._out)
        except BlockingIOError:
            sent = 0
        except OSError:  # the child is gone: its answers never come
            self._died()
            return
        del self._out[:sent]
        if self._out:
            if not self._waiting:
                self._waiting = True
                loop.add_writer(fd, self._flush)
        elif self._waiting:  # (a remove of no writer costs a failed lookup each batch)
            self._waiting = False
            loop.remove_writer(fd)

    def _readable(self) -> None:
        proc = self._proc
        if proc is None:
            return
        assert proc.stdout is not None
        try:
            data = os.read(proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._died()
            return
        self._in += data
        while self._in:
            if self._in[0] == _OK:
                del self._in[:1]
                self._done.popleft()(None)
                continue
            if len(self._in) < 1 + _LENGTH:
                return
            size = int.from_bytes(self._in[1:1 + _LENGTH], "big")
            if len(self._in) < 1 + _LENGTH + size:
                return
            message = bytes(self._in[1 + _LENGTH:1 + _LENGTH + size]).decode("utf-8", "replace")
            del self._in[:1 + _LENGTH + size]
            self._done.popleft()(StoreError(message))

    def _died(self) -> None:
        """The child ended while the server runs: what it held fails; the next batch
        starts another."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._unhook(proc)
        code = proc.wait()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.stdout.close()
        self._fail(WriterGone(f"the store's writer process ended (exit status {code}); "
                              "the next change starts another"))

    def _unhook(self, proc: subprocess.Popen[bytes]) -> None:
        loop = self._loop
        assert proc.stdin is not None and proc.stdout is not None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(proc.stdout.fileno())
            loop.remove_writer(proc.stdin.fileno())
        self._waiting = False
        self._out.clear()
        self._in.clear()

    def _fail(self, error: BaseException) -> None:
        done, self._done = self._done, deque()
        for callback in done:
            callback(error)


def _read_exactly(stream: int, size: int) -> bytes | None:
    """``size`` bytes of ``stream``, or None at its end."""
    chunks, left = [], size
    while left:
        chunk = os.read(stream, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main(argv: list[str]) -> int:
    """The child: commit each batch read on standard input, answer on standard output."""
    directory, mode = Path(argv[0]), argv[1]
    store = SqliteStore(directory, relaxed=mode == "relaxed")
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        while (head := _read_exactly(stdin, _LENGTH)) is not None:
            data = _read_exactly(stdin, int.from_bytes(head, "big"))
            if data is None:
                break
            try:
                store.write(_batch(data))
            except Exception as exc:  # rolled back: the server fails this batch's answers
                message = str(exc).encode("utf-8")
                answer = bytes([_FAILED]) + len(message).to_bytes(_LENGTH, "big") + message
            else:
                answer = bytes([_OK])
            view = memoryview(answer)
            while view:
                view = view[os.write(stdout, view):]
    except BrokenPipeError:  # the server is gone (killed): nobody waits for the answer
        pass
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
