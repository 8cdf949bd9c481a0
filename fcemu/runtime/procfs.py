"""Reading ``/proc``: the processes below a process, a process group, memory figures.

Everything here answers "unknown" (an empty list, 0, None) instead of raising
when a process is gone or ``/proc`` does not exist (macOS).
"""

from __future__ import annotations

import contextlib
import os

#: How many processes one tree may list (a fork bomb is killed over several sweeps).
TREE_LIMIT = 4096


def children(pid: int, oldest_first: bool = False) -> list[int]:
    """The direct children of ``pid`` (every thread's); [] if unknown."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as kids:
                found.extend(int(k) for k in kids.read().split())
    return sorted(found, key=_start_time) if oldest_first and len(found) > 1 else found


class ChildrenFile:
    """The ``children`` file of one process's main thread (its direct children, those of
    its other threads left out), kept open and read again from its start each time: one
    ``pread``, where opening the file, reading it to its end and closing it took four
    system calls (about 2 against 10 µs: a busy instance's memory check reads it every
    ``MEMORY_POLL_S``). The open file stays that process's even if its number is reused;
    a process that is gone reads as no children. :meth:`close` closes it (a read after that
    opens the file for that read alone)."""

    __slots__ = ("_closed", "_fd", "_path")

    def __init__(self, pid: int) -> None:
        self._path = f"/proc/{pid}/task/{pid}/children"
        self._fd: int | None = None
        self._closed = False

    def read(self) -> list[int]:
        """The children now; [] if unknown (no such file: tried again next time)."""
        fd = self._fd
        if fd is None:
            try:
                fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return []
            if self._closed:
                try:
                    return _pids(fd)
                finally:
                    os.close(fd)
            self._fd = fd
        return _pids(fd)

    def close(self) -> None:
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _pids(fd: int) -> list[int]:
    try:
        data = chunk = os.pread(fd, _CHUNK, 0)
        while len(chunk) == _CHUNK:  # a short read is the end of a /proc file
            chunk = os.pread(fd, _CHUNK, len(data))
            data += chunk
        return [int(k) for k in data.split()]
    except (OSError, ValueError):
        return []


#: What :class:`ChildrenFile` reads at once (a list of a few PIDs is a fraction of it).
_CHUNK = 65536


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every process below it, ``pid`` first."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < TREE_LIMIT:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def _start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return int(stat.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def group_members(pgid: int) -> list[int]:
    """Running (not zombie) processes of process group ``pgid``, read from ``/proc``."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
                members.append(int(entry))
    return members


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` in KiB from ``/proc/<pid>/statm`` (cheaper than status)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


def proc_status_kb(pid: int | str, key: str) -> int | None:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status``; None if unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None
