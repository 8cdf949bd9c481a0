"""``fcemu serve``: one flushed ready line, then a clean exit on SIGINT and SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request

import pytest

from tests.cli.conftest import serving


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ready_line_then_clean_exit_on_signal(tmp_path, signum):
    with serving("--clock", "manual", "--seed", "3", log=tmp_path / "serve.log") as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.banner.count("\n") == 1
        with urllib.request.urlopen(f"{server.url}/_fcemu/health", timeout=30) as response:
            assert json.load(response) == {"status": "ok"}
        server.process.send_signal(signum)
        assert server.process.wait(timeout=30) == 0
        assert server.process.stdout is not None
        assert server.process.stdout.read() == "fcemu stopped\n"  # (issue 11: a last line)
        port = int(server.url.rsplit(":", 1)[1])
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))  # nothing listens any more
    assert "Traceback" not in server.stderr()
