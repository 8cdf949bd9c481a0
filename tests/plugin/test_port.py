"""The session's emulators listen on a free port whatever ``fcemu_settings`` says (an
override built from ``fcemu.Settings(...)`` has port 9000), unless ``--fcemu-port`` /
``FCEMU_PORT`` / ``fcemu_port`` names one (audit 20, point 2)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.plugin.conftest import ONLY_FCEMU

OVERRIDE = '''
import pytest
import fcemu

@pytest.fixture(scope="session")
def fcemu_settings():
    return fcemu.Settings(region="cn-beijing", port={port})
'''

OVERRIDDEN = '''
def test_a_free_port_and_the_override_s_own_settings(fcemu):
    assert fcemu.port not in (0, {port})
    assert fcemu.region == "cn-beijing"
    assert fcemu.settings.clock == "real"  # fcemu.Settings's default, as the docs say
'''

ASKED = '''
def test_the_asked_port(fcemu):
    assert fcemu.port == fcemu.settings.port == {port}
'''


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port held by a listener for the test."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_overridden_settings_fixture_still_gets_a_free_port(
        only_fcemu: pytest.Pytester, taken: int) -> None:
    only_fcemu.makeconftest(OVERRIDE.format(port=taken))
    only_fcemu.makepyfile(OVERRIDDEN.format(port=taken))
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["option", "environment", "ini"])
def test_fcemu_port_asks_for_a_port(only_fcemu: pytest.Pytester,
                                    monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    port = _free_port()
    only_fcemu.makepyfile(ASKED.format(port=port))
    args: list[str] = []
    if how == "option":
        args = ["--fcemu-port", str(port)]
    elif how == "environment":
        monkeypatch.setenv("FCEMU_PORT", str(port))
    else:
        only_fcemu.makeini(f"[pytest]\nfcemu_port = {port}\n")
    only_fcemu.runpytest(*ONLY_FCEMU, *args).assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["99999", "-1", "nine"])
def test_a_bad_fcemu_port_is_a_usage_error(only_fcemu: pytest.Pytester, value: str) -> None:
    only_fcemu.makepyfile("def test_x(fcemu):\n    pass\n")
    result = only_fcemu.runpytest(*ONLY_FCEMU, "--fcemu-port", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*fcemu port must be a whole number from 0 to 65535, "
                                 f"got '{value}'*"])
