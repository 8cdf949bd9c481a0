"""The express lane (:mod:`fcemu.api.express`): async submits answered as they are parsed,
with the same bytes, IDs and tasks as the full path (issue 13).

Each test runs one script of raw requests twice, on emulators with the same seed: with
the lane, and with it shut (``express.answer`` taking nothing). The answers must be the
same bytes (only ``Date`` masked), the tasks the same, and the lane must have answered
exactly the requests it is for. Raw sockets to 127.0.0.1; every read is bounded by a
socket timeout.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import fcemu
from fcemu.api import express, protocol
from fcemu.engine import Engine
from fcemu.engine.committer import Committer
from fcemu.store.sqlite import Batch

WAIT_S = 30.0
PATH = "/2023-03-30/functions/{}/invocations"
DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def post(name: str = "f", body: bytes = b"{}", *, version: str = "1.1", query: str = "",
         **headers: str) -> bytes:
    """A raw InvokeFunction request; ``headers`` with ``_`` for ``-`` (async unless told)."""
    fields = {"Host": "127.0.0.1", "x-fc-invocation-type": "Async",
              **{k.replace("_", "-"): v for k, v in headers.items()},
              "Content-Length": str(len(body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v != "")
    return (f"POST {PATH.format(name)}{query} HTTP/{version}\r\n{head}\r\n").encode() + body


def chunked(*pieces: bytes) -> bytes:
    """An async submit whose body is sent chunked (a chunk a piece), whole in one write."""
    return (f"POST {PATH.format('f')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "x-fc-invocation-type: Async\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + \
        b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses, each its raw bytes (``Date`` masked)."""
    data, kept, answers = b"", b"", []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end]
            found = re.search(rb"\r\nContent-Length: (\d+)", head, re.IGNORECASE)
            size = end + 4 + (int(found[1]) if found else 0)
            if len(data) >= size:
                interim, whole = head.startswith(b"HTTP/1.1 1"), data[:size]
                kept += whole  # an interim answer (100 Continue) is part of the next one
                data = data[size:]
                if not interim:
                    answers.append(DATE.sub(b"\r\nDate: -\r\n", kept))
                    kept = b""
                continue
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection; answers so far: {answers}"
        data += chunk
    assert not data, data
    return answers


@contextmanager
def emulator(**settings: Any) -> Iterator[fcemu.Emulator]:
    emu = fcemu.Emulator(**{"clock": "manual", "seed": 5, **settings})
    emu.start()
    try:
        emu.register_function("f", lambda event, context: event)
        emu.put_async_invoke_config("f", asyncTask=True)
        yield emu
    finally:
        emu.stop()


def run(batches: list[list[bytes]], *, lane: bool, during: Any = None, **settings: Any,
        ) -> tuple[list[bytes], list[dict[str, Any]], int]:
    """Send each batch in one write on one connection, read its answers: (answers, the
    tasks of ``f`` after a drain, how many requests the lane answered). ``during``: a
    context manager around the requests alone."""
    taken = 0
    real = express.answer

    def spy(*args: Any) -> bool | express.Held:
        nonlocal taken
        got = real(*args) if lane else False
        taken += got is True or isinstance(got, express.Held)
        return got

    with mock.patch.object(express, "answer", spy), emulator(**settings) as emu:
        answers: list[bytes] = []
        with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT_S) as sock, \
                during or nullcontext():
            for batch in batches:
                sock.sendall(b"".join(batch))
                answers += read_answers(sock, len(batch))
        emu.drain()
        # the GetAsyncTask documents, in submission order; a run's duration is real time
        tasks = [{**t, "durationMs": 0} for t in emu.tasks("f")]
    return answers, tasks, taken


def same_both_ways(batches: list[list[bytes]], **settings: Any) -> tuple[list[bytes], int]:
    """The answers and tasks, the same with and without the lane; and the lane's count."""
    full, full_tasks, none = run(batches, lane=False, **settings)
    fast, fast_tasks, taken = run(batches, lane=True, **settings)
    assert none == 0
    assert fast == full
    assert fast_tasks == full_tasks
    return fast, taken


