"""The MNS queue routes: queues (``/queues``, ``/queues/{queue}``) and their messages
(``/queues/{queue}/messages``), spec §13.3.

One handler per MNS operation; the batch and peek variants, and
SetQueueAttributes, share the routes of their single forms and are told apart
by body and query. Any other method or path under ``/queues`` answers
InvalidRequestURL. Errors become MNS XML in :mod:`fcemu.api.smq.middleware`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree

from aiohttp import web

from fcemu.api.smq import params as p
from fcemu.api.smq import xml
from fcemu.api.smq.middleware import mns, xml_response
from fcemu.errors import (
    InvalidRequestURL,
    MessageNotExist,
    MissingReceiptHandle,
    MissingVisibilityTimeout,
    SmqError,
    SmqInvalidArgument,
)
from fcemu.smq import MAX_BATCH, Message, Queue, check_batch_bytes

if TYPE_CHECKING:
    from fcemu.smq.properties import Properties

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/queues")
@mns
async def list_queue(request: web.Request) -> web.Response:
    prefix, marker, limit, with_meta = p.list_args(request)
    queues, next_marker = p.smq_of(request).list_queues(prefix, marker, limit)
    pairs = [(p.url(request, "queues", q.name), q) for q in queues]
    return xml_response(xml.queue_list(pairs, next_marker, with_meta))


@routes.put("/queues/{queue}")
@mns
async def create_queue(request: web.Request) -> web.Response:
    """CreateQueue (201 + Location, 204 when identical), or SetQueueAttributes with
    ``?metaoverride=true``."""
    name = request.match_info["queue"]
    attributes = p.attributes(xml.parse(await request.read()), "Queue")
    smq = p.smq_of(request)
    if p.override(request):
        smq.set_queue_attributes(name, **attributes)
        return web.Response(status=204)
    _, created = smq.create_queue(name, **attributes)
    return web.Response(status=201 if created else 204,
                        headers={"Location": p.url(request, "queues", name)})


@routes.get("/queues/{queue}")
@mns
async def get_queue_attributes(request: web.Request) -> web.Response:
    queue = p.smq_of(request).get_queue(request.match_info["queue"])
    return xml_response(xml.queue_attributes(queue))


@routes.delete("/queues/{queue}")
@mns
async def delete_queue(request: web.Request) -> web.Response:
    p.smq_of(request).delete_queue(request.match_info["queue"])
    return web.Response(status=204)


# -- messages ---------------------------------------------------------------------------


def _send(queue: Queue, values: dict[str, str], properties: Properties | None) -> Message:
    if not values.get("MessageBody"):
        raise SmqInvalidArgument("The XML you provided did not validate against our published "
                                 "schema, cause by MessageBody (missing or empty).")
    return queue.send(values["MessageBody"],
                      delay_seconds=p.int_param("DelaySeconds", values.get("DelaySeconds")),
                      priority=p.int_or("Priority", values.get("Priority"), 8),
                      properties=properties)


@routes.post("/queues/{queue}/messages")
@mns
async def send_message(request: web.Request) -> web.Response:
    """SendMessage (``<Message>``) or BatchSendMessage (``<Messages>``), 201 (spec §13.3)."""
    root = xml.expect(xml.parse(await request.read()), "Message", "Messages")
    queue = p.smq_of(request).get_queue(request.match_info["queue"])
    if xml.local(root.tag) == "Message":
        message = _send(queue, xml.fields(root), xml.properties(root))
        return xml_response(xml.send_result(message), 201)
    return _batch_send(queue, xml.items(root, "Message"))


def _batch_send(queue: Queue, entries: list[ElementTree.Element]) -> web.Response:
    if not 1 <= len(entries) <= MAX_BATCH:
        raise SmqInvalidArgument(f"The number of messages in a batch should be between 1 and "
                                 f"{MAX_BATCH}; got {len(entries)}.")
    check_batch_bytes(xml.fields(entry).get("MessageBody", "") for entry in entries)
    results: list[Message | SmqError] = []
    # every message's properties first: a batch refused for one of them enqueues nothing
    properties = [xml.properties(e, f"message {i}: ") for i, e in enumerate(entries, 1)]
    for entry, props in zip(entries, properties, strict=True):
        try:
            results.append(_send(queue, xml.fields(entry), props))
        except SmqError as err:
            results.append(err)
    failed = [r for r in results if isinstance(r, SmqError)]
    # A partial failure must not be 2xx: the SDK only reads ErrorCode items from errors.
    return xml_response(xml.batch_send_result(results), failed[0].status if failed else 201)


@routes.get("/queues/{queue}/messages")
@mns
async def receive_message(request: web.Request) -> web.Response:
    """ReceiveMessage / BatchReceiveMessage (``numOfMessages``, long poll ``waitseconds``),
    PeekMessage / BatchPeekMessage (``peekonly=true``). Nothing there → 404 MessageNotExist."""
    query = p.query(request)
    queue = p.smq_of(request).get_queue(request.match_info["queue"])
    batch = "numofmessages" in query
    count = p.batch_count(query.get("numofmessages"), "numOfMessages")
    peek = query.get("peekonly", "").lower() == "true"
    if peek:
        found = queue.peek(count)
    else:
        wait = p.int_param("waitseconds", query.get("waitseconds"))
        found = await queue.receive_wait(count, wait)
    if not found:
        raise MessageNotExist(f"Message not exist: queue {queue.name} has no visible message.")
    if batch:
        return xml_response(xml.messages(found, received=not peek))
    return xml_response(xml.message(found[0], received=not peek))


@routes.delete("/queues/{queue}/messages")
@mns
async def delete_message(request: web.Request) -> web.Response:
    """DeleteMessage (``?ReceiptHandle=``) or BatchDeleteMessage (``<ReceiptHandles>`` body)."""
    query = p.query(request)
    queue = p.smq_of(request).get_queue(request.match_info["queue"])
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
        return xml_response(xml.batch_delete_errors(failures), failures[0][1].status)
    return web.Response(status=204)


@routes.put("/queues/{queue}/messages")
@mns
async def change_message_visibility(request: web.Request) -> web.Response:
    query = p.query(request)
    handle = query.get("receipthandle")
    if not handle:
        raise MissingReceiptHandle()
    seconds = p.int_param("VisibilityTimeout", query.get("visibilitytimeout"))
    if seconds is None:
        raise MissingVisibilityTimeout()
    queue = p.smq_of(request).get_queue(request.match_info["queue"])
    return xml_response(xml.change_visibility(queue.change_visibility(handle, seconds)))


@routes.route("*", "/queues")
@routes.route("*", "/queues/{tail:.*}")
@mns
async def unsupported(request: web.Request) -> web.Response:
    """Any other method or path under ``/queues``: InvalidRequestURL, as MNS XML."""
    raise InvalidRequestURL(f"Http request URL format invalid: {request.method} "
                            f"{request.path} is not an MNS operation.")
