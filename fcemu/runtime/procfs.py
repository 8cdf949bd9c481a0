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
