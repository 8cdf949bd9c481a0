"""How often an instance reads its processes' memory (``Instance.over_memory``).

A handler's process reports its own peak with every result and says whether it has
child processes. Without children, that figure is checked after every request, and the
other processes of the instance (orphans its launcher took in) are read from ``/proc`` at
most once per ``MEMORY_POLL_S``: a stream of short requests does not read ``/proc``
after each one. With children, every request reads them. The clock here is a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

from fcemu.runtime import instance_memory
from fcemu.runtime.instance import Instance
from fcemu.runtime.instance_memory import MEMORY_POLL_S
from fcemu.runtime.invocation import kb_to_mb
from fcemu.runtime.procfs import ChildrenFile
from tests.unit.test_runtime_worker import function

LIMIT_KB = 128 * 1024


class FakeTree:
    """The instance's processes: the handler's own figure plus ``others_kb``."""

    def __init__(self) -> None:
        self.others_kb = 0
        self.reads = 0
        self.exited = False
        self.protocol = SimpleNamespace(gone=False)  # what over_memory() asks (Contained's)

    def memory_kb(self, peak: bool = False, handler_kb: int | None = None,
                  childless: bool = False) -> int:
        self.reads += 1
        return (handler_kb or 0) + self.others_kb


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(instance_memory, "real_monotonic", lambda: now[0])
    return now


def instance() -> tuple[Instance, FakeTree]:
    made = Instance(function("echo", memory_size=128), "key", "i-1")
    tree = FakeTree()
    made.tree = tree  # type: ignore[assignment]
    return made, tree


def test_a_childless_handler_is_checked_every_request_and_others_read_once_per_interval(clock):
    made, tree = instance()
    assert made.over_memory(20_000, childless=True) is False
    assert tree.reads == 1
    for _ in range(50):  # short requests within one interval: no /proc read
        clock[0] += MEMORY_POLL_S / 100
        assert made.over_memory(20_000, childless=True) is False
    assert tree.reads == 1
    tree.others_kb = 200 * 1024  # an orphan grew: seen at the next reading
    assert made.over_memory(20_000, childless=True) is False
    clock[0] += MEMORY_POLL_S
    assert made.over_memory(20_000, childless=True) is True
    assert tree.reads == 2 and made.oom_kb == 20_000 + 200 * 1024 and not made.healthy


def test_the_handlers_own_peak_over_the_limit_needs_no_reading(clock):
    made, tree = instance()
    made.over_memory(20_000, childless=True)
    assert made.over_memory(LIMIT_KB + 1, childless=True) is True
    assert tree.reads == 1 and made.seen_peak_mb() == 129


def test_others_last_read_stand_in_between_readings(clock):
    made, tree = instance()
    tree.others_kb = 100 * 1024
    assert made.over_memory(20_000, childless=True) is False
    tree.others_kb = 0  # gone since: the last figures still count until the next reading
    assert made.over_memory(40 * 1024, childless=True) is True
    assert tree.reads == 1


def test_the_peak_seen_is_the_highest_reading_or_report(clock):
    made, tree = instance()
    tree.others_kb = 5_000
    assert made.over_memory(30_000, childless=False) is False
    tree.others_kb = 0  # a lower reading later: the peak stays
    assert made.over_memory(10_000, childless=False) is False
    assert made.seen_peak_mb() == kb_to_mb(35_000)
    made.reported_kb = 60_000  # the handler's own peak, above every reading
    assert made.over_memory(10_000, childless=False) is False
    assert made.seen_peak_mb() == kb_to_mb(60_000) and made._peak_kb == 35_000
    made.reported_kb = LIMIT_KB + 1  # over memorySize by the report alone
    assert made.over_memory(10_000, childless=False) is True
    assert made.oom_kb == LIMIT_KB + 1 and not made.healthy


def test_a_handler_with_children_reads_them_after_every_request(clock):
    made, tree = instance()
    for _ in range(5):
        assert made.over_memory(20_000, childless=False) is False
    assert tree.reads == 5


def test_the_watch_reads_only_requests_that_ran_a_whole_interval(clock):
    made, _ = instance()
    made.over_memory(20_000, childless=True)  # a first request's end read them at 100.0
    for _ in range(5):  # a stream of short requests: each ends within the interval
        clock[0] += MEMORY_POLL_S
        made._watching, made._busy_since = 1, clock[0]  # what watching_memory notes
        clock[0] += MEMORY_POLL_S / 2
        assert made.watch_due() is False  # over_memory() checks it when it ends
        made._watching = 0
    made._watching, made._busy_since = 1, clock[0]  # a long request
    clock[0] += MEMORY_POLL_S * 1.01
    assert made.watch_due() is True
    made._read_at = clock[0]  # the watch read it
    clock[0] += MEMORY_POLL_S / 2
    assert made.watch_due() is False  # then once per interval
    clock[0] += MEMORY_POLL_S * 0.51
    assert made.watch_due() is True


def test_watching_notes_when_a_busy_spell_began(clock):
    made, _ = instance()

    async def requests() -> None:  # the watch task this starts is cancelled with the loop
        with made.watching_memory():
            began = made._busy_since
            assert began == clock[0]
            clock[0] += 1
            with made.watching_memory():  # a second request on a busy instance: same spell
                assert made._busy_since == began
        clock[0] += 1
        with made.watching_memory():  # after a pause: a new spell
            assert made._busy_since == clock[0]

    asyncio.run(requests())


#: A process that starts a child, prints its PID and ends at its stdin's end, leaving it.
PARENT = ("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', "
          "'import time; time.sleep(60)'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL);"
          " print(child.pid, flush=True); sys.stdin.read()")


def test_the_launchers_children_are_read_from_proc() -> None:
    """The children file a memory check reads for a launcher, kept open and read again from
    its start: every child listed as it comes and goes, a process that is gone reads as
    none, and a closed file is opened for each read alone."""
    kept = ChildrenFile(os.getpid())
    kept.read()  # opened here, and kept
    kids = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE) for _ in range(3)]
    # a parent with a child of its own that outlives it (killed at the end: at most 60 s)
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    orphan = int(parent.stdout.readline())
    of_parent = ChildrenFile(parent.pid)
    try:
        fd = kept._fd
        assert {kid.pid for kid in kids} <= set(kept.read()) and kept._fd == fd
        assert of_parent.read() == [orphan] and of_parent._fd is not None
        for kid in kids:
            kid.communicate(b"")
        parent.communicate("")
        assert not {kid.pid for kid in kids} & set(kept.read())
        # gone (its child still running elsewhere): its open file reads as no children
        assert of_parent.read() == []
    finally:
        for process in (*kids, parent):
            if process.poll() is None:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)
    kept.close()
    of_parent.close()
    late = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        assert late.pid in kept.read() and kept._fd is None  # opened for that read alone
    finally:
        late.communicate(b"")
    assert ChildrenFile(2 ** 22 + 1).read() == []


def test_a_closed_instance_keeps_no_children_file_open() -> None:
    """A memory read after an instance's ``close()`` (its files closed) reads the
    launcher's children with a file opened for that read alone: nothing is left open."""
    from fcemu.runtime.contained import Contained

    kid = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                           stdin=subprocess.PIPE)
    try:
        for closed in (False, True):
            instance = SimpleNamespace(_children=None, _files_closed=closed)
            assert kid.pid in Contained._launcher_children(instance, os.getpid())  # type: ignore[arg-type]
            assert (instance._children._fd is None) is closed  # type: ignore[attr-defined]
            instance._children.close()  # type: ignore[attr-defined]
    finally:
        kid.communicate(b"")
