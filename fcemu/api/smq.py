"""The MNS-compatible HTTP API (spec §13) on the FC port, for the unmodified MNS SDK.

Routes are absolute (``/queues…``, ``/topics…``) and are added to the root
app. Each handler is wrapped by :func:`smq_error_middleware`, so MNS responses
are always MNS XML with an ``x-mns-request-id`` header, whatever middlewares
the root app carries; unknown methods and sub-paths under ``/queues`` and
``/topics`` answer ``InvalidRequestURL`` in the same format. Signatures are
not checked unless verify mode is on (decisions.md: off by default); then
:func:`fcemu.api.auth.check_mns_signature` runs before every handler.

Whoever runs the app should register :func:`release_long_polls` in
``on_shutdown``: aiohttp waits for in-flight handlers at shutdown, and a
parked ReceiveMessage (``waitseconds`` up to 30) would hold it.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from xml.etree import ElementTree

from aiohttp import web

from fcemu.api import smq_xml as xml
from fcemu.api.auth import check_mns_signature
from fcemu.api.keys import ENGINE
from fcemu.api.middleware import client_error
from fcemu.errors import (
    InvalidRequestURL,
    MessageNotExist,
    MissingReceiptHandle,
    MissingVisibilityTimeout,
    SmqError,
    SmqInvalidArgument,
)
from fcemu.smq import MAX_BATCH

if TYPE_CHECKING:
    from fcemu.smq import Message, Queue, Smq

log = logging.getLogger("fcemu.api.smq")

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MNS_PATH = re.compile(r"^/(?:queues|topics)(?:/|$)")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
# aiohttp ≥ 3.12 wants typed request keys; older versions only have strings.
_REQUEST_ID: Any = (web.RequestKey("fcemu_mns_request_id", str)
                    if hasattr(web, "RequestKey") else "fcemu_mns_request_id")
_DEFAULT_HOST_ID = "mns.fcemu.local"


# -- errors and request IDs -----------------------------------------------------------


def smq_error_response(err: SmqError, request_id: str, *,
                       host_id: str = _DEFAULT_HOST_ID) -> web.Response:
    """The MNS XML error (spec §13.2) with the error's status and ``x-mns-request-id``."""
    return web.Response(status=err.status, body=xml.error(err, request_id, host_id),
                        content_type="text/xml", charset="utf-8",
                        headers={"x-mns-request-id": request_id})


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


# -- request helpers ------------------------------------------------------------------


def _smq(request: web.Request) -> Smq:
    smq: Smq = request.app[ENGINE].smq
    return smq


def _query(request: web.Request) -> dict[str, str]:
    """Query parameters by lower-case name, from the raw request target: receipt handles
    arrive unencoded, so ``+`` must stay ``+`` (spec §13.3)."""
    out: dict[str, str] = {}
    for part in request.raw_path.partition("?")[2].split("&"):
        key, _, value = part.partition("=")
        if key:
            out.setdefault(unquote(key).lower(), unquote(value))
    return out


