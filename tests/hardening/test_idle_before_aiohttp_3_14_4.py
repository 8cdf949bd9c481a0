"""A connection on which no request begins is closed whatever the aiohttp (issue 9).

aiohttp 3.14.4 and later arm their keep-alive timer when a connection opens; before, only
after a first answer, and fcemu's connection arms it itself
(``fcemu.api.protocol._Connection.connection_made``). Here aiohttp's own arming is undone
at each connection, as on aiohttp 3.13, and the same checks as tests/hardening/
test_http_limits.py run: a silent connection is closed after twice the read timeout; one
that was answered and then stays silent is closed by aiohttp's keep-alive as usual.
"""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from aiohttp.web_protocol import RequestHandler

import fcemu
from tests.hardening.test_http_limits import QUICK, answer, closed, connect, request

_made = RequestHandler.connection_made


def _as_before_3_14_4(self: Any, transport: Any) -> None:
    _made(self, transport)
    if self._keepalive_handle is not None:  # aiohttp 3.14.4+: what older ones did not do
        self._keepalive_handle.cancel()
        self._keepalive_handle = None


@pytest.fixture(autouse=True)
def old_aiohttp() -> Any:
    with mock.patch.object(RequestHandler, "connection_made", _as_before_3_14_4):
        yield


@pytest.mark.fcemu(read_timeout=QUICK)
def test_a_silent_connection_is_closed(fcemu: fcemu.Emulator) -> None:
    with connect(fcemu) as sock:
        started = time.monotonic()
        assert closed(sock)  # nothing sent: no answer, just closed
    assert time.monotonic() - started < 2 * QUICK + 5


@pytest.mark.fcemu(read_timeout=QUICK)
def test_a_connection_silent_after_an_answer_is_closed(fcemu: fcemu.Emulator) -> None:
    with connect(fcemu) as sock:
        sock.sendall(request("GET", "/_fcemu/clock"))
        assert answer(sock)[0] == 200
        started = time.monotonic()
        assert closed(sock)
    assert time.monotonic() - started < 2 * QUICK + 5


def test_requests_in_a_row_are_unaffected(fcemu: fcemu.Emulator) -> None:
    with connect(fcemu) as sock:
        for _ in range(3):
            sock.sendall(request("GET", "/_fcemu/clock"))
            assert answer(sock)[0] == 200
