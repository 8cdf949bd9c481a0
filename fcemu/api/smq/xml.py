"""MNS XML: reading request bodies and writing every response body the SDK parses.

The SDK matches element names without namespaces and calls ``.text.strip()``
on list items, so list responses never contain empty elements, and numbers
are always written as integers (spec §13.1, §13.3). Bodies are escaped as XML
text; ``\\r`` is written as a character reference so that it survives parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from fcemu.errors import MalformedXML, SmqError, SmqInvalidArgument
from fcemu.smq import TOPIC_RETENTION_SECONDS

if TYPE_CHECKING:
    from fcemu.smq import Message, Queue, Subscription, Topic

NS = "http://mns.aliyuncs.com/doc/v1/"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'
CONTENT_TYPE = "text/xml;charset=utf-8"

# -- reading ------------------------------------------------------------------------


def local(tag: str) -> str:
    """An element name without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def parse(body: bytes) -> ElementTree.Element | None:
    """The root element of a request body, ``None`` for an empty body; else MalformedXML."""
    if not body.strip():
        return None
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise MalformedXML(f"The XML you provided was not well-formed: {exc}.") from None


def expect(root: ElementTree.Element | None, *names: str) -> ElementTree.Element:
    """``root`` if its name is one of ``names``; otherwise the documented schema error."""
    if root is None or local(root.tag) not in names:
        got = "an empty body" if root is None else f"<{local(root.tag)}>"
        raise SmqInvalidArgument(
            "The XML you provided did not validate against our published schema, cause by "
            f"{got} (expected <{'> or <'.join(names)}>).")
    return root


def fields(element: ElementTree.Element | None) -> dict[str, str]:
    """Child elements with text, by local name (nested ones such as UserProperties skipped)."""
    if element is None:
        return {}
    return {local(child.tag): child.text or "" for child in element if len(child) == 0}


