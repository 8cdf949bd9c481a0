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
from fcemu.smq.properties import Properties, make_properties

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


#: The property lists of a ``<Message>`` and the element of each property in them.
_PROPERTY_LISTS = {"UserProperties": "PropertyValue", "SystemProperties": "SystemPropertyValue"}


def properties(message: ElementTree.Element, where: str = "") -> Properties | None:
    """A ``<Message>``'s ``UserProperties`` / ``SystemProperties`` (each a list of
    ``<PropertyValue>`` / ``<SystemPropertyValue>`` with ``Name``, ``Value`` and ``Type``,
    as the MNS SDKs write them), checked (:func:`fcemu.smq.properties.make_properties`);
    None when there are none. Inside them, a shape other than that is the schema error;
    other elements are passed over, as :func:`fields` passes over what it does not know."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for child in message:
        if len(child) == 0:  # a plain field (MessageBody …), or an empty list
            continue
        kind = local(child.tag)
        entry = _PROPERTY_LISTS.get(kind)
        if entry is None:
            continue
        if kind in found:
            raise _schema(f"a second <{kind}>", where)
        found[kind] = [_property(e, entry, where) for e in child]
    if not found:
        return None
    return make_properties(found.get("UserProperties", ()), found.get("SystemProperties", ()),
                           where=where)


def _property(element: ElementTree.Element, entry: str, where: str) -> tuple[str, str, str]:
    """``(Name, Type, Value)`` of one ``<PropertyValue>``: each exactly once, nothing else
    (an empty ``<Value/>`` is the empty string)."""
    if local(element.tag) != entry:
        raise _schema(f"<{local(element.tag)}> where <{entry}> goes", where)
    parts: dict[str, str] = {}
    for part in element:
        name = local(part.tag)
        if name not in ("Name", "Value", "Type") or name in parts or len(part):
            raise _schema(f"<{name}> in <{entry}>", where)
        parts[name] = part.text or ""
    missing = [n for n in ("Name", "Type", "Value") if n not in parts]
    if missing:
        raise _schema(f"<{entry}> without <{'>, <'.join(missing)}>", where)
    return (parts["Name"], parts["Type"], parts["Value"])


def _schema(cause: str, where: str) -> SmqInvalidArgument:
    return SmqInvalidArgument(f"{where}The XML you provided did not validate against our "
                              f"published schema, cause by {cause}.")


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


def _content(message: Message, received: bool) -> str:
    content = inner(_message(message, received))
    if message.properties is not None:
        content += _properties(message.properties)
    return content


def _properties(props: Properties) -> str:
    """``<UserProperties><PropertyValue><Name/><Value/><Type/></PropertyValue>…`` and the
    same with ``SystemProperties``/``SystemPropertyValue``, as the SDKs' decoders read them
    (mns_xml_handler.py ``_parse_properties_node``; Type upper-case, as ``PropertyType``)."""
    return "".join(
        f"<{kind}>" + "".join(f"<{entry}>{inner({'Name': n, 'Value': v, 'Type': t})}</{entry}>"
                              for n, t, v in listed) + f"</{kind}>"
        for kind, entry, listed in (("UserProperties", "PropertyValue", props.user),
                                    ("SystemProperties", "SystemPropertyValue", props.system))
        if listed)


def message(msg: Message, *, received: bool) -> bytes:
    """ReceiveMessage / PeekMessage."""
    return document("Message", _content(msg, received))


def messages(msgs: Iterable[Message], *, received: bool) -> bytes:
    """BatchReceiveMessage / BatchPeekMessage."""
    return document("Messages", (f"<Message>{_content(m, received)}</Message>" for m in msgs))


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
