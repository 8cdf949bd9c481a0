"""CLI messages written for a CLI user (issue 11, failure 8): moving a real clock names
``fcemu serve --clock manual``, a port in use suggests ``--port 0``, and ``fcemu --help``
gives the exit codes of every kind of command."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from fcemu.cli import client
from fcemu.cli.main import EXIT_CODES, build_parser
from fcemu.cli.serve import listen_hint
from tests.cli.conftest import DEMO, Local, fcemu, serving_here

REAL_CLOCK = ("fcemu: the emulator runs on a real clock (wall time), which `fcemu {}` cannot "
              "move: start it with `fcemu serve --clock manual` to move time by hand")


@pytest.fixture
def real(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Local]:
    monkeypatch.chdir(DEMO)
    with serving_here(capsys, "--config", "s.yaml") as server:
        yield server


@pytest.mark.parametrize(("args", "command"), [
    (("clock", "advance", "5m"), "clock advance"),
    (("clock", "set", "2030-01-01T00:00:00Z"), "clock set"),
    (("drain",), "drain"),
])
def test_moving_a_real_clock_says_how_to_start_a_manual_one(
        real: Local, args: tuple[str, ...], command: str) -> None:
    result = real(*args)
    assert (result.code, result.out, result.err) == (1, "", REAL_CLOCK.format(command) + "\n")
    assert real("settle").code == 0  # settling needs no manual clock


def test_a_port_in_use_suggests_port_0() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fcemu("serve", "--port", str(port))
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"fcemu: cannot listen on 127.0.0.1:{port}: ")
    assert result.err.rstrip().endswith(
        "; another program (another fcemu?) listens there: pick another port with --port N, "
        "or --port 0 for a free one (the ready line prints the URL)")


@pytest.mark.parametrize(("error", "says"), [
    (OSError(errno.EACCES, "permission denied"), "ports below 1024 need privileges"),
    (OSError(errno.EADDRNOTAVAIL, "cannot assign"), "--host must be an address of this"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "--host must be"),
    (OSError(errno.EIO, "i/o"), ""),
])
def test_listen_hints(error: OSError, says: str) -> None:
    hint = listen_hint(error)
    assert says in hint and (hint == "") == (says == "")


def test_help_lists_every_exit_code() -> None:
    codes = {v for k, v in vars(client).items() if k.startswith("EXIT_")}
    assert codes == {0, 1, 2, 3, 70, 130, 141}
    listed = {int(line.split()[0]) for line in EXIT_CODES.splitlines()[1:]
              if line.strip()[0].isdigit()}
    assert listed == codes
    assert EXIT_CODES in build_parser().format_help()
    assert "serve: cannot listen" in EXIT_CODES and "serve: stopped" in EXIT_CODES
