"""Issue 9, point 6: memorySize is enforced.

A handler that allocates 600 MB with ``memorySize: 128`` no longer
succeeds: the instance is killed and the attempt fails as FC reports an
out-of-memory instance ("Process exited unexpectedly before completing
request", one of whose documented causes is OOM), with maxMemoryUsage over
the limit and a line in the log, and is retried like any function error.
A handler that stays under its memorySize is not disturbed.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import pytest

import fcemu
from fcemu.ids import IdGenerator
from fcemu.runtime import UNHANDLED, Runtimes
from tests.constants import T0
from tests.hardening.processes import linux_only
from tests.unit.test_runtime_worker import (
    boot_ticks,
    call,
    error,
    function,
    instance_processes,
)

pytestmark = linux_only

OOM = re.compile(r"Process exited unexpectedly before completing request "
                 r"\(duration: \d+ms, maxMemoryUsage: (\d+)MB\)")
#: event: "<MB to allocate>", "<MB>|hold" (keep it and sleep: only the watch can stop it) or
#: "<MB>|child" (a child process allocates and holds it: the instance counts its processes).
HOG = """\
import subprocess, sys, time

def handler(event, context):
    size, _, then = event.decode().partition("|")
    if then == "child":
        grab = f"import time; hog = bytearray({size} * 1024 * 1024); time.sleep(60)"
        subprocess.Popen([sys.executable, "-c", grab])
        time.sleep(60)
    hog = bytearray(int(size) * 1024 * 1024)
    if then == "hold":
        time.sleep(60)
    return f"allocated {len(hog) >> 20}MB"
"""
#: The same as a custom runtime: POST /invoke with the same event.
HOG_SERVER = """\
import http.server, os, time

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        size, _, then = self.rfile.read(int(self.headers["content-length"])).decode().partition("|")
        hog = bytearray(int(size) * 1024 * 1024)
        if then == "hold":
            time.sleep(60)
        body = f"allocated {len(hog) >> 20}MB".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
"""


def hog(tmp_path: Path, kind: str):
    code = tmp_path / kind
    code.mkdir()
    if kind == "python":
        (code / "index.py").write_text(HOG)
        return function("hog", code_dir=code, name="hog", memory_size=128, timeout=60)
    (code / "server.py").write_text(HOG_SERVER)
    return function("hog", code_dir=code, name="hog", memory_size=128, timeout=60,
                    runtime="custom.debian10",
                    custom_runtime_config={"command": [sys.executable, "server.py"]})


@pytest.mark.parametrize(("kind", "event", "expected"), [
    ("python", "20", "ok"),            # well under 128 MB: untouched
    ("python", "300", "oom"),          # a peak, gone by the time it returns: still over
    ("python", "300|hold", "oom"),     # over and holding it: killed while it runs
    ("python", "300|child", "oom"),    # a child process of the handler over it
    ("custom", "20", "ok"),
    ("custom", "300|hold", "oom"),
])
def test_an_instance_over_its_memory_size_is_killed(tmp_path, kind, event, expected):
    fn, since = hog(tmp_path, kind), boot_ticks()

    async def main():
        runtimes = Runtimes(IdGenerator(7))
        try:
            started = time.monotonic()
            outcome = await runtimes.invoke(call(fn, event.encode()))
            return outcome, time.monotonic() - started
        finally:
            await runtimes.close()

    outcome, took = asyncio.run(main())
    if expected == "ok":
        assert (outcome.kind, outcome.body) == ("ok", b"allocated 20MB")
        assert outcome.max_memory_mb <= 128
        return
    assert (outcome.kind, outcome.error_type) == ("crash", UNHANDLED)
    used = OOM.fullmatch(error(outcome)["errorMessage"])
    assert used and int(used[1]) > 128 and outcome.max_memory_mb == int(used[1])
    assert "fcemu: out of memory: the instance used" in outcome.logs
    assert outcome.logs.endswith("FC Invoke End RequestId: r-1\n")
    assert took < 30  # not the 60 s timeout: the watch killed it
    assert instance_processes(outcome.instance_id, since) == []


def test_600_mb_with_memory_size_128_fails_and_is_retried(tmp_path):
    code = tmp_path / "hog"
    code.mkdir()
    (code / "index.py").write_text(HOG)
    with fcemu.Emulator(clock="manual", start=T0, seed=7) as emu:
        emu.register_function("hog", code=code, memorySize=128, timeout=60)
        emu.put_async_invoke_config("hog", asyncTask=True, maxAsyncRetryAttempts=1,
                                    on_failure="failed")
        task_id = emu.invoke("hog", "600", asynchronous=True)
        emu.drain(timeout=60)
        task = emu.task("hog", task_id)
        message = emu.queue("failed").last.json()
        logs = emu.task_logs("hog", task_id)
    assert task["status"] == "Failed" and task["alreadyRetriedTimes"] == 1
    assert [e["status"] for e in task["events"]] == [
        "Enqueued", "Processed", "Running", "Retrying", "Running", "Failed"]
    assert task["taskErrorMessage"] == "UnhandledInvocationError"
    used = OOM.fullmatch(json.loads(message["responsePayload"])["errorMessage"])
    assert used and int(used[1]) > 128
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert logs.count("fcemu: out of memory") == 2
