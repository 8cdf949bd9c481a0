"""Handlers that misbehave, and how a test finds (and waits for the end of) their processes.

A handler's processes are found from the test's side of any PID namespace:
by a marker in their command line (:func:`processes_with`) or by the
instance ID every process of an instance inherits in ``FC_INSTANCE_ID``
(:func:`tests.unit.test_runtime_worker.instance_processes`). Waiting is
bounded and event-driven: a FIFO the handler writes once it is ready
(:func:`wait_ready`), pidfds that become readable when a process exits
(:func:`wait_gone`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fcemu.runtime.contain import containment

#: Only Linux has /proc, pidfds and the launchers these tests are about.
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="process containment is tested on Linux")

#: What the runaway handler's children run: note they started, then loop.
_CHILD = "import sys, time\nopen(sys.argv[1] + '.' + sys.argv[2], 'w').close()\n" \
         "while True:\n    time.sleep(0.05)\n"

#: A handler (event: a marker path) that starts a child in a session of its own (it keeps
#: the worker's stdout and stderr open) and a double-forked daemon, both carrying the marker
#: in their command line; once both run it writes READY_FIFO, then loops forever.
#: With event ``<marker>|exit`` it exits the process instead of looping (a crash).
RUNAWAY = f'''\
import os, subprocess, sys, time

CHILD = {_CHILD!r}


def handler(event, context):
    marker, _, then = event.decode().partition("|")
    subprocess.Popen([sys.executable, "-c", CHILD, marker, "setsid"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", CHILD, marker, "daemon"])
        os._exit(0)
    for _ in range(2000):  # at most 20 s
        if all(os.path.exists(f"{{marker}}.{{kind}}") for kind in ("setsid", "daemon")):
            break
        time.sleep(0.01)
    print("children started", flush=True)
    ready = os.environ.get("READY_FIFO")
    if ready:
        with open(ready, "w") as fifo:
            fifo.write("ready")
    if then == "exit":
        os._exit(3)
    while True:
        time.sleep(0.05)
'''


def write_handler(directory: Path, source: str = RUNAWAY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.py").write_text(source)
    return directory


def available_modes() -> list[str]:
    """The containments this machine can run, strongest first: ``bwrap`` where bubblewrap
    works, ``pidns`` where namespaces do, ``subreaper``."""
    return [*(m for m in ("bwrap", "pidns") if containment(m).mode == m), "subreaper"]


def processes_with(marker: str) -> list[int]:
    """Running processes (not zombies) whose command line contains ``marker``."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if needle not in cmdline.read():
                    continue
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rpartition(")")[2].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def wait_ready(fifo: Path, timeout: float = 60.0) -> None:
    """Block until the handler has written ``fifo`` (at most ``timeout`` seconds)."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(fifo.read_text()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        try:  # let the reader go: a writer that closes at once gives it end of file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        pytest.fail(f"the handler did not report ready within {timeout} s")


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait (on pidfds, at most ``timeout`` seconds) until every process has exited; the
    pids still running then."""
    waiting: dict[int, int] = {}
    for pid in pids:
        try:
            waiting[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    try:
        while waiting and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(waiting), [], [], left)
            for fd in ready:
                os.close(fd)
                del waiting[fd]
    finally:
        for fd in waiting:
            os.close(fd)
    return sorted(waiting.values())


@contextlib.contextmanager
def serving_one_async_task(mode: str, create: dict[str, Any], payload: bytes,
                           env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``fcemu serve`` (manual clock) in containment ``mode`` as a subprocess, with the
    function ``create`` (a CreateFunction body) deployed and invoked once asynchronously
    with ``payload``; killed on the way out if the test has not ended it. Its temporary
    files (code store, relay sockets) go to a folder of its own, removed afterwards: a
    server killed with SIGKILL cannot remove them itself."""
    scratch = tempfile.mkdtemp(prefix="fcemu-test-server-")
    server = subprocess.Popen(
        [sys.executable, "-m", "fcemu", "serve", "--port", "0", "--clock", "manual"],
        env={**env, "FCEMU_CONTAINMENT": mode, "TMPDIR": scratch}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().split("listening on ")[1].split()[0]
        functions = f"{endpoint}/2023-03-30/functions"
        request = urllib.request.Request(functions, method="POST",
                                         data=json.dumps(create).encode(),
                                         headers={"content-type": "application/json"})
        urllib.request.urlopen(request, timeout=30).close()
        invoke = urllib.request.Request(
            f"{functions}/{create['functionName']}/invocations", method="POST",
            data=payload, headers={"x-fc-invocation-type": "Async"})
        urllib.request.urlopen(invoke, timeout=30).close()
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(scratch, ignore_errors=True)
