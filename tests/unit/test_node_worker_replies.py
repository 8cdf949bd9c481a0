"""What the Node.js worker (fcemu/runtime/node/worker.js) says about itself in its replies.

``children``: whether the worker may have child processes (then the server reads the
instance's processes after the request; without, it checks the peak the worker reported and
reads the others at most once per ``MEMORY_POLL_S``). ``maxrss_kb``: the worker's own peak
(``VmHWM``), from ``getrusage`` once that can be trusted: ``ru_maxrss`` survives ``exec``, and
the worker is started from the emulator. The worker runs here as fcemu/runtime/nodejs.py
starts it, and the tests speak its protocol directly. End to end (an instance's memory
counting a Node.js handler's child): tests/unit/test_runtime_nodejs_children.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fcemu.runtime import protocol
from fcemu.runtime.nodejs import _SH, _SHIM, WORKER_JS
from fcemu.runtime.protocol import FRAME_HEADER, encode_frame

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: apt-get install nodejs"),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status"),
]

#: Seconds a frame may take to come (a bound, not a wait: frames come at once).
FRAME_S = 60.0

HANDLER = r"""
const { spawn, execFile } = require('child_process');
const { once } = require('events');
const { Worker } = require('worker_threads');
const fs = require('fs');
const held = { child: null, worker: null, hog: null };
const vmHwm = () => parseInt(/^VmHWM:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status',
  'latin1'))[1], 10);
exports.handler = async (event) => {
  switch (event.toString()) {
    case 'plain': return 'plain';
    case 'spawn': held.child = spawn('sleep', ['60']); return held.child.pid;
    case 'detached':
      held.child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      held.child.unref();
      return held.child.pid;
    case 'kill': held.child.kill(); await once(held.child, 'exit'); return 'killed';
    case 'exited': await new Promise((done) => execFile('true', done)); return 'exited';
    case 'thread':
      held.worker = new Worker('setInterval(() => {}, 1000);', { eval: true });
      return 'thread';
    case 'end-thread': await held.worker.terminate(); return 'ended';
    case 'grow': held.hog = Buffer.alloc(200 * 1024 * 1024, 1); return vmHwm();
    default: return vmHwm();
  }
};
"""

#: Grows to 300 MB, then replaces itself with the worker, as the emulator starts it.
EXEC_FROM_BIG = """
import os, sys
hog = bytearray(300 * 1024 * 1024)
os.execv(sys.argv[1], sys.argv[1:])
"""


def tells_children() -> bool:
    """Whether this node has the diagnostics channels worker.js follows children with."""
    done = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, check=True)
    version = tuple(int(n) for n in re.findall(r"\d+", done.stdout)[:2])
    return version >= (18, 9) or (16, 18) <= version < (17, 0)


class Worker:
    """One worker.js process, started as the Node.js runtime starts it."""

    def __init__(self, code_dir: Path, from_big: bool = False) -> None:
        command = [_SH, "-c", _SHIM, str(NODE), WORKER_JS]
        if from_big:
            command = [sys.executable, "-c", EXEC_FROM_BIG, *command]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FC_RUNTIME": "nodejs18",
               "FC_FUNCTION_HANDLER": "index.handler"}
        self.proc = subprocess.Popen(command, cwd=code_dir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self._selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.hello = self._frame()
        assert self.hello["type"] == "hello"

    def _read(self, size: int) -> bytes:
        assert self.proc.stdout is not None
        data = b""
        while len(data) < size:
            assert self._selector.select(FRAME_S), "no reply from the worker"
            chunk = os.read(self.proc.stdout.fileno(), size - len(data))
            assert chunk, "the worker ended"
            data += chunk
        return data

    def _frame(self) -> dict:
        """The next frame; a result (an array: ``protocol.RESULT_*``) as a dict by field."""
        (size,) = FRAME_HEADER.unpack(self._read(FRAME_HEADER.size))
        frame = json.loads(self._read(size))
        if isinstance(frame, list):
            assert frame[0] == "result" and len(frame) == protocol.RESULT_FIELDS, frame
            return {"type": "result", "request_id": frame[protocol.RESULT_REQUEST_ID],
                    "kind": frame[protocol.RESULT_KIND], "body": frame[protocol.RESULT_BODY],
                    "error_type": frame[protocol.RESULT_ERROR_TYPE],
                    "maxrss_kb": frame[protocol.RESULT_MAXRSS_KB],
                    "children": frame[protocol.RESULT_CHILDREN]}
        return frame  # type: ignore[no-any-return]

    def invoke(self, event: str) -> tuple[object, dict]:
        assert self.proc.stdin is not None
        request_id = f"r-{event}"
        self.proc.stdin.write(encode_frame({
            "type": "invoke", "request_id": request_id, "markers": False,
            "payload": base64.b64encode(event.encode()).decode()}))
        self.proc.stdin.flush()
        reply = self._frame()
        assert (reply["type"], reply["request_id"], reply["kind"]) == (
            "result", request_id, "ok"), reply
        body = base64.b64decode(reply["body"])
        return (int(body) if body.isdigit() else body.decode()), reply

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the worker ends at the end of its input
        self.proc.wait(FRAME_S)
        self._selector.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "index.js").write_text(HANDLER)
    return tmp_path


@pytest.fixture
def worker(code_dir: Path) -> Iterator[Worker]:
    started = Worker(code_dir)
    try:
        yield started
    finally:
        if started.proc.poll() is None:
            started.proc.kill()
        started.close()


def test_a_reply_says_children_while_a_child_runs(worker):
    if not tells_children():  # then it always says true
        assert worker.invoke("plain")[1]["children"] is True
        return
    assert worker.invoke("plain")[1]["children"] is False
    worker.invoke("exited")  # a child that ended: Node reaped it, none is left
    assert worker.invoke("plain")[1]["children"] is False
    assert worker.invoke("spawn")[1]["children"] is True
    assert worker.invoke("plain")[1]["children"] is True  # still running
    worker.invoke("kill")  # reaped; its handle may still be closing: true or false
    assert worker.invoke("plain")[1]["children"] is False


def test_a_detached_unrefd_child_counts_too(worker):
    # not in process.getActiveResourcesInfo(): the worker follows its ChildProcess objects
    if not tells_children():
        pytest.skip("this Node.js always says children")
    assert worker.invoke("detached")[1]["children"] is True
    assert worker.invoke("plain")[1]["children"] is True
    worker.invoke("kill")
    assert worker.invoke("plain")[1]["children"] is False


def test_a_running_worker_thread_counts_as_children(worker):
    # its child processes cannot be seen from the main thread
    if not tells_children():
        pytest.skip("this Node.js always says children")
    assert worker.invoke("thread")[1]["children"] is True
    worker.invoke("end-thread")
    assert worker.invoke("plain")[1]["children"] is False


def close(a: int, b: int) -> bool:
    return abs(a - b) <= 2048  # KiB: the kernel's counters differ by a few pages


@pytest.mark.parametrize("from_big", [False, True], ids=["fresh", "exec-from-300MB"])
def test_maxrss_is_the_workers_own_vmhwm(code_dir, from_big):
    worker = Worker(code_dir, from_big=from_big)
    try:
        hwm, reply = worker.invoke("hwm")
        assert close(reply["maxrss_kb"], hwm) and hwm < 150 * 1024  # not the 300 MB
        assert worker.hello["maxrss_kb"] < 150 * 1024
        hwm, reply = worker.invoke("grow")
        assert close(reply["maxrss_kb"], hwm) and hwm > 200 * 1024
    finally:
        worker.close()
