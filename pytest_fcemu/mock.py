"""Mock mode: SDK clients built for the real Alibaba Cloud endpoints talk to an emulator.

Code under test often builds its own clients, e.g.
``Client(Config(region_id="cn-hangzhou", ...))``, which calls
``https://fcv3.cn-hangzhou.aliyuncs.com``. Inside :func:`mock_endpoints`
(context manager or decorator; the ``fcemu_mock`` fixture uses it) such calls
are answered by the emulator, with no change to that code. What is covered:

* FC SDK (``alibabacloud_fc20230330``), sync methods: its ``requests`` calls
  are intercepted with ``responses`` (moto-style). A ``CallbackResponse``
  forwards each request, headers and body unchanged, to the emulator over
  127.0.0.1 with :mod:`http.client` and returns the emulator's answer.
* FC SDK, ``*_async`` methods: they use aiohttp, which ``responses`` cannot
  see; ``darabonba.core.DaraCore.async_do_action`` (the one function every
  async call goes through) is wrapped so that the URL of a matching request
  (``DaraCore.compose_url``) points at the emulator over plain HTTP; its
  headers, ``Host`` included, are sent as the SDK signed them.
* MNS SDK (``aliyun-mns-sdk``): it uses :mod:`http.client` directly;
  ``mns.mns_http.MNSHttp.send_request`` is wrapped to use a connection to the
  emulator for MNS hosts. Accounts created before entering mock mode are
  covered too.

Matched hosts: ``fcv3.<region>.aliyuncs.com`` (and ``fc.<region>...``,
``fcv3-vpc...``), ``[<account>.]<region>[-internal].fc.aliyuncs.com`` and
``<account>.mns.<region>[-internal[-vpc]].aliyuncs.com``, every region and
account to the one emulator. Any other request passes through untouched.
Other HTTP clients (curl, other SDKs) need the emulator's endpoint.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import re
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fcemu.hosts import FC_ENDPOINT, MNS_ENDPOINT

if TYPE_CHECKING:
    from requests import PreparedRequest

    from fcemu import Emulator

# the endpoint names the emulator's front door answers as they are (fcemu.hosts)
_FC = FC_ENDPOINT
_MNS = MNS_ENDPOINT
FC_HOST = re.compile(rf"^(?:{_FC})(?::\d+)?$")
MNS_HOST = re.compile(rf"^(?:{_MNS})(?::\d+)?$")
_FC_URL = re.compile(rf"^https?://(?:{_FC})(?::\d+)?(?:[/?].*)?$")
_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")
#: Connection-level headers that must not be copied onto the mocked response.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
#: Real seconds a forwarded request may take (a sync invoke runs the handler).
FORWARD_TIMEOUT_S = 600.0
#: Set while an async FC SDK call for a real endpoint is being sent.
_ASYNC_FC: contextvars.ContextVar[bool] = contextvars.ContextVar("fcemu_async_fc",
                                                                 default=False)


class MockEndpoints(contextlib.ContextDecorator):
    """Route SDK calls for the real FC and MNS endpoints to an emulator (see the module doc).

    :param emulator: a running :class:`fcemu.Emulator`; when None one is started on entry
        (with ``settings`` as its keyword arguments) and stopped on exit.

    Entering returns the emulator. Needs ``responses`` (``pip install responses``).
    """

    def __init__(self, emulator: Emulator | None = None, **settings: Any) -> None:
        self._given = emulator
        self._settings = settings
        self.emulator: Emulator | None = None
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Emulator:
        try:
            import responses
        except ImportError:
            raise ImportError("mock mode needs responses: pip install responses") from None
        emu = self._given
        if emu is None:
            from fcemu import Emulator

            emu = Emulator(**self._settings)
            emu.start()
            self._undo.append(emu.stop)
        self.emulator = emu
        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for method in _METHODS:
            mock.add_callback(method, _FC_URL, callback=self._forward, content_type=None)
        mock.add_passthru(re.compile(r".*"))  # everything else: the real network
        mock.start()
        self._undo.append(mock.stop)
        self._undo.append(mock.reset)
        self._patch_fc_async(emu)
        self._patch_mns(emu)
        return emu

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        while self._undo:
            self._undo.pop()()
        self.emulator = None

    def _forward(self, request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        """A ``responses`` callback: send ``request`` to the emulator, return its answer."""
        assert self.emulator is not None
        url = urlsplit(str(request.url))
        body = _bytes(request.body)
        conn = http.client.HTTPConnection(self.emulator.settings.host, self.emulator.port,
                                          timeout=FORWARD_TIMEOUT_S)
        try:
            target = url.path + (f"?{url.query}" if url.query else "")
            conn.request(str(request.method), target, body=body, headers=dict(request.headers))
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        headers = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
        return answer.status, headers, data

    def _patch_fc_async(self, emu: Emulator) -> None:
        try:
            from darabonba.core import DaraCore  # type: ignore[import-untyped]
        except ImportError:
            return
        original, compose = DaraCore.async_do_action, DaraCore.compose_url

        async def async_do_action(request: Any, runtime_option: Any = None) -> Any:
            host = str(request.headers.get("host") or "").rstrip("/")
            token = _ASYNC_FC.set(bool(FC_HOST.match(host.split("://")[-1])))
            try:
                return await original(request, runtime_option)
            finally:
                _ASYNC_FC.reset(token)

        def compose_url(request: Any) -> str:
            # Only the connection goes to the emulator: the Host header stays the endpoint the
            # SDK signed (the emulator answers Alibaba Cloud's endpoint names: fcemu.hosts).
            url = str(compose(request))
            if not _ASYNC_FC.get():
                return url
            parts = urlsplit(url)
            return f"http://{emu.host_port}{parts.path}" + (f"?{parts.query}" if parts.query
                                                             else "")

        DaraCore.async_do_action = staticmethod(async_do_action)
        DaraCore.compose_url = staticmethod(compose_url)
        self._undo.append(lambda: setattr(DaraCore, "async_do_action", staticmethod(original)))
        self._undo.append(lambda: setattr(DaraCore, "compose_url", staticmethod(compose)))

    def _patch_mns(self, emu: Emulator) -> None:
        try:
            from mns import mns_http  # type: ignore[import-untyped]
        except ImportError:
            return
        original = mns_http.MNSHttp.send_request
        # MNSHttp -> its own connection, given back on exit; meanwhile it talks to the
        # emulator, and the SDK's close_connection() closes that connection as usual.
        replaced: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

        def send_request(client: Any, req_inter: Any) -> Any:
            if client not in replaced and MNS_HOST.match(client.host):
                replaced[client] = client.conn
                client.conn = mns_http.MNSHTTPConnection(emu.host_port)
            return original(client, req_inter)

        def undo() -> None:
            mns_http.MNSHttp.send_request = original
            for client, conn in list(replaced.items()):
                client.conn.close()
                client.conn = conn

        mns_http.MNSHttp.send_request = send_request
        self._undo.append(undo)


def _bytes(body: Any) -> bytes | None:
    """A prepared request's body as bytes (it may be str, bytes or an iterable of chunks)."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return b"".join(c.encode() if isinstance(c, str) else c for c in body)


def mock_endpoints(emulator: Emulator | None = None, **settings: Any) -> MockEndpoints:
    """Mock mode as a context manager or decorator: ``with mock_endpoints(emu): ...``.

    With no emulator, one is started on entry (``settings`` are its keyword arguments,
    e.g. ``clock="manual"``) and stopped on exit; ``with`` gives it back.
    """
    return MockEndpoints(emulator, **settings)
