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
would do nothing around the handler (:meth:`fcemu.api.front_door.FrontDoor.express_engine`:
a ``Host`` allowed before, no ``Origin``, ``Sec-Fetch-Site`` or ``Expect``, not in
follow, durable or verify mode). Every other request takes the full path.

A request the route would refuse (a bad header or name, an unknown function, a
duplicate task ID, a body over 128 KB) is refused by the full path too: the lane reads
nothing and changes nothing before the engine accepts (its checks come before any
change, and before an ID is drawn), and hands the request over with its body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11, RawRequestMessage
from aiohttp.streams import StreamReader

from fcemu.api import invocations, wire
from fcemu.api.front_door import FrontDoor
from fcemu.errors import FcError
from fcemu.signing import FC_VERSION

__all__ = ["answer"]

log = logging.getLogger("fcemu.api")

_PREFIX = f"/{FC_VERSION}/functions/"
_SUFFIX = "/invocations"
_ASYNC = "Async"
_HEAD = ("HTTP/1.1 202 Accepted\r\n" + wire.REQUEST_ID + ": {}\r\n" + wire.ASYNC_TASK_ID +
         ": {}\r\nContent-Length: 0\r\nDate: {}\r\nServer: " + SERVER_SOFTWARE + "\r\n\r\n")


def answer(root: web.Application, message: RawRequestMessage, payload: StreamReader,
           write: Callable[[bytes], object]) -> bool | bytes:
    """Answer ``message`` here when it is an async submit the lane takes (see the module
    docstring): True once its 202 is written with ``write``. Otherwise False, with
    ``payload`` untouched; or the body, when the lane read it before the engine refused
    the task: the full path then answers, given a payload that holds that body again."""
    path = message.path
    if message.method != "POST" or message.version != HttpVersion11 or \
            message.should_close or message.upgrade or not path.startswith(_PREFIX) or \
            not path.endswith(_SUFFIX) or "?" in path or "%" in path or \
            not payload.is_eof() or payload.total_bytes > root._client_max_size:
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
    body = payload.read_nowait(-1) if payload.total_bytes else b""
    if type(body) is not bytes:  # as wire.body_if_read takes it
        body = bytes(body)
    try:
        task = engine.submit_async(name, body, None, task_id, delay_s, request_id)
    except Exception as exc:  # refused before any change: the full path answers it
        if not isinstance(exc, FcError):
            log.debug("express lane: %r, handed to the full path", exc)
        return body
    write(_HEAD.format(task.request_id, task.task_id, rfc822_formatted_time()).encode())
    return True

