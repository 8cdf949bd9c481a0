"""The express lane: async InvokeFunction requests answered as they are parsed (issue 13).

An async submit is the request a test suite or a pipeline makes by the thousand, and its
work is small: read five headers, enqueue a task, answer 202 with two IDs. Through
aiohttp's request layer, most of its cost was that layer: a ``Request`` and a
``Response`` object, a task per request, the connection's reader woken and put back to
sleep, headers built and serialized. The lane answers such a request from the
connection's ``data_received`` (:mod:`fcemu.api.protocol`), with the route's own parts:

- the headers are read by :func:`fcemu.api.invocations.read_invoke_headers` (the same
  values and the same 400s), the name checked by :func:`fcemu.api.wire.checked_name`;
- the task is enqueued by :meth:`fcemu.engine.Engine.submit_async`, as the route does;
- the 202 carries the bytes aiohttp writes for the route's answer: the status line, then
  ``x-fc-request-id``, ``x-fc-async-task-id``, ``Content-Length: 0``, ``Date`` and
  ``Server`` (tests/api/test_express.py compares them byte for byte).

A request takes the lane only where nothing the full path does could differ. The
connection is idle: no request of it is queued or being answered, so answers keep their
order. The request is a complete keep-alive HTTP/1.1 ``POST`` (its body whole,
within the app's limit) to ``/2023-03-30/functions/{name}/invocations``, with no query
string and no percent-escape, sent with ``x-fc-invocation-type: Async``. The front door
would do nothing before the handler (:meth:`fcemu.api.front_door.FrontDoor.express_engine`:
a ``Host`` allowed before, no ``Origin``, ``Sec-Fetch-Site`` or ``Expect``, not in
follow or verify mode). Every other request takes the full path. In durable mode the
answer waits, as the full path's does, until the task is committed
(:func:`fcemu.api.durable.durable_commit`'s step: :class:`Held`); the connection answers
nothing else meanwhile, and a commit that fails is answered as the full path answers it
(503 ``ServiceUnavailable``, a fresh request ID).

A request the route would refuse (a bad header or name, an unknown function, a
duplicate task ID, a body over 128 KB) is refused by the full path too: the lane changes
nothing before the engine accepts (its checks come before any change, and before an ID
is drawn), and leaves the request's payload unread (it takes the body from the payload's
buffer: a read would have aiohttp 3.14 resume the connection's reading and parse again,
a second ``data_received`` a request), so the full path reads it as it arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import NamedTuple

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11, RawRequestMessage
from aiohttp.streams import EmptyStreamReader, StreamReader

from fcemu.api import invocations, wire
from fcemu.api.front_door import FrontDoor
from fcemu.engine import Engine
from fcemu.engine.committer import Commit
from fcemu.errors import FcError, InternalServerError
from fcemu.signing import FC_VERSION

__all__ = ["Held", "answer"]

log = logging.getLogger("fcemu.api")

_PREFIX = f"/{FC_VERSION}/functions/"
_SUFFIX = "/invocations"
_ASYNC = "Async"
_HEAD = ("HTTP/1.1 202 Accepted\r\n" + wire.REQUEST_ID + ": {}\r\n" + wire.ASYNC_TASK_ID +
         ": {}\r\nContent-Length: 0\r\nDate: {}\r\nServer: " + SERVER_SOFTWARE + "\r\n\r\n")
#: An FC error's head, as aiohttp writes :func:`fcemu.api.wire.error_response`'s.
_ERROR_HEAD = ("HTTP/1.1 {} {}\r\n" + wire.REQUEST_ID + ": {}\r\nContent-Type: " + wire.JSON +
               "; charset=utf-8\r\nContent-Length: {}\r\nDate: {}\r\nServer: " +
               SERVER_SOFTWARE + "\r\n\r\n")


class Held(NamedTuple):
    """A durable-mode answer: written once its task is committed (:attr:`committed`, the
    batch's :class:`~fcemu.engine.committer.Commit`: its callbacks run as soon as the
    batch is settled)."""

    head: bytes
    committed: Commit
    engine: Engine

    def answer(self) -> bytes:
        """The 202; or, when the commit failed, the error the full path answers."""
        exc: BaseException | None = self.committed.exception()
        if exc is None:
            return self.head
        error = exc if isinstance(exc, FcError) else InternalServerError()
        if not isinstance(exc, FcError):
            log.error("committing an async submit failed", exc_info=exc)
        return error_answer(error, self.engine.response_id())


def error_answer(error: FcError, request_id: str) -> bytes:
    """The bytes aiohttp writes for ``wire.error_response(error, request_id)``."""
    body = wire.encode(wire.error_document(error, request_id))
    head = _ERROR_HEAD.format(error.status, HTTPStatus(error.status).phrase, request_id,
                              len(body), rfc822_formatted_time())
    return head.encode() + body


def answer(root: web.Application, message: RawRequestMessage, payload: StreamReader,
           write: Callable[[bytes], object]) -> bool | Held:
    """Answer ``message`` here when it is an async submit the lane takes (see the module
    docstring): True once its 202 is written with ``write``; in durable mode, the
    :class:`Held` answer to write once committed. Otherwise False, with ``payload``
    unread: the full path answers."""
    path = message.path
    if message.method != "POST" or message.version != HttpVersion11 or \
            message.should_close or message.upgrade or not path.startswith(_PREFIX) or \
            not path.endswith(_SUFFIX) or "?" in path or "%" in path or not payload.is_eof():
        return False
    get = message.headers.get
    if get(wire.INVOCATION_TYPE) != _ASYNC:
        return False
    door = root._handle
    engine = door.express_engine(get) if isinstance(door, FrontDoor) else None
    if engine is None:
        return False
    try:
        name = wire.checked_name(path[len(_PREFIX):-len(_SUFFIX)])
        _, _, task_id, delay_s, request_id = invocations.read_invoke_headers(get)
    except FcError:
        return False  # the route's 400, from the full path
    body = _body_of(payload)
    if body is None or len(body) > root._client_max_size:
        return False
    try:
        task = engine.submit_async(name, body, None, task_id, delay_s, request_id)
    except Exception as exc:  # refused before any change: the full path answers it
        if not isinstance(exc, FcError):
            log.debug("express lane: %r, handed to the full path", exc)
        return False
    head = _HEAD.format(task.request_id, task.task_id, rfc822_formatted_time()).encode()
    if engine.durable:  # durable_commit's step: an InvokeFunction's change is the task's
        committed = engine.submit_commit()
        if committed is not None:
            return Held(head, committed, engine)
    write(head)
    return True


def _body_of(payload: StreamReader) -> bytes | None:
    """The whole body a complete, unread payload holds, left in it (None when it is not
    simply there: the full path reads it)."""
    if isinstance(payload, EmptyStreamReader):  # no body
        return b""
    if payload._buffer_offset:  # partly read already
        return None
    chunks = payload._buffer
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(body) != payload.total_bytes:
        return None
    return body if type(body) is bytes else bytes(body)
