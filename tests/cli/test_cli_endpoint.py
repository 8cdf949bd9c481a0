"""``--endpoint`` and ``FCEMU_ENDPOINT`` take ``http://HOST:PORT`` or ``HOST:PORT`` (taken as
http); anything else is a usage error (exit 2) saying what is expected, never "no emulator
listening" (exit 3) while one listens (audit 20, point 6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fcemu.cli.client import parse_endpoint
from fcemu.cli.main import main
from tests.cli.conftest import DEMO, Local, serving_here

EXPECTED = "expected http://HOST:PORT (or HOST:PORT), e.g. http://127.0.0.1:9000, got "


@pytest.fixture
def local(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Local]:
    monkeypatch.chdir(DEMO)
    monkeypatch.delenv("FCEMU_ENDPOINT", raising=False)
    with serving_here(capsys, "--config", "s.yaml") as server:
        yield server


@pytest.mark.parametrize(("text", "url"), [
    ("127.0.0.1:9000", "http://127.0.0.1:9000"),
    (" localhost:80/ ", "http://localhost:80"),
    ("[::1]:9000", "http://[::1]:9000"),
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
    ("https://fcemu.test", "https://fcemu.test"),
])
def test_endpoints_accepted(text: str, url: str) -> None:
    assert parse_endpoint(text) == url


@pytest.mark.parametrize("text", ["garbage", "localhost", "host:abc", "ftp://x:21", "http://",
                                  "http://h:99999", "http://h:1?x=1", ""])
def test_endpoints_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected http://HOST:PORT"):
        parse_endpoint(text)


def test_host_port_reaches_a_listening_emulator(
        local: Local, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    host_port = local.url.removeprefix("http://")
    capsys.readouterr()
    assert main(["--endpoint", host_port, "queues"]) == 0
    assert "myqueue" in capsys.readouterr().out
    monkeypatch.setenv("FCEMU_ENDPOINT", host_port)
    assert main(["queues"]) == 0
    assert "myqueue" in capsys.readouterr().out


def test_a_bad_endpoint_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--endpoint", "garbage", "queues"])
    assert exit_.value.code == 2
    assert f"argument --endpoint: {EXPECTED}'garbage'" in capsys.readouterr().err
    monkeypatch.setenv("FCEMU_ENDPOINT", "garbage")
    assert main(["queues"]) == 2
    assert capsys.readouterr().err == f"fcemu: FCEMU_ENDPOINT: {EXPECTED}'garbage'\n"
