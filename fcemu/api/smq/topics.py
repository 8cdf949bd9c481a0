"""The MNS topic routes: topics (``/topics``, ``/topics/{topic}``), publishing
(``/topics/{topic}/messages``) and subscriptions (``/topics/{topic}/subscriptions…``),
spec §13.5.

One handler per MNS operation; SetTopicAttributes and SetSubscriptionAttributes
share the routes of CreateTopic and Subscribe (``?metaoverride=true``). Any
other method or path under ``/topics`` answers InvalidRequestURL. Errors
become MNS XML in :mod:`fcemu.api.smq.middleware`.
"""

from __future__ import annotations

from aiohttp import web

from fcemu.api.smq import params as p
from fcemu.api.smq import xml
from fcemu.api.smq.middleware import mns, xml_response
from fcemu.errors import InvalidRequestURL, SmqInvalidArgument

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/topics")
@mns
async def list_topic(request: web.Request) -> web.Response:
    prefix, marker, limit, with_meta = p.list_args(request)
    smq = p.smq_of(request)
    topics, next_marker = smq.list_topics(prefix, marker, limit)
    now = smq.clock.now_ms()
    rows = [(p.url(request, "topics", t.name), t, t.message_count(now)) for t in topics]
    return xml_response(xml.topic_list(rows, next_marker, with_meta))


@routes.put("/topics/{topic}")
@mns
async def create_topic(request: web.Request) -> web.Response:
    """CreateTopic (201 + Location, 204 when identical), or SetTopicAttributes."""
    name = request.match_info["topic"]
    attributes = p.attributes(xml.parse(await request.read()), "Topic")
    smq = p.smq_of(request)
    if p.override(request):
        smq.set_topic_attributes(name, **attributes)
        return web.Response(status=204)
    _, created = smq.create_topic(name, **attributes)
    return web.Response(status=201 if created else 204,
                        headers={"Location": p.url(request, "topics", name)})


@routes.get("/topics/{topic}")
@mns
async def get_topic_attributes(request: web.Request) -> web.Response:
    smq = p.smq_of(request)
    topic = smq.get_topic(request.match_info["topic"])
    return xml_response(xml.topic_attributes(topic, topic.message_count(smq.clock.now_ms())))


@routes.delete("/topics/{topic}")
@mns
async def delete_topic(request: web.Request) -> web.Response:
    p.smq_of(request).delete_topic(request.match_info["topic"])
    return web.Response(status=204)


@routes.post("/topics/{topic}/messages")
@mns
async def publish_message(request: web.Request) -> web.Response:
    """PublishMessage: 201 ``<Message><MessageId/><MessageBodyMD5/>`` (spec §13.5)."""
    values = xml.fields(xml.expect(xml.parse(await request.read()), "Message"))
    if not values.get("MessageBody"):
        raise SmqInvalidArgument("The XML you provided did not validate against our published "
                                 "schema, cause by MessageBody (missing or empty).")
    message = p.smq_of(request).publish_message(request.match_info["topic"],
                                            values["MessageBody"], tag=values.get("MessageTag"))
    return xml_response(xml.send_result(message), 201)


@routes.get("/topics/{topic}/subscriptions")
@mns
async def list_subscription_by_topic(request: web.Request) -> web.Response:
    prefix, marker, limit, _ = p.list_args(request)
    topic = request.match_info["topic"]
    subs, next_marker = p.smq_of(request).list_subscriptions(topic, prefix, marker, limit)
    urls = [p.url(request, "topics", topic, "subscriptions", s.name) for s in subs]
    return xml_response(xml.subscription_list(urls, next_marker))


@routes.put("/topics/{topic}/subscriptions/{sub}")
@mns
async def subscribe(request: web.Request) -> web.Response:
    """Subscribe (201 + Location, 204 when identical), or SetSubscriptionAttributes."""
    topic, name = request.match_info["topic"], request.match_info["sub"]
    values = p.attributes(xml.parse(await request.read()), "Subscription")
    smq = p.smq_of(request)
    if p.override(request):
        smq.set_subscription_attributes(topic, name,
                                        notify_strategy=values.get("NotifyStrategy", ""))
        return web.Response(status=204)
    _, created = smq.subscribe(topic, name, values.get("Endpoint", ""),
                               notify_strategy=values.get("NotifyStrategy", ""),
                               notify_content_format=values.get("NotifyContentFormat", ""),
                               filter_tag=values.get("FilterTag", ""))
    return web.Response(status=201 if created else 204,
                        headers={"Location": p.url(request, "topics", topic, "subscriptions",
                                                  name)})


@routes.get("/topics/{topic}/subscriptions/{sub}")
@mns
async def get_subscription_attributes(request: web.Request) -> web.Response:
    smq = p.smq_of(request)
    sub = smq.get_subscription(request.match_info["topic"], request.match_info["sub"])
    return xml_response(xml.subscription_attributes(sub, smq.account_id))


@routes.delete("/topics/{topic}/subscriptions/{sub}")
@mns
async def unsubscribe(request: web.Request) -> web.Response:
    p.smq_of(request).unsubscribe(request.match_info["topic"], request.match_info["sub"])
    return web.Response(status=204)


@routes.route("*", "/topics")
@routes.route("*", "/topics/{tail:.*}")
@mns
async def unsupported(request: web.Request) -> web.Response:
    """Any other method or path under ``/topics``: InvalidRequestURL, as MNS XML."""
    raise InvalidRequestURL(f"Http request URL format invalid: {request.method} "
                            f"{request.path} is not an MNS operation.")