def _int(name: str, value: str | None) -> int | None:
    """An integer parameter, ``None`` when absent; InvalidArgument naming it when it is not
    a plain decimal integer of at most 18 digits (every MNS range is far below that; Python
    would refuse 4300+ digits with a ValueError of its own)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise SmqInvalidArgument(f"The value of {name} should be an integer; got {shown!r}.")
    return int(text)


def _int_or(name: str, value: str | None, default: int) -> int:
    number = _int(name, value)
    return default if number is None else number


def _count(value: str | None, name: str) -> int:
    count = _int_or(name, value, 1)
    if not 1 <= count <= MAX_BATCH:
        raise SmqInvalidArgument(f"The value of {name} should be between 1 and {MAX_BATCH}; "
                                 f"got {value!r}.")
    return count


def _list_args(request: web.Request) -> tuple[str, str, int, bool]:
    """ListQueue / ListTopic / ListSubscriptionByTopic headers (spec §13.3)."""
    h = request.headers
    limit = _int_or("x-mns-ret-number", h.get("x-mns-ret-number"), 1000)
    if not 1 <= limit <= 1000:
        raise SmqInvalidArgument(f"The value of x-mns-ret-number should be between 1 and "
                                 f"1000; got {limit}.")
    with_meta = h.get("x-mns-with-meta", "").lower() == "true"
    return h.get("x-mns-prefix", ""), h.get("x-mns-marker", ""), limit, with_meta


def _url(request: web.Request, *parts: str) -> str:
    return f"{request.scheme}://{request.host}/" + "/".join(parts)


def _xml(body: bytes, status: int = 200, **headers: str) -> web.Response:
    return web.Response(status=status, body=body, content_type="text/xml", charset="utf-8",
                        headers=headers)


def _override(request: web.Request) -> bool:
    return _query(request).get("metaoverride", "").lower() == "true"


def _attributes(root: ElementTree.Element | None, name: str) -> dict[str, str]:
    """Attribute elements of a Create/Set body; an empty body sets nothing."""
    return xml.fields(xml.expect(root, name) if root is not None else None)


# -- queues ---------------------------------------------------------------------------


@routes.get("/queues")
@mns
async def list_queue(request: web.Request) -> web.Response:
    prefix, marker, limit, with_meta = _list_args(request)
    queues, next_marker = _smq(request).list_queues(prefix, marker, limit)
    pairs = [(_url(request, "queues", q.name), q) for q in queues]
    return _xml(xml.queue_list(pairs, next_marker, with_meta))


@routes.put("/queues/{queue}")
@mns
async def create_queue(request: web.Request) -> web.Response:
    """CreateQueue (201 + Location, 204 when identical), or SetQueueAttributes with
    ``?metaoverride=true``."""
    name = request.match_info["queue"]
    attributes = _attributes(xml.parse(await request.read()), "Queue")
    smq = _smq(request)
    if _override(request):
        smq.set_queue_attributes(name, **attributes)
        return web.Response(status=204)
    _, created = smq.create_queue(name, **attributes)
    return web.Response(status=201 if created else 204,
                        headers={"Location": _url(request, "queues", name)})


@routes.get("/queues/{queue}")
@mns
async def get_queue_attributes(request: web.Request) -> web.Response:
    return _xml(xml.queue_attributes(_smq(request).get_queue(request.match_info["queue"])))


@routes.delete("/queues/{queue}")
@mns
async def delete_queue(request: web.Request) -> web.Response:
    _smq(request).delete_queue(request.match_info["queue"])
    return web.Response(status=204)


# -- messages -------------------------------------------------------------------------


def _send(queue: Queue, values: dict[str, str]) -> Message:
    if not values.get("MessageBody"):
        raise SmqInvalidArgument("The XML you provided did not validate against our published "
                                 "schema, cause by MessageBody (missing or empty).")
    return queue.send(values["MessageBody"],
                      delay_seconds=_int("DelaySeconds", values.get("DelaySeconds")),
                      priority=_int_or("Priority", values.get("Priority"), 8))


@routes.post("/queues/{queue}/messages")
@mns
async def send_message(request: web.Request) -> web.Response:
    """SendMessage (``<Message>``) or BatchSendMessage (``<Messages>``), 201 (spec §13.3)."""
    root = xml.expect(xml.parse(await request.read()), "Message", "Messages")
    queue = _smq(request).get_queue(request.match_info["queue"])
    if xml.local(root.tag) == "Message":
        return _xml(xml.send_result(_send(queue, xml.fields(root))), 201)
    return _batch_send(queue, xml.items(root, "Message"))


def _batch_send(queue: Queue, entries: list[ElementTree.Element]) -> web.Response:
    if not 1 <= len(entries) <= MAX_BATCH:
        raise SmqInvalidArgument(f"The number of messages in a batch should be between 1 and "
                                 f"{MAX_BATCH}; got {len(entries)}.")
    results: list[Message | SmqError] = []
    for entry in entries:
        try:
            results.append(_send(queue, xml.fields(entry)))
        except SmqError as err:
            results.append(err)
    failed = [r for r in results if isinstance(r, SmqError)]
    # A partial failure must not be 2xx: the SDK only reads ErrorCode items from errors.
    return _xml(xml.batch_send_result(results), failed[0].status if failed else 201)


@routes.get("/queues/{queue}/messages")
@mns
async def receive_message(request: web.Request) -> web.Response:
    """ReceiveMessage / BatchReceiveMessage (``numOfMessages``, long poll ``waitseconds``),
    PeekMessage / BatchPeekMessage (``peekonly=true``). Nothing there → 404 MessageNotExist."""
    query = _query(request)
    queue = _smq(request).get_queue(request.match_info["queue"])
    batch = "numofmessages" in query
    count = _count(query.get("numofmessages"), "numOfMessages")
    peek = query.get("peekonly", "").lower() == "true"
    if peek:
        found = queue.peek(count)
    else:
        found = await queue.receive_wait(count, _int("waitseconds", query.get("waitseconds")))
    if not found:
        raise MessageNotExist(f"Message not exist: queue {queue.name} has no visible message.")
    if batch:
        return _xml(xml.messages(found, received=not peek))
    return _xml(xml.message(found[0], received=not peek))


@routes.delete("/queues/{queue}/messages")
@mns
async def delete_message(request: web.Request) -> web.Response:
    """DeleteMessage (``?ReceiptHandle=``) or BatchDeleteMessage (``<ReceiptHandles>`` body)."""
    query = _query(request)
    queue = _smq(request).get_queue(request.match_info["queue"])
    if "receipthandle" not in query:
        return _batch_delete(queue, xml.parse(await request.read()))
    if not query["receipthandle"]:
        raise MissingReceiptHandle()
    queue.delete(query["receipthandle"])
    return web.Response(status=204)


def _batch_delete(queue: Queue, root: ElementTree.Element | None) -> web.Response:
    if root is None:
        raise MissingReceiptHandle()
    handles = [(e.text or "").strip()
               for e in xml.items(xml.expect(root, "ReceiptHandles"), "ReceiptHandle")]
    if not 1 <= len(handles) <= MAX_BATCH:
        raise SmqInvalidArgument(f"The number of receipt handles should be between 1 and "
                                 f"{MAX_BATCH}; got {len(handles)}.")
    failures: list[tuple[str, SmqError]] = []
    for handle in handles:
        try:
            queue.delete(handle)
        except SmqError as err:
            failures.append((handle, err))
    if failures:  # spec §13.3: 204 only when every handle was deleted
        return _xml(xml.batch_delete_errors(failures), failures[0][1].status)
    return web.Response(status=204)


@routes.put("/queues/{queue}/messages")
@mns
async def change_message_visibility(request: web.Request) -> web.Response:
    query = _query(request)
    handle = query.get("receipthandle")
    if not handle:
        raise MissingReceiptHandle()
    seconds = _int("VisibilityTimeout", query.get("visibilitytimeout"))
    if seconds is None:
        raise MissingVisibilityTimeout()
    queue = _smq(request).get_queue(request.match_info["queue"])
    return _xml(xml.change_visibility(queue.change_visibility(handle, seconds)))


# -- topics ---------------------------------------------------------------------------


@routes.get("/topics")
@mns
async def list_topic(request: web.Request) -> web.Response:
    prefix, marker, limit, with_meta = _list_args(request)
    smq = _smq(request)
    topics, next_marker = smq.list_topics(prefix, marker, limit)
    now = smq.clock.now_ms()
    rows = [(_url(request, "topics", t.name), t, t.message_count(now)) for t in topics]
    return _xml(xml.topic_list(rows, next_marker, with_meta))


@routes.put("/topics/{topic}")
@mns
async def create_topic(request: web.Request) -> web.Response:
    """CreateTopic (201 + Location, 204 when identical), or SetTopicAttributes."""
    name = request.match_info["topic"]
    attributes = _attributes(xml.parse(await request.read()), "Topic")
    smq = _smq(request)
    if _override(request):
        smq.set_topic_attributes(name, **attributes)
        return web.Response(status=204)
    _, created = smq.create_topic(name, **attributes)
    return web.Response(status=201 if created else 204,
                        headers={"Location": _url(request, "topics", name)})


@routes.get("/topics/{topic}")
@mns
async def get_topic_attributes(request: web.Request) -> web.Response:
    smq = _smq(request)
    topic = smq.get_topic(request.match_info["topic"])
    return _xml(xml.topic_attributes(topic, topic.message_count(smq.clock.now_ms())))


@routes.delete("/topics/{topic}")
@mns
async def delete_topic(request: web.Request) -> web.Response:
    _smq(request).delete_topic(request.match_info["topic"])
    return web.Response(status=204)


@routes.post("/topics/{topic}/messages")
@mns
async def publish_message(request: web.Request) -> web.Response:
    """PublishMessage: 201 ``<Message><MessageId/><MessageBodyMD5/>`` (spec §13.5)."""
    values = xml.fields(xml.expect(xml.parse(await request.read()), "Message"))
    if not values.get("MessageBody"):
        raise SmqInvalidArgument("The XML you provided did not validate against our published "
                                 "schema, cause by MessageBody (missing or empty).")
    message = _smq(request).publish_message(request.match_info["topic"],
                                            values["MessageBody"], tag=values.get("MessageTag"))
    return _xml(xml.send_result(message), 201)


@routes.get("/topics/{topic}/subscriptions")
@mns
async def list_subscription_by_topic(request: web.Request) -> web.Response:
    prefix, marker, limit, _ = _list_args(request)
    topic = request.match_info["topic"]
    subs, next_marker = _smq(request).list_subscriptions(topic, prefix, marker, limit)
    urls = [_url(request, "topics", topic, "subscriptions", s.name) for s in subs]
    return _xml(xml.subscription_list(urls, next_marker))


@routes.put("/topics/{topic}/subscriptions/{sub}")
@mns
async def subscribe(request: web.Request) -> web.Response:
    """Subscribe (201 + Location, 204 when identical), or SetSubscriptionAttributes."""
    topic, name = request.match_info["topic"], request.match_info["sub"]
    values = _attributes(xml.parse(await request.read()), "Subscription")
    smq = _smq(request)
    if _override(request):
        smq.set_subscription_attributes(topic, name,
                                        notify_strategy=values.get("NotifyStrategy", ""))
        return web.Response(status=204)
    _, created = smq.subscribe(topic, name, values.get("Endpoint", ""),
                               notify_strategy=values.get("NotifyStrategy", ""),
                               notify_content_format=values.get("NotifyContentFormat", ""),
                               filter_tag=values.get("FilterTag", ""))
    return web.Response(status=201 if created else 204,
                        headers={"Location": _url(request, "topics", topic, "subscriptions",
                                                  name)})


@routes.get("/topics/{topic}/subscriptions/{sub}")
@mns
async def get_subscription_attributes(request: web.Request) -> web.Response:
    smq = _smq(request)
    sub = smq.get_subscription(request.match_info["topic"], request.match_info["sub"])
    return _xml(xml.subscription_attributes(sub, smq.account_id))


@routes.delete("/topics/{topic}/subscriptions/{sub}")
@mns
async def unsubscribe(request: web.Request) -> web.Response:
    _smq(request).unsubscribe(request.match_info["topic"], request.match_info["sub"])
    return web.Response(status=204)


# -- everything else under /queues and /topics ----------------------------------------


@routes.route("*", "/queues")
@routes.route("*", "/queues/{tail:.*}")
@routes.route("*", "/topics")
@routes.route("*", "/topics/{tail:.*}")
@mns
async def unsupported(request: web.Request) -> web.Response:
    """Any other method or path under the MNS prefixes: InvalidRequestURL, as MNS XML."""
    raise InvalidRequestURL(f"Http request URL format invalid: {request.method} "
                            f"{request.path} is not an MNS operation.")
