"""The MNS HTTP frame: error XML, request IDs and XML responses for every MNS route.

:func:`smq_error_middleware` turns an :class:`~fcemu.errors.SmqError` (or
anything unexpected) into the MNS XML error of spec §13.2 and stamps
``x-mns-request-id``; :func:`mns` wraps a handler in it, because aiohttp
middlewares are per app and the MNS routes live on the root app beside the FC
sub-apps. In verify mode :func:`fcemu.api.auth.check_mns_signature` runs here,
before the handler. :func:`release_long_polls` is the ``on_shutdown`` hook that
ends parked long polls.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from fcemu.api.auth import check_mns_signature
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import client_error
from fcemu.api.smq import xml
from fcemu.errors import InvalidRequestURL, SmqError, SmqInvalidArgument

__all__ = ["Handler", "mns", "release_long_polls", "smq_error_middleware",
           "smq_error_response", "xml_response"]

log = logging.getLogger("fcemu.api.smq")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MNS_PATH = re.compile(r"^/(?:queues|topics)(?:/|$)")
# aiohttp 3.14 wants typed request keys; older versions only have strings.
_REQUEST_ID: Any = (web.RequestKey("fcemu_mns_request_id", str)
                    if hasattr(web, "RequestKey") else "fcemu_mns_request_id")
_DEFAULT_HOST_ID = "mns.fcemu.local"


def xml_response(body: bytes, status: int = 200, **headers: str) -> web.Response:
    """An MNS XML answer: ``text/xml`` in UTF-8 with ``headers``."""
    return web.Response(status=status, body=body, content_type="text/xml", charset="utf-8",
                        headers=headers)


def smq_error_response(err: SmqError, request_id: str, *,
                       host_id: str = _DEFAULT_HOST_ID) -> web.Response:
    """The MNS XML error (spec §13.2) with the error's status and ``x-mns-request-id``."""
    return xml_response(xml.error(err, request_id, host_id), err.status,
                        **{"x-mns-request-id": request_id})


@web.middleware
async def smq_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """SmqError → its XML; anything unexpected → 500 InternalError XML, logged and
    recorded on the engine. Sets ``x-mns-request-id`` on every MNS response.

    Acts only on ``/queues`` and ``/topics`` paths, and only once per request, so it
    may be installed on an app as well as wrapped around each handler here.
    """
    if not _MNS_PATH.match(request.path) or _REQUEST_ID in request:
        return await handler(request)
    request_id = request[_REQUEST_ID] = _new_request_id(request)
    host_id = f"{request.scheme}://{request.host}"
    try:
        await check_mns_signature(request)
        response = await handler(request)
    except SmqError as err:
        response = smq_error_response(err, request_id, host_id=host_id)
    except web.HTTPRequestEntityTooLarge as exc:
        too_large = SmqInvalidArgument(f"The request body is too large: {exc.text}")
        response = smq_error_response(too_large, request_id, host_id=host_id)
    except web.HTTPException as exc:  # router misses when installed app-wide
        miss = InvalidRequestURL(f"Http request URL format invalid: {request.method} "
                                 f"{request.path} ({exc.status} {exc.reason}).")
        response = smq_error_response(miss, request_id, host_id=host_id)
    except Exception as exc:
        client = client_error(request, exc)  # hung up, broken body: the client's, not ours
        if client is not None:
            response = smq_error_response(client, request_id, host_id=host_id)
        else:
            log.exception("MNS %s %s failed", request.method, request.path)
            record = getattr(request.app.get(ENGINE), "record_failure", None)
            if callable(record):
                record(f"MNS {request.method} {request.path}", exc)
            response = smq_error_response(SmqError(), request_id, host_id=host_id)
    response.headers["x-mns-request-id"] = request_id
    response.headers.setdefault("x-mns-version", "2015-06-06")
    return response


def _new_request_id(request: web.Request) -> str:
    engine = request.app.get(ENGINE)
    smq = getattr(engine, "smq", None)
    if smq is not None:
        return str(smq.new_request_id())
    return uuid.uuid4().hex[:24].upper()


def mns(handler: Handler) -> Handler:
    """Wrap a handler in :func:`smq_error_middleware` (aiohttp middlewares are per app)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await smq_error_middleware(request, handler)

    return wrapped


async def release_long_polls(app: web.Application) -> None:
    """``on_shutdown`` hook: end parked long polls so that shutdown does not wait for them.

    aiohttp runs ``on_shutdown`` before it waits (up to its shutdown timeout) for
    in-flight handlers; a ReceiveMessage with ``waitseconds`` would hold that wait.
    """
    smq = getattr(app.get(ENGINE), "smq", None)
    if smq is not None:
        smq.close()
