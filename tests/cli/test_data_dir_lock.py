"""One ``fcemu serve`` per data directory: a second one is refused before it touches the
directory (even one that could not have listened anyway), and a server killed with
``kill -9`` leaves no lock behind (the kernel releases it).

Manual clocks; the servers are subprocesses this test starts and ends (tests/cli/
test_crash.py's helpers).
"""

from __future__ import annotations

import marshal
import sqlite3
import subprocess
import sys
from pathlib import Path

from fcemu.store.sqlite import Batch
from fcemu.store.writer import _frame
from tests.cli.conftest import environment
from tests.cli.test_crash import ECHO, FC, deploy, serving


def second_server(data: Path, port: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fcemu", "serve", "--port", port, "--clock", "manual",
         "--data-dir", str(data)], env=environment(), capture_output=True, text=True,
        timeout=120)


def test_a_second_server_is_refused_and_the_first_keeps_working(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    with serving(data, log) as first:
        deploy(first, "f", ECHO)
        before = sorted(p.name for p in data.iterdir())
        # the same port too: refused for the directory before it tries to listen
        refused = second_server(data, first.url.rsplit(":", 1)[1])
        assert refused.returncode == 1, refused.stderr
        assert f"--data-dir {data} is in use by another fcemu " \
               f"(process {first.process.pid})" in refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
        assert sorted(p.name for p in data.iterdir()) == before  # fcemu-code-* kept
        status, body = first.call("POST", f"{FC}/functions/f/invocations", b'"hi"')
        assert (status, body) == (200, b'"hi"')
        first.kill9()  # the kernel releases the lock of a killed server
    with serving(data, log) as again:
        status, body = again.call("POST", f"{FC}/functions/f/invocations", b'"again"')
        assert (status, body) == (200, b'"again"')


def test_a_database_fcemu_cannot_read_exits_2_with_a_message(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    with serving(data, log) as server:
        deploy(server, "f", ECHO)
    db = sqlite3.connect(data / "fcemu.db")
    db.execute("UPDATE meta SET value = x'00ff00' WHERE key = 'counters'")
    db.commit()
    db.close()
    result = second_server(data, "0")
    assert result.returncode == 2, result.stderr
    assert f"{data / 'fcemu.db'} is damaged (the counters cannot be read" in result.stderr
    assert "Traceback" not in result.stderr and "report" not in result.stderr


def test_durability_without_a_data_dir_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fcemu", "serve", "--port", "0", "--durability", "relaxed"],
        env=environment(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--durability needs --data-dir DIR" in result.stderr


def test_the_writer_process_ends_quietly_when_its_server_is_gone(tmp_path: Path) -> None:
    """Its answer cannot go out (the server was killed): no BrokenPipeError traceback."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "fcemu.store.writer", str(tmp_path), "strict"],
        env=environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdout.close()  # as a killed server's end of the pipe
    writer.stdin.write(_frame(Batch(counters=marshal.dumps({"n": 1}))))
    writer.stdin.close()
    assert writer.stderr is not None
    errors = writer.stderr.read()  # until it ends
    writer.stderr.close()
    assert (writer.wait(timeout=120), errors) == (0, b"")
