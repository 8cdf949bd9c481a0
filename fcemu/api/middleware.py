"""Errors and request IDs: the one place where failures become FC error JSON.

DESIGN.md principle 5 and STYLE.md (aiohttp 5, moto 2): the engine raises
:class:`~fcemu.errors.FcError` subclasses, handlers never build error bodies,
and the middleware maps, in order:

- an ``FcError`` → ``{"Code","Message","RequestId"}`` with its status (spec §3.1);
- aiohttp's 413 (body over ``client_max_size``) → 400 ``EntityTooLarge`` (spec §6.5);
- a router miss (``HTTPNotFound``/``HTTPMethodNotAllowed``) → 400 ``PathNotSupported``
  (decisions.md), never aiohttp's ``text/plain`` page;
- the client's own doing at the HTTP level (:func:`client_error`: it hung up
  mid-request, or sent a body that cannot be decoded) → its error, logged at
  debug level only: never a server error, never recorded;
- anything else → logged with its traceback, kept with ``engine.record_failure``
  for ``Emulator.check()``, and a 500 ``InternalServerError`` in FC format.

HTTP-level errors belong to no API, so :class:`RequestTimeout`,
:class:`ClientClosedRequest` and :class:`UnreadableBody` are both
:class:`~fcemu.errors.FcError` and :class:`~fcemu.errors.SmqError`: the FC
middleware renders them as JSON, the MNS one as XML.

Every error response carries ``x-fc-request-id`` equal to the body's ``RequestId``.

The root app's front door (:class:`fcemu.api.front_door.FrontDoor`) renders what fails
outside every sub-app with :func:`render_error` too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container
from typing import NamedTuple

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from fcemu.api import wire
from fcemu.api.keys import ENGINE
from fcemu.engine import SYNC_PAYLOAD_LIMIT
from fcemu.errors import (
    EntityTooLarge,
    FcError,
    InternalServerError,
    InvalidArgument,
    PathNotSupported,
    SmqError,
)

log = logging.getLogger("fcemu.api")

#: Largest request body aiohttp reads: a bit above the 32 MB sync payload limit (spec §6.5),
#: so that the engine, not aiohttp, refuses a 32 MB + 1 byte payload with EntityTooLarge.
CLIENT_MAX_SIZE = 32 * 1024 * 1024 + 64 * 1024

#: Paths the MNS routes own: their errors are MNS XML, rendered by ``fcemu.api.smq``.
SMQ_PREFIXES = ("/queues", "/topics")


class HttpLevelError(FcError, SmqError):
    """An error of the HTTP exchange itself, answered in whichever format the route speaks."""


class RequestTimeout(HttpLevelError):
    """408: the request's head or body did not arrive within ``Settings.read_timeout``."""

    status = 408
    code = "RequestTimeout"
    default_message = "the request did not arrive in time"


class ClientClosedRequest(HttpLevelError):
    """499 (FC's documented code): the client hung up before its request was read. The
    answer reaches nobody; the point is that this is no server error."""

    status = 499
    code = "ClientClosedRequest"
    default_message = "client Closed Request"


class UnreadableBody(HttpLevelError):
    """400: the body's transfer encoding or length is broken."""

    status = 400
    code = "InvalidArgument"


def client_error(request: web.BaseRequest, exc: BaseException) -> HttpLevelError | None:
    """The error ``exc`` is answered with when it is the client's doing at the HTTP level
    (it hung up mid-request; its body cannot be decoded), else None."""
    error: HttpLevelError | None = None
    transport = request.transport
    if isinstance(exc, HttpLevelError):
        error = exc
    elif isinstance(exc, ConnectionError) and (transport is None or transport.is_closing()):
        error = ClientClosedRequest()
    elif isinstance(exc, (RequestPayloadError, HttpProcessingError)):
        error = UnreadableBody(f"the request body could not be read: {exc}")
    if error is not None:
        log.debug("%s %s: %s %s (the client's doing, not a server error): %r", request.method,
                  request.path, error.status, error.code, exc)
    return error


class ErrorLayer(NamedTuple):
    """The steps of a sub-app (FC API or control API), which the root's front door
    (:class:`fcemu.api.front_door.FrontDoor`) runs with ``request.app`` the sub-app:
    ``prepare`` (e.g. the FC API's :func:`fcemu.api.functions.code_bodies`), in verify
    mode the request's signature (:func:`fcemu.api.auth.check_fc_signature`), then the
    handler; any failure of the three becomes FC error JSON (:func:`render_error`).

    With ``stamp_success`` every response gets ``x-fc-request-id`` (the FC API,
    spec §1.2); the control API stamps errors only, so that driving the clock
    over HTTP draws no IDs from the seeded generator (same IDs as the Python API).
    Not an aiohttp middleware: each layer would cost every request a coroutine (issue 13).
    """

    app: web.Application
    stamp_success: bool
    prepare: Callable[[web.Request], web.Request] | None = None
    #: The handlers ``prepare`` is for (None: every one); the others skip its call.
    prepare_only: Container[Callable[..., Awaitable[web.StreamResponse]]] | None = None


def render_error(request: web.Request, exc: Exception) -> web.Response:
    """Map any exception to the FC error response (see the module docstring)."""
    client = client_error(request, exc)
    if client is not None:
        return wire.error_response(client, new_request_id(request))
    error = as_fc_error(request, exc)
    if isinstance(error, InternalServerError) and not isinstance(exc, FcError):
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
        request.app[ENGINE].record_failure(f"{request.method} {request.path}", exc)
    return wire.error_response(error, new_request_id(request))


def as_fc_error(request: web.Request, exc: Exception) -> FcError:
    """The :class:`FcError` an exception is answered with."""
    if isinstance(exc, FcError):
        return exc
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return EntityTooLarge(SYNC_PAYLOAD_LIMIT)
    if isinstance(exc, (web.HTTPNotFound, web.HTTPMethodNotAllowed)):
        return PathNotSupported(request.method, request.path)
    if isinstance(exc, SmqError) and exc.status < 500:
        # a path like /queuesX: caught by the MNS catch-all route, yet not an MNS path
        return PathNotSupported(request.method, request.path)
    if isinstance(exc, web.HTTPException) and 400 <= exc.status < 500:
        # aiohttp's own 4xx (e.g. a malformed request line it could still answer)
        return InvalidArgument(exc.reason)
    return InternalServerError()


def new_request_id(request: web.Request) -> str:
    """A fresh FC 3.0 request ID from the engine's seeded generator (DESIGN.md principle 3)."""
    return request.app[ENGINE].response_id()


def is_smq(path: str) -> bool:
    """Whether ``path`` belongs to the MNS routes (errors in MNS XML, not FC JSON)."""
    return any(path == p or path.startswith(p + "/") for p in SMQ_PREFIXES)