def items(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    """The children of ``root`` called ``name``."""
    return [child for child in root if local(child.tag) == name]


# -- writing ------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, bool):
        value = "True" if value else "False"
    return escape(str(value), {"\r": "&#13;"})


def inner(values: Mapping[str, object]) -> str:
    """``<k>v</k>…`` with escaped text."""
    return "".join(f"<{k}>{_text(v)}</{k}>" for k, v in values.items())


def element(tag: str, values: Mapping[str, object]) -> str:
    """``<tag><k>v</k>…</tag>``."""
    return f"<{tag}>{inner(values)}</{tag}>"


def document(root: str, content: str | Iterable[str]) -> bytes:
    """A whole response: prolog, namespaced root, ``content`` XML."""
    body = content if isinstance(content, str) else "".join(content)
    # A lone surrogate (UTF-8 cannot hold one, nor XML) never reaches here from the wire;
    # should one slip in, it is written as "?" rather than failing the whole answer.
    return f'{PROLOG}<{root} xmlns="{NS}">{body}</{root}>'.encode("utf-8", "replace")


def error(err: SmqError, request_id: str, host_id: str) -> bytes:
    """spec §13.2: all four of Code, Message, RequestId, HostId (the SDK requires them)."""
    values = {"Code": err.code, "Message": err.message, "RequestId": request_id,
              "HostId": host_id}
    return document("Error", inner(values))


def queue_attributes(queue: Queue) -> bytes:
    """GetQueueAttributes: every element GetQueueAttrDecoder requires (spec §13.3)."""
    return document("Queue", inner(_queue_meta(queue)))


def _queue_meta(queue: Queue) -> dict[str, object]:
    a = queue.attributes
    return {
        "QueueName": queue.name, "CreateTime": queue.create_time,
        "LastModifyTime": queue.last_modify_time, "DelaySeconds": a["DelaySeconds"],
        "MaximumMessageSize": a["MaximumMessageSize"],
        "MessageRetentionPeriod": a["MessageRetentionPeriod"],
        "VisibilityTimeout": a["VisibilityTimeout"], "PollingWaitSeconds": a["PollingWaitSeconds"],
        **queue.counts(), "LoggingEnabled": a["LoggingEnabled"],
    }


def queue_list(queues: Iterable[tuple[str, Queue]], next_marker: str, with_meta: bool) -> bytes:
    """ListQueue: ``<Queues><Queue><QueueURL>…`` plus meta on request; no empty elements."""
    parts = [element("Queue", {"QueueURL": url, **(_queue_meta(q) if with_meta else {})})
             for url, q in queues]
    return document("Queues", [*parts, _marker(next_marker)])


def _marker(next_marker: str) -> str:
    return f"<NextMarker>{_text(next_marker)}</NextMarker>" if next_marker else ""


def sent(message: Message) -> dict[str, object]:
    """SendMessage result fields; a delayed message also carries its ReceiptHandle."""
    values: dict[str, object] = {"MessageId": message.message_id,
                                 "MessageBodyMD5": message.body_md5}
    if message.receipt_handle and message.dequeue_count == 0:
        values["ReceiptHandle"] = message.receipt_handle
    return values


def send_result(message: Message) -> bytes:
    return document("Message", inner(sent(message)))


def batch_send_result(results: list[Message | SmqError]) -> bytes:
    """BatchSendMessage: one ``<Message>`` per input, either the result or ErrorCode and
    ErrorMessage (exactly those two, as BatchSendMessageDecoder checks)."""
    return document("Messages", (
        element("Message", {"ErrorCode": r.code, "ErrorMessage": r.message}
                if isinstance(r, SmqError) else {"MessageId": r.message_id,
                                                  "MessageBodyMD5": r.body_md5})
        for r in results))


def _message(message: Message, received: bool) -> dict[str, object]:
    values: dict[str, object] = {
        "MessageId": message.message_id, "MessageBody": message.body,
        "MessageBodyMD5": message.body_md5, "EnqueueTime": message.enqueue_time,
        "FirstDequeueTime": message.first_dequeue_time, "DequeueCount": message.dequeue_count,
        "Priority": message.priority,
    }
    if received:  # ReceiveMessage's 9 elements (spec §13.3); peek has no handle
        values["ReceiptHandle"] = message.receipt_handle
        values["NextVisibleTime"] = message.next_visible_time
    return values


def message(msg: Message, *, received: bool) -> bytes:
    """ReceiveMessage / PeekMessage."""
    return document("Message", inner(_message(msg, received)))


def messages(msgs: Iterable[Message], *, received: bool) -> bytes:
    """BatchReceiveMessage / BatchPeekMessage."""
    return document("Messages", (element("Message", _message(m, received)) for m in msgs))


def change_visibility(msg: Message) -> bytes:
    return document("ChangeVisibility", inner({
        "ReceiptHandle": msg.receipt_handle, "NextVisibleTime": msg.next_visible_time,
    }))


def batch_delete_errors(failures: Iterable[tuple[str, SmqError]]) -> bytes:
    """BatchDeleteMessage partial failure: ``<Errors><Error>`` with ErrorCode, ErrorMessage,
    ReceiptHandle (exactly those, as BatchDeleteMessageDecoder checks; spec §13.3)."""
    return document("Errors", (
        element("Error", {"ErrorCode": e.code, "ErrorMessage": e.message, "ReceiptHandle": h})
        for h, e in failures))


def _topic_meta(topic: Topic, message_count: int) -> dict[str, object]:
    return {
        "TopicName": topic.name, "CreateTime": topic.create_time,
        "LastModifyTime": topic.last_modify_time,
        "MaximumMessageSize": topic.attributes["MaximumMessageSize"],
        "MessageRetentionPeriod": TOPIC_RETENTION_SECONDS, "MessageCount": message_count,
        "LoggingEnabled": topic.attributes["LoggingEnabled"],
    }


def topic_attributes(topic: Topic, message_count: int) -> bytes:
    """GetTopicAttributes: every element GetTopicAttrDecoder requires."""
    return document("Topic", inner(_topic_meta(topic, message_count)))


def topic_list(topics: Iterable[tuple[str, Topic, int]], next_marker: str,
               with_meta: bool) -> bytes:
    """ListTopic: ``<Topics><Topic><TopicURL>…`` (root name must be 6 letters long, as the
    SDK slices it off to find the namespace)."""
    parts = [element("Topic", {"TopicURL": url,
                               **(_topic_meta(t, count) if with_meta else {})})
             for url, t, count in topics]
    return document("Topics", [*parts, _marker(next_marker)])


def subscription_attributes(sub: Subscription, owner: str) -> bytes:
    """GetSubscriptionAttributes; FilterTag only when set (the SDK treats it as optional)."""
    values: dict[str, object] = {
        "TopicOwner": owner, "TopicName": sub.topic_name, "SubscriptionName": sub.name,
        "Endpoint": sub.endpoint, "NotifyStrategy": sub.notify_strategy,
        "NotifyContentFormat": sub.notify_content_format, "CreateTime": sub.create_time,
        "LastModifyTime": sub.last_modify_time,
    }
    if sub.filter_tag:
        values["FilterTag"] = sub.filter_tag
    return document("Subscription", inner(values))


def subscription_list(urls: Iterable[str], next_marker: str) -> bytes:
    """ListSubscriptionByTopic: ``<Subscriptions><Subscription><SubscriptionURL>…``."""
    parts = [element("Subscription", {"SubscriptionURL": url}) for url in urls]
    return document("Subscriptions", [*parts, _marker(next_marker)])
