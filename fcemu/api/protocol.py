"""HTTP below the routes: request heads that are too long, too many or too slow.

aiohttp reads the request line and headers before any route or middleware
runs. When it cannot (a line over 8190 bytes, a header field over 8190 bytes,
more than 128 headers, bytes that are not HTTP) it answers a ``text/plain``
400 of its own, and it waits for a request head as long as the connection's
keep-alive allows (an hour). :class:`FrontDoorRunner` serves the app over
connections that instead:

- answer those errors as FC error JSON, or as MNS XML when the request was
  for ``/queues`` or ``/topics`` (400 ``InvalidArgument``, naming the limit).
  The route is read from the first bytes the client sent; when they do not
  tell, the FC format is used;
- give a request head ``Settings.read_timeout`` real seconds from its first
  byte, and its body as long again from the end of the head; then the client
  gets 408 ``RequestTimeout`` (same formats: the handler reading a late body
  gets :class:`fcemu.api.middleware.RequestTimeout`) and the connection is
  closed, so a slowloris client holds nothing;
- close a connection on which no request begins for twice that time.

It also runs the express lane (:mod:`fcemu.api.express`): on an idle connection, the
async submits just parsed are answered there, in order, before aiohttp's reader is
woken for whatever is left.

aiohttp has no public hook for any of this, so :class:`_Connection` extends
its ``RequestHandler`` and uses a few of its internals (``_messages``,
``_waiter``, ``_close``, ``_current_request``, ``_ErrInfo``; for the lane also
``_paused``, the keep-alive's ``_next_keepalive_close_time``, ``_keepalive_handle`` and
``_process_keepalive``, and aiohttp 3.14's ``_buffer_paused`` and
``_parser.message_consumed`` where they exist; all the others are in aiohttp 3.13, fcemu's
floor, the oldest whose request handler keeps the head limits read here).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

from fcemu.api import express
from fcemu.api.front_door import FrontDoor, error_response
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import RequestTimeout
from fcemu.errors import (
    FcError,
    InternalServerError,
    InvalidArgument,
    SmqError,
    SmqInvalidArgument,
)

__all__ = ["FrontDoorRunner"]

#: How many first bytes of a request head are kept to tell its route.
_SNIFF = 1024
_REQUEST_LINE = re.compile(rb"^\s*[!-~]+ +(\S+)")
#: aiohttp's stand-in method for a request that could not be parsed.
_UNPARSED = "UNKNOWN"


class FrontDoorRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections behave as the module says."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if not isinstance(server.request_handler, FrontDoor):
            # fail closed: without the front door no Host, Origin or signature check runs
            raise RuntimeError(
                f"aiohttp {aiohttp.__version__}'s server does not call the app's _handle, "
                "where fcemu installs its front door (Host and Origin checks, signatures, "
                "FC errors): install an aiohttp this fcemu was tested with (3.13 or newer, "
                "below 4)")
        server.__class__ = _Server  # same object, our connection factory
        assert isinstance(server, _Server)
        server.app = self.app
        return server


class _Server(web.Server):
    app: web.Application

    def __call__(self) -> RequestHandler:
        kwargs: dict[str, Any] = self._kwargs
        return _Connection(self, loop=self._loop, app=self.app, **kwargs)


class _Connection(RequestHandler):
    """One client connection (see the module docstring)."""

    def __init__(self, manager: web.Server, *, app: web.Application, **kwargs: Any) -> None:
        self._app = app
        self._read_timeout = float(app[ENGINE].settings.read_timeout)
        kwargs["keepalive_timeout"] = 2 * self._read_timeout  # idle: no request begun
        super().__init__(manager, **kwargs)
        self._head = bytearray()  # first bytes of the head being received
        self._error_head = b""  # ... of the head that failed
        #: The head's or the body's deadline (loop time; None: none) and what then. One
        #: loop timer per connection checks it: a request re-arms the deadline, not the
        #: timer (no call_later and cancel per request; issue 13).
        self._deadline: float | None = None
        self._expired: Callable[[], None] = self._head_timed_out
        self._timer: asyncio.TimerHandle | None = None
        #: body of the newest parsed request while it is still arriving (None once whole)
        self._body: StreamReader | None = None
        #: aiohttp's reader's waiter, kept aside while an express answer waits for its
        #: commit (:meth:`_hold`)
        self._held_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._keepalive_handle is None and self._keepalive_timeout > 0:
            # aiohttp before 3.14.4 starts the keep-alive only after a first answer: a
            # connection on which no request ever begins would be held for good
            self._keepalive_handle = self._loop.call_at(
                self._loop.time() + self._keepalive_timeout, self._idle_timed_out)

    def _idle_timed_out(self) -> None:
        """No request began on this new connection in time: it is closed (aiohttp 3.14.4
        and later do this themselves). Once one has come, aiohttp's keep-alive goes on."""
        if self._request_count:
            self._process_keepalive()
            return
        self._keepalive_handle = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self.force_close()

    # -- reading --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._close or self._force_close:
            return
        body = self._body
        head = bool(data) and (body is None or body.is_eof())  # bytes of a request head
        messages = self._messages
        parsed = len(messages)
        waiter = self._waiter
        # the reader waits for a request: none is queued or being answered on this connection
        idle = not parsed and waiter is not None and not waiter.done()
        if idle:
            self._waiter = None  # not woken by the parse: the express lane goes first
        try:
            _data_received(self, data)
        finally:
            if idle:
                self._waiter = waiter
        if len(messages) > parsed:  # a head is complete (or failed to parse)
            message, payload = messages[-1]
            if isinstance(message, _ErrInfo):
                self._error_head = bytes(self._sniffed(data) if head else self._head)
            self._deadline = None  # disarmed
            if self._head:
                self._head.clear()
            if payload.is_eof():  # the body came whole with its head (or there is none)
                self._body = None
            else:
                self._body = payload
                self._arm(self._body_timed_out)
            if idle:
                assert waiter is not None
                self._express(waiter)
        elif head:  # a head begun, not complete: its deadline runs from its first bytes
            if not self._head:
                self._arm(self._head_timed_out)
            self._head[:] = self._sniffed(data)
        elif self._deadline is not None and body is not None and not self._head and \
                body.is_eof():
            self._deadline = None  # disarmed: the body is complete

    def _express(self, waiter: asyncio.Future[None]) -> None:
        """Answer the requests just parsed that the express lane takes
        (:mod:`fcemu.api.express`), in order from the first; then wake the reader for the
        rest, as aiohttp's parse would have. Only on an idle connection whose reading and
        writing are not paused (a client that does not read its answers gets them through
        aiohttp, which waits for it). An answer held for its commit stops here: the rest
        waits for it (:meth:`_hold`)."""
        messages = self._messages
        transport = self.transport
        if transport is not None and not self._paused and \
                not getattr(self, "_buffer_paused", False):
            # aiohttp 3.14's parser counts the messages queued and not yet taken
            consumed = getattr(getattr(self, "_parser", None), "message_consumed", None)
            while messages:
                message, payload = messages[0]
                if isinstance(message, _ErrInfo):
                    break
                taken = express.answer(self._app, message, payload, transport.write)
                if taken is False:
                    break
                messages.popleft()
                if consumed is not None:
                    consumed()
                if self._manager is not None:
                    self._manager.requests_count += 1
                if taken is not True:  # durable mode: answered once committed
                    assert isinstance(taken, express.Held)
                    self._hold(taken, waiter)
                    return
            if not messages:  # all answered: the connection's keep-alive runs from now
                loop = self._loop
                close_time = loop.time() + self._keepalive_timeout
                self._next_keepalive_close_time = close_time
                if self._keepalive_handle is None:
                    self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)
                return
        if not waiter.done():
            waiter.set_result(None)

    def _hold(self, held: express.Held, waiter: asyncio.Future[None]) -> None:
        """Answer nothing more until ``held`` is written: aiohttp's reader stays asleep
        (its waiter kept aside) and what arrives meanwhile is only queued."""
        self._held_waiter, self._waiter = waiter, None
        held.committed.add_done_callback(lambda _: self._release(held))

    def _release(self, held: express.Held) -> None:
        """Write ``held``'s answer, then go on with what was queued meanwhile."""
        waiter, self._held_waiter = self._held_waiter, None
        transport = self.transport
        if waiter is None or transport is None:
            return  # the connection was lost: connection_lost woke the reader
        transport.write(held.answer())
        self._waiter = waiter
        self._express(waiter)

    def _sniffed(self, data: bytes) -> bytes | bytearray:
        """The first bytes of the head being received, with ``data`` (the head of a request
        that comes in one read, the usual case, is neither kept nor timed: issue 13)."""
        kept = self._head
        if not kept:
            return data[:_SNIFF]
        return kept + data[:_SNIFF - len(kept)] if len(kept) < _SNIFF else kept

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._held_waiter is not None:  # aiohttp's close wakes its reader, to end
            self._waiter, self._held_waiter = self._held_waiter, None
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        body = self._body
        if body is not None and not body.is_eof():
            # The client left mid-body. aiohttp tells a handler already running; one that
            # starts later (its request was queued) would wait for the rest for ever.
            body.set_exception(ConnectionResetError("Connection lost"))
        super().connection_lost(exc)

    def _arm(self, expired: Callable[[], None]) -> None:
        self._expired = expired
        self._deadline = deadline = self._loop.time() + self._read_timeout
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._check_deadline)

    def _disarm(self) -> None:
        self._deadline = None  # the timer, when it fires, finds nothing due

    def _check_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._loop.time() < deadline:  # re-armed since the timer was set: wait on
            self._timer = self._loop.call_at(deadline, self._check_deadline)
            return
        self._deadline = None
        self._expired()

    def _head_timed_out(self) -> None:
        """Queue a 408 answer after whatever is in progress, and read no more."""
        if self._close or self._force_close or self.transport is None:
            return
        self._error_head = bytes(self._head)
        message = f"the request head did not arrive within {self._read_timeout:g} seconds"
        self._close = True  # this connection ends with that answer
        self._messages.append((_ErrInfo(status=408, exc=RequestTimeout(message),
                                        message=message), EMPTY_PAYLOAD))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _body_timed_out(self) -> None:
        """The handler reading the late body gets RequestTimeout (answered 408 in the route's
        format); nothing more is read, and the connection closes after the answer."""
        body = self._body
        if body is None or body.is_eof() or self._current_request is None:
            return  # complete; or nobody reads it any more (aiohttp's lingering bounds that)
        self._close = True
        body.set_exception(RequestTimeout(f"the request body did not arrive within "
                                          f"{self._read_timeout:g} seconds"))
        body.feed_eof()  # no lingering: the rest of it will not be read

    # -- answering errors aiohttp meets before any route ----------------------------

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response "
                                  "with the error message")
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:  # the client's mistake: no server error
            self.log_debug("Refused a request from %s: %s", request.remote, message)
        unparsed = request.method == _UNPARSED and request.path == "/"
        path = _route(self._error_head) if unparsed else request.path
        fc, mns = self._describe(status, exc, message or "", self._error_head)
        response = error_response(self._app, path, fc, mns)
        response.force_close()
        return response

    def _describe(self, status: int, exc: BaseException | None, message: str,
                  head: bytes) -> tuple[FcError, SmqError]:
        if status >= 500:
            return InternalServerError(), SmqError()
        if isinstance(exc, RequestTimeout):
            return exc, exc
        if isinstance(exc, LineTooLong):
            text = (f"a request header is longer than {self.max_field_size} bytes"
                    if b"\n" in head else
                    f"the request line (method, URL, version) is longer than "
                    f"{self.max_line_size} bytes")
        elif isinstance(exc, BadHttpMessage) and "too many headers" in message.lower():
            text = f"the request has more than {self.max_headers} headers"
        else:
            text = f"the request is not valid HTTP: {message[:200]}"
        return InvalidArgument(text), SmqInvalidArgument(text)


#: aiohttp's own reading, called without a super() object (twice a request: issue 13).
_data_received = RequestHandler.data_received


def _route(head: bytes) -> str:
    """The path of a request from its first bytes; ``/`` when they do not tell."""
    found = _REQUEST_LINE.match(head)
    if not found:
        return "/"
    target = found[1].decode("latin-1")
    return urlsplit(target).path if "://" in target else target.partition("?")[0]