def test_the_lane_answers_async_submits_with_the_routes_bytes_and_ids() -> None:
    answers, taken = same_both_ways([
        [post()],  # a connection's first request: the front door learns its Host
        [post()],  # generated task ID
        [post(x_fc_async_task_id="t-1", x_fc_async_delay="5")],
        [post(x_fc_trace_id="r-1")],  # the caller's request ID is the task ID too
        [post(body=b"")],
        [chunked(b'{"a": 1}')],
        [chunked(b'{"a": ', b"[1, 2", b"]}")],  # the payload holds three pieces
    ])
    assert taken == 6
    assert all(a.startswith(b"HTTP/1.1 202 Accepted\r\n") for a in answers), answers
    assert b"\r\nx-fc-async-task-id: t-1\r\n" in answers[2]
    assert b"\r\nx-fc-async-task-id: r-1\r\n" in answers[3]


def test_what_the_route_refuses_is_refused_by_the_full_path_with_the_same_ids() -> None:
    answers, taken = same_both_ways([
        [post()],
        [post(x_fc_async_task_id="t-1")],
        [post(x_fc_async_task_id="t-1")],  # 409 AsyncTaskAlreadyExists
        [post("nope")],  # 404 FunctionNotFound
        [post(x_fc_async_delay="x")],  # 400, from the header reading
        [post(x_fc_async_task_id="bad id!")],  # 400, from the engine
        [post(body=b"x" * (128 * 1024 + 1))],  # 400 EntityTooLarge: the body read, handed on
        [post("9-not-a-name")],  # 400, the name
        [post()],  # and the lane goes on
    ])
    assert [a.split(b" ", 2)[1] for a in answers] == [
        b"202", b"202", b"409", b"404", b"400", b"400", b"400", b"400", b"202"]
    assert taken == 2


def test_other_requests_take_the_full_path() -> None:
    answers, taken = same_both_ways([
        [post()],
        [post(x_fc_invocation_type="Sync")],
        [post(x_fc_invocation_type="")],  # Sync by default
        [post(query="?qualifier=LATEST")],
        [post("f%31")],
        [post(Origin="http://127.0.0.1:1")],
        [post(Host="evil.example")],  # 403, Host not allowed
        [post(Expect="100-continue")],
        [post()],
    ])
    assert [a.split(b" ", 2)[1] for a in answers] == [
        b"202", b"200", b"200", b"202", b"404", b"403", b"403", b"100", b"202"]
    assert answers[7].startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n")
    assert taken == 1


def test_pipelined_requests_are_answered_in_order_whichever_path_they_take() -> None:
    answers, taken = same_both_ways([
        [post()],
        [post(), post(x_fc_async_task_id="p-1"), post()],  # all three by the lane
        [post(), post(x_fc_invocation_type="Sync"), post(), post("nope"), post()],
        [post(x_fc_invocation_type="Sync"), post()],  # the reader answers both
    ])
    assert [a.split(b" ", 2)[1] for a in answers] == [
        b"202", b"202", b"202", b"202", b"202", b"200", b"202", b"404", b"202", b"200",
        b"202"]
    assert taken == 4  # after the first of a batch goes to the reader, the rest follow it


def test_in_durable_mode_the_lane_answers_once_the_task_is_committed(tmp_path: Path) -> None:
    """Durable mode answers a change once it is committed (the front door's step after the
    handler): the lane waits for the same commit, and answers nothing else meanwhile."""
    batches = [[post()], [post()], [post(), post(x_fc_invocation_type="Sync"), post()],
               [post("nope"), post()]]
    full, full_tasks, _ = run(batches, lane=False, data_dir=tmp_path / "a")
    fast, fast_tasks, taken = run(batches, lane=True, data_dir=tmp_path / "b")
    assert (fast, fast_tasks) == (full, full_tasks)
    assert taken == 2  # the 2nd; the 3rd batch's first (the Sync one then wakes the reader)
    assert [a.split(b" ", 2)[1] for a in fast] == [
        b"202", b"202", b"202", b"200", b"202", b"404", b"202"]


