"""One request at a time, the server writes a worker request's ``FC Invoke`` lines.

As it sends the request (after what the instance's log pipe holds by then) and as it
reads the reply (after what the pipe holds then: the worker writes its output before
its reply), so a request costs one wake-up, its reply (fcemu.runtime.worker_requests).
These tests check what a user sees of that: a request's log is its own output between
its two lines, output written between requests is the instance's, a request sent while
the worker still runs an earlier one (whose caller went away) keeps its own log, in
the Python and the Node.js workers alike. Handlers hand over with FIFOs, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from fcemu.models import Function
from fcemu.runtime import Outcome, Runtimes, pipes
from fcemu.runtime.frames import invoke_frame
from fcemu.runtime.logs import LogStream, framed
from tests.fifos import HANDOVER_S, hold_open, read_fifo
from tests.unit.test_runtime_worker import call, function, run

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

PYTHON = '''
import os, sys, threading

def later():
    with open(os.environ["GO_FIFO"]) as go:
        go.read(2)
    os.write(2, b"between requests\\n")
    print("a buffered line from the thread", flush=True)
    with open(os.environ["READY_FIFO"], "w") as ready:
        ready.write("1")

def handler(event, context):
    what = event.decode()
    print(f"event={what}", flush=True)
    if what == "thread":
        threading.Thread(target=later, daemon=True).start()
    if what == "partial":
        sys.stdout.write("no newline")
    if what == "large":  # more than a pipe holds: the worker waits for the server to read
        os.write(2, b"x" * 300_000 + b"\\n")
        print("last line", flush=True)
    if what == "wait":
        with open(os.environ["READY_FIFO"], "w") as ready:
            ready.write("1")
        with open(os.environ["GO_FIFO"]) as go:
            go.read(2)
    return what
'''

NODE = '''
const fs = require('fs');
exports.handler = (event, context, callback) => {
  const what = event.toString();
  process.stdout.write(`event=${what}\\n`);
  if (what === 'later') {
    setTimeout(() => {
      const go = fs.openSync(process.env.GO_FIFO, 'r');
      fs.readSync(go, Buffer.alloc(2), 0, 2, null);
      fs.closeSync(go);
      process.stderr.write('between requests\\n');
      fs.writeFileSync(process.env.READY_FIFO, '1');
    }, 0);
  }
  if (what === 'partial') process.stdout.write('no newline');
  callback(null, what);
};
'''


def _function(tmp_path: Path, source: str, file: str, runtime: str) -> Function:
    code = tmp_path / "code"
    code.mkdir()
    (code / file).write_text(source)
    fifos = {}
    for name in ("GO_FIFO", "READY_FIFO"):
        fifos[name] = str(tmp_path / name.lower())
        os.mkfifo(fifos[name])
    # a generous timeout: a worker killed by its deadline on a loaded machine would leave
    # a hand-over waiting for it
    return function("markers", code_dir=code, runtime=runtime, environment_variables=fifos,
                    timeout=120)


@pytest.fixture
def python_fn(tmp_path: Path) -> Function:
    return _function(tmp_path, PYTHON, "index.py", "python3.10")


@pytest.fixture
def node_fn(tmp_path: Path) -> Function:
    return _function(tmp_path, NODE, "index.js", "nodejs18")


async def _go(fn: Function) -> None:
    """Let the handler's background work go on, and wait until it says it is done."""
    fd = hold_open(fn.environment_variables["GO_FIFO"], b"go")  # it reads those two bytes
    try:
        await read_fifo(fn.environment_variables["READY_FIFO"])
    finally:
        os.close(fd)


def _between_requests(fn: Function, first: str) -> tuple[Outcome, Outcome, str]:
    async def body(rt: Runtimes) -> tuple[Outcome, Outcome, str]:
        one = await rt.invoke(call(fn, first.encode(), "r-1"))
        await _go(fn)  # its output is in the pipe before the next request is sent
        two = await rt.invoke(call(fn, b"b", "r-2"))
        return one, two, rt.instances()[0]["log"]

    return run(body)  # type: ignore[no-any-return]


def test_output_written_between_requests_is_the_instances_log(python_fn):
    one, two, instance_log = _between_requests(python_fn, "thread")
    assert one.logs == framed("r-1", "event=thread\n")
    assert two.logs == framed("r-2", "event=b\n")
    assert "between requests\na buffered line from the thread\n" in instance_log
    assert "FC Invoke" not in instance_log


@needs_node
def test_node_output_written_between_requests_is_the_instances_log(node_fn):
    one, two, instance_log = _between_requests(node_fn, "later")
    assert one.logs == framed("r-1", "event=later\n")
    assert two.logs == framed("r-2", "event=b\n")
    assert "between requests\n" in instance_log and "FC Invoke" not in instance_log


