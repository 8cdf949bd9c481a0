"""A worker's result frame: a JSON array, its fields at ``protocol.RESULT_*``.

The Python worker (fcemu/runtime/_worker_main.py) answers each request with
``["result", request_id, kind, body, error_type, maxrss_kb, children]``, as the Node.js
worker does (tests/unit/test_node_worker_replies.py). The server settles the request's
reply future with it in the pipe's callback; a result without all its fields breaks the
protocol as a frame it cannot read does: the pending requests fail as the process's end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcemu.runtime import protocol
from fcemu.runtime.pipes import FrameSink
from fcemu.runtime.protocol import FRAME_HEADER, encode_frame
from fcemu.runtime.worker import _MAIN, WorkerInstance
from fcemu.runtime.worker_requests import _WorkerGone
from tests.unit.test_runtime_worker import function

HANDLER = "def handler(event, context):\n    return event[::-1]\n"


def _read_frame(out: int) -> object:
    def read(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = os.read(out, size - len(data))
            assert chunk, "the worker ended"
            data += chunk
        return data

    (size,) = FRAME_HEADER.unpack(read(FRAME_HEADER.size))
    return json.loads(read(size))


@pytest.mark.skipif(sys.platform != "linux", reason="the worker's peak reads getrusage")
def test_the_python_worker_answers_with_a_result_array(tmp_path: Path) -> None:
    (tmp_path / "index.py").write_text(HANDLER)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FC_FUNCTION_HANDLER": "index.handler",
           "FC_FUNCTION_NAME": "f", "FC_FUNCTION_MEMORY_SIZE": "128", "FC_TIMEOUT": "3",
           "FC_RUNTIME": "python3.10", "FC_REGION": "cn-hangzhou", "FC_ACCOUNT_ID": "1"}
    proc = subprocess.Popen([sys.executable, _MAIN], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        hello = _read_frame(proc.stdout.fileno())
        assert isinstance(hello, dict) and hello["type"] == "hello"
        proc.stdin.write(encode_frame({
            "type": "invoke", "request_id": "r-1", "qualifier": "LATEST",
            "credentials": {"access_key_id": "a", "access_key_secret": "b",
                            "security_token": "c"},
            "payload": base64.b64encode(b"abc").decode()}))
        proc.stdin.flush()
        result = _read_frame(proc.stdout.fileno())
    finally:
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()
    assert isinstance(result, list) and len(result) == protocol.RESULT_FIELDS
    assert result[0] == "result" and result[protocol.RESULT_REQUEST_ID] == "r-1"
    assert (result[protocol.RESULT_KIND], result[protocol.RESULT_ERROR_TYPE]) == ("ok", "")
    assert base64.b64decode(result[protocol.RESULT_BODY]) == b"cba"
    assert result[protocol.RESULT_MAXRSS_KB] > 0 and result[protocol.RESULT_CHILDREN] is False


def test_a_result_settles_its_request_and_a_short_one_breaks_the_protocol() -> None:
    async def body() -> tuple[object, BaseException | None, bool]:
        instance = WorkerInstance(function("echo"), "key", "i-1", sys.executable)
        sink = FrameSink(instance._on_frame, instance._frames_ended)
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        instance._pending.update({"r-1": (first, None, None), "r-2": (second, None, None)})
        result = ["result", "r-1", "ok", "eA==", "", 1024, False]
        sink.feed(encode_frame(result) + encode_frame(["result", "r-2", "ok"]))
        return first.result(), second.exception(), sink.ended.is_set()

    settled, failed, ended = asyncio.run(body())
    assert settled == ["result", "r-1", "ok", "eA==", "", 1024, False]
    assert isinstance(failed, _WorkerGone) and ended


def test_the_deadline_timer_times_out_what_is_due_and_waits_for_the_next_unanswered() -> None:
    """One entry a pending request (its future, deadline, begin time): the timer times out
    the unanswered requests whose deadline has come, and waits for the earliest deadline of
    those still unanswered (an answered request not collected yet has none left)."""

    async def body() -> tuple[object, BaseException | None, bool, float | None]:
        instance = WorkerInstance(function("echo"), "key", "i-1", sys.executable)
        loop = asyncio.get_running_loop()
        instance._loop = loop
        answered, due, later, untimed = (loop.create_future() for _ in range(4))
        answered.set_result(["result"])
        now = loop.time()
        instance._pending.update({"a": (answered, now - 2, None), "b": (due, now - 1, now),
                                  "c": (later, now + 100, None), "d": (untimed, None, None),
                                  "e": (answered, now + 50, None)})
        instance._deadlines_due()
        timer = instance._deadline_timer
        waits = None if timer is None else instance._deadline_at - now
        if timer is not None:
            timer.cancel()
        return answered.result(), due.exception(), later.done() or untimed.done(), waits

    answered, failed, settled, waits = asyncio.run(body())
    assert answered == ["result"] and isinstance(failed, asyncio.TimeoutError)
    assert not settled and waits == pytest.approx(100)  # (now + 100) - now: a float