def test_a_commit_that_fails_is_answered_as_the_full_path_answers_it(tmp_path: Path) -> None:
    def failing(committer: Committer) -> Batch:  # every batch fails: its answers are 503s
        raise OSError("the change could not be stored (a test)")

    batches = [[post()], [post()], [post(), post()]]
    full, full_tasks, _ = run(batches, lane=False, data_dir=tmp_path / "a",
                              during=mock.patch.object(Committer, "_collect", failing))
    fast, fast_tasks, taken = run(batches, lane=True, data_dir=tmp_path / "b",
                                  during=mock.patch.object(Committer, "_collect", failing))
    assert (fast, fast_tasks) == (full, full_tasks)
    assert taken == 3
    assert all(a.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") for a in fast), fast
    assert b'"Code":"ServiceUnavailable"' in fast[1]


def test_verify_mode_takes_the_full_path() -> None:
    """Verify mode checks each request's signature: unsigned ones are refused, the same
    way with the lane."""
    answers, taken = same_both_ways([[post()], [post()], [post(), post()]],
                                    access_keys=(("ak", "sk"),))
    assert taken == 0
    assert all(not a.startswith(b"HTTP/1.1 202") for a in answers), answers


def test_follow_mode_takes_the_full_path() -> None:
    """Follow mode fires what fell due by the process's time before each request: a step
    the lane does not have."""
    answers, _, taken = run([[post()], [post()], [post(), post()]], lane=True,
                            clock="follow")
    assert taken == 0
    assert all(a.startswith(b"HTTP/1.1 202 Accepted\r\n") for a in answers), answers


def test_the_keep_alive_runs_from_the_lanes_last_answer() -> None:
    seen: list[tuple[float, float]] = []
    real = protocol._Connection._express

    def express_and_note(self: Any, waiter: Any) -> None:
        before = self._loop.time()
        real(self, waiter)
        if not self._messages:
            seen.append((before, self._next_keepalive_close_time))
            assert self._keepalive_handle is not None

    with mock.patch.object(protocol._Connection, "_express", express_and_note), \
            emulator() as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT_S) as sock:
            for _ in range(4):
                sock.sendall(post())
                read_answers(sock, 1)
    assert len(seen) == 3
    assert all(close > at for at, close in seen)


def test_a_connection_lost_while_its_answer_waits_for_the_commit_ends_its_reader(
        tmp_path: Path) -> None:
    """The reader's waiter, kept aside while the answer waits, is woken by the close (as
    aiohttp wakes it), so the connection's task ends instead of waiting for ever."""
    held, lost = threading.Event(), threading.Event()
    waiters: list[asyncio.Future[None]] = []
    real_hold, real_lost = protocol._Connection._hold, protocol._Connection.connection_lost

    def never(engine: Engine) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()  # a commit that never ends

    def hold(self: Any, answer: express.Held, waiter: asyncio.Future[None]) -> None:
        real_hold(self, answer, waiter)
        waiters.append(waiter)
        held.set()

    def connection_lost(self: Any, exc: BaseException | None) -> None:
        real_lost(self, exc)
        if waiters:
            lost.set()

    with mock.patch.object(protocol._Connection, "_hold", hold), \
            mock.patch.object(protocol._Connection, "connection_lost", connection_lost), \
            emulator(data_dir=tmp_path) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=WAIT_S) as sock:
            sock.sendall(post())
            read_answers(sock, 1)
            with mock.patch.object(Engine, "commit_waiter", never):
                sock.sendall(post())
                assert held.wait(WAIT_S)
        assert lost.wait(WAIT_S)
        assert waiters[0].done()  # woken (aiohttp cancels it) or ended