@pytest.mark.parametrize("fixture", ["python_fn", pytest.param("node_fn", marks=needs_node)])
def test_output_without_a_last_newline_gets_the_end_line_on_a_line_of_its_own(fixture, request):
    fn = request.getfixturevalue(fixture)

    async def body(rt: Runtimes) -> list[Outcome]:
        return [await rt.invoke(call(fn, event, f"r-{i}"))
                for i, event in enumerate((b"partial", b"b"))]

    partial, after = run(body)
    assert partial.logs == ("FC Invoke Start RequestId: r-0\nevent=partial\n"
                            "no newline\nFC Invoke End RequestId: r-0\n")
    assert after.logs == framed("r-1", "event=b\n")


def test_output_larger_than_the_pipe_is_all_before_the_end_line(python_fn):
    async def body(rt: Runtimes) -> list[Outcome]:
        return [await rt.invoke(call(python_fn, event, f"r-{i}"))
                for i, event in enumerate((b"large", b"b"))]

    large, after = run(body)
    assert large.logs == framed("r-0", "event=large\n" + "x" * 300_000 + "\nlast line\n")
    assert after.logs == framed("r-1", "event=b\n")


def test_a_request_sent_while_the_worker_runs_an_abandoned_one_keeps_its_own_log(python_fn):
    async def body(rt: Runtimes) -> tuple[Outcome, str]:
        abandoned = asyncio.create_task(rt.invoke(call(python_fn, b"wait", "r-1")))
        await read_fifo(python_fn.environment_variables["READY_FIFO"])
        abandoned.cancel()  # its slot is free; the worker still runs it
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        after = asyncio.create_task(rt.invoke(call(python_fn, b"b", "r-2")))
        go = hold_open(python_fn.environment_variables["GO_FIFO"], b"go")
        try:
            return await asyncio.wait_for(after, HANDOVER_S), rt.instances()[0]["log"]
        finally:
            os.close(go)

    after, instance_log = run(body, max_instances=1)
    assert (after.kind, after.body, after.logs) == ("ok", b"b", framed("r-2", "event=b\n"))
    assert instance_log.endswith(framed("r-1", "event=wait\n"))


def test_the_worker_writes_the_markers_of_a_frame_that_asks():
    fn = function("markers", code_dir=Path("/nonexistent"))
    plain = json.loads(invoke_frame(call(fn, b"x", "r-1"))[4:])
    asks = json.loads(invoke_frame(call(fn, b"x", "r-1"), markers=True)[4:])
    assert "markers" not in plain and asks == {**plain, "markers": True}


def test_an_end_line_goes_in_front_of_a_later_requests_start_line():
    log = LogStream()
    log.feed(b"FC Invoke Start RequestId: a\nout a\nFC Invoke Start RequestId: b\nout b\n")
    log.feed_before(b"FC Invoke End RequestId: a\n", b"FC Invoke Start RequestId: b\n")
    log.feed_before(b"FC Invoke End RequestId: b\n", b"FC Invoke Start RequestId: c\n")
    assert log.take(b"FC Invoke Start RequestId: b\n",
                    b"FC Invoke End RequestId: b\n") == framed("b", "out b\n")


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ended = False

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)

    def end(self) -> None:
        self.ended = True


def test_a_pipe_drain_reads_what_the_pipe_holds_and_leaves_its_end_to_the_transport(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipes, "READ_SIZE", 4)  # several reads for one drain

    async def body() -> tuple[list[bytes], list[bytes], bool]:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        sink = _Sink()
        transport, _ = await loop.connect_read_pipe(
            lambda: _Forward(sink), os.fdopen(read_fd, "rb", buffering=0))
        drain = pipes.PipeDrain(transport, sink)
        drain.take_held()  # empty: nothing is read, nothing raises
        os.write(write_fd, b"0123456789")
        drain.take_held()  # at once, before the loop polls the pipe
        now = list(sink.chunks)
        os.close(write_fd)
        drain.take_held()  # at its end: left to the transport
        for _ in range(100):
            if sink.ended:
                break
            await asyncio.sleep(0)
        later = list(sink.chunks)
        drain.take_held()  # closing: not read
        return now, later, sink.ended

    now, later, ended = asyncio.run(body())
    assert b"".join(now) == b"0123456789" and len(now) == 3
    assert later == now and ended


class _Forward(asyncio.Protocol):
    def __init__(self, sink: _Sink) -> None:
        self._sink = sink

    def data_received(self, data: bytes) -> None:
        self._sink.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink.end()
