"""The lock of a data directory: one server at a time on ``--data-dir DIR``.

Two servers on one directory would hand out the same IDs, overwrite each other's rows and
remove each other's unpacked code. So a server holds ``DIR/fcemu.lock`` locked
(:func:`fcntl.flock`, exclusive, not waiting) for its whole life, taken before anything
else in the directory is touched; a second one is refused with a message naming the
directory and the holder's process ID (written into the file). The kernel releases the
lock when its file is closed or the process ends, however it ends (``kill -9``
included): a stale lock file is never in the way. The file descriptor is not inherited
by the server's child processes (close-on-exec), so a handler
instance or the store's writer cannot keep the lock after the server is gone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import weakref
from collections.abc import Callable
from pathlib import Path

from fcemu.store.sqlite import StoreError

__all__ = ["LOCK_NAME", "DirectoryInUse", "DirectoryLock"]

LOCK_NAME = "fcemu.lock"


class DirectoryInUse(StoreError):
    """Another fcemu holds the data directory (the message names it and its PID)."""


class DirectoryLock:
    """The held lock of one data directory (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        #: Closes the locked descriptor (at :meth:`release`, or when this lock is dropped:
        #: an engine never shut down, as tests make, leaves no open file to warn about).
        self._close: Callable[[], object] | None = None

    @classmethod
    def take(cls, directory: Path) -> DirectoryLock:
        """Lock ``directory`` (made if needed) for this process.

        :raises DirectoryInUse: another process holds it.
        :raises StoreError: the directory or its lock file cannot be made or opened.
        """
        lock = cls(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            raise StoreError(f"cannot use --data-dir {directory}: it is a file, not a "
                             "directory") from None
        except OSError as exc:
            raise StoreError(f"cannot use --data-dir {directory}: {exc.strerror or exc}"
                             f"{_permission_hint(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DirectoryInUse(
                f"--data-dir {directory} is in use by another fcemu"
                f"{f' (process {holder})' if holder else ''}: one server at a time may use "
                "a data directory; stop that one, or start with another --data-dir"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock --data-dir {directory}: "
                             f"{exc.strerror or exc}") from None
        lock._close = weakref.finalize(lock, os.close, fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return lock

    @property
    def held(self) -> bool:
        return self._close is not None

    def release(self) -> None:
        """Let the directory go (closing the descriptor releases the lock)."""
        close, self._close = self._close, None
        if close is not None:
            close()


def _holder(fd: int) -> str:
    """The PID the holder wrote, or "" when it is not there (yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _permission_hint(exc: OSError) -> str:
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return (" (this user may not write there: give it write permission, or start "
                "with another --data-dir)")
    return ""
