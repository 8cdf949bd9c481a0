"""The CLI never prints a traceback for what a user does (issue 11, failure 7): a reader that
closes standard output (``| head``), Ctrl-C while ``--wait`` follows a task, ``--wait`` on a
manual clock, and an unexpected error (one line; ``--debug`` shows the traceback)."""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from fcemu.cli import commands
from fcemu.cli.client import Client
from fcemu.cli.format import Output
from fcemu.cli.main import main
from tests.cli.conftest import DEMO, ROOT, Local, environment, serving_here

INVOKE = ("invoke", "my-fc-job", "--async", "--payload", "{}")


@pytest.fixture
def manual(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Local]:
    monkeypatch.chdir(DEMO)
    with serving_here(capsys, "--clock", "manual", "--config", "s.yaml", "--config",
                      "fast.fcemu.yaml") as server:
        yield server


@pytest.fixture
def real(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Local]:
    monkeypatch.chdir(DEMO)
    with serving_here(capsys, "--config", "s.yaml", "--config", "fast.fcemu.yaml") as server:
        yield server


def _cli(url: str, *args: str, stdout: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "fcemu", "--endpoint", url, *args],
                            cwd=ROOT, env=environment(), stdout=stdout, stderr=subprocess.PIPE)


def test_a_closed_stdout_ends_quietly_with_141(manual: Local) -> None:
    for task_id in ("t1", "t2"):
        assert manual(*INVOKE, "--task-id", task_id).code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before fcemu writes: `| head` that stopped
    process = _cli(manual.url, "tasks", "--json", stdout=write_end)
    os.close(write_end)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (141, b"")


def test_ctrl_c_while_waiting_is_one_line_and_130(real: Local) -> None:
    process = _cli(real.url, *INVOKE, "--task-id", "later", "--delay", "3600", "--wait", "60",
                   stdout=subprocess.PIPE)
    assert process.stderr is not None
    seen, deadline = b"", time.monotonic() + 60
    while b"task later: Enqueued\n" not in seen:  # the readiness line: it is polling now
        ready, _, _ = select.select([process.stderr], [], [], max(deadline - time.monotonic(), 0))
        assert ready, f"no readiness line after 60 s: {seen!r}"
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"fcemu ended early: {seen!r}"
        seen += chunk
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert (seen + err).decode().splitlines() == [
        "task later: Enqueued",
        "fcemu: interrupted; task later goes on: `fcemu task my-fc-job later` shows it"]
    assert out == b""


def test_wait_on_a_manual_clock_settles_then_fails_fast(manual: Local) -> None:
    done = manual(*INVOKE, "--task-id", "now", "--wait", "30")
    assert done.code == 0, done.err
    assert done.out.splitlines()[-1].startswith("task now ended Succeeded")
    delayed = manual(*INVOKE, "--task-id", "later", "--delay", "60", "--wait", "30")
    assert delayed.code == 1
    assert delayed.err.splitlines() == [
        "task later: Enqueued",
        "fcemu: task later is Enqueued, waiting for the emulator's manual clock, which moves "
        "only when told: run `fcemu clock advance 1m` (or `fcemu drain`), then "
        "`fcemu task my-fc-job later`"]
    assert manual("clock", "advance", "1m").code == 0
    assert "Succeeded" in manual("task", "my-fc-job", "later").out


@pytest.mark.parametrize(("args", "says"), [
    (("invoke", "my-fc-job", "--wait", "5"), "--wait follows an async task: add --async"),
    (("tasks", "--qualifier", "LATEST"),
     "--qualifier needs a FUNCTION: fcemu tasks FUNCTION --qualifier Q"),
])
def test_usage_errors(manual: Local, args: tuple[str, ...], says: str) -> None:
    result = manual(*args)
    assert (result.code, result.err.strip()) == (2, f"fcemu: {says}")


def test_an_unexpected_error_is_one_line_unless_debug(
        manual: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(client: Client, args: argparse.Namespace, out: Output) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setitem(commands.COMMANDS, "queues", broken)
    result = manual("queues")
    assert (result.code, result.err) == (70, "fcemu: unexpected error: RuntimeError: a bug (run "
                                             "with --debug for the traceback, and please report "
                                             "it)\n")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--endpoint", manual.url, "queues", "--debug"])
