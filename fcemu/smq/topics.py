"""SMQ topics and subscriptions: the records, endpoint parsing, pushed-message formats and
the fan-out of a published message to subscribed queues.

:class:`fcemu.smq.account.Smq` owns the topics of an account, checks a publish
and builds its message; this module holds what a topic *is* and how it pushes.
It never reaches for queues: :meth:`Topic.publish` is handed a ``deliver``
callable (queue name, body). Spec §13.5; subscription endpoints and
NotifyContentFormat from the MNS "Endpoint" and "NotifyContentFormat" pages.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from fcemu.errors import EndpointInvalid, SmqError, SmqInvalidArgument
from fcemu.smq.messages import Message
from fcemu.smq.rules import one_of

__all__ = ["CONTENT_FORMATS", "MAX_TAG", "NOTIFY_STRATEGIES", "TOPIC_RETENTION_SECONDS",
           "Deliver", "Subscription", "Topic", "endpoint_queue"]

log = logging.getLogger("fcemu.smq")

#: Sends a body to the named queue; raises SmqError when the queue is missing or refuses it.
Deliver = Callable[[str, str], object]

#: Topics keep published messages for a day (reported as MessageRetentionPeriod).
TOPIC_RETENTION_SECONDS = 86400
NOTIFY_STRATEGIES = ("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY")
CONTENT_FORMATS = ("XML", "JSON", "SIMPLIFIED")
MAX_TAG = 16

# Queue endpoints: acs:mns:<region>:<account>:queues/<q> (documented form, also with a
# slash and a /messages suffix), or an http(s) URL ending in /queues/<q>.
_QUEUE_ENDPOINT = re.compile(
    r"^(?:acs:mns:[^:]*:[^:]*:/?|https?://[^/]+/)queues/(?P<queue>[^/?#]+)(?:/messages)?/?$"
)


def endpoint_queue(endpoint: str) -> str | None:
    """The queue a subscription endpoint points at, or ``None`` for other endpoints."""
    m = _QUEUE_ENDPOINT.match(endpoint)
    return m["queue"] if m else None


@dataclass(eq=False)
class Subscription:
    """A topic subscription. Queue endpoints (see :func:`endpoint_queue`) get fan-out;
    other endpoints (HTTP, mail, SMS) are recorded but receive nothing."""

    topic_name: str
    name: str
    endpoint: str
    notify_strategy: str = "BACKOFF_RETRY"
    notify_content_format: str = "XML"
    filter_tag: str = ""
    create_time: int = 0
    last_modify_time: int = 0

    def __post_init__(self) -> None:
        if not self.endpoint or self.endpoint != self.endpoint.strip():
            raise EndpointInvalid(f"The endpoint {self.endpoint!r} is not valid.")
        self.notify_strategy = self.notify_strategy or "BACKOFF_RETRY"
        self.notify_content_format = self.notify_content_format or "XML"
        one_of("NotifyStrategy", self.notify_strategy, NOTIFY_STRATEGIES)
        one_of("NotifyContentFormat", self.notify_content_format, CONTENT_FORMATS)
        if len(self.filter_tag) > MAX_TAG:
            raise SmqInvalidArgument(f"The length of FilterTag should be between 1 and "
                                     f"{MAX_TAG}; got {len(self.filter_tag)}.")

    @property
    def queue_name(self) -> str | None:
        return endpoint_queue(self.endpoint)

    def same_as(self, other: Subscription) -> bool:
        """Whether a repeated Subscribe asks for exactly this subscription (→ 204)."""
        return ((self.endpoint, self.notify_strategy, self.notify_content_format,
                 self.filter_tag) == (other.endpoint, other.notify_strategy,
                                      other.notify_content_format, other.filter_tag))

    def accepts(self, tag: str) -> bool:
        """Tag filtering: a subscription with a FilterTag only gets messages with that tag."""
        return not self.filter_tag or self.filter_tag == tag

    def notification(self, message: Message, tag: str, owner: str) -> str:
        """The body pushed to the endpoint, in this subscription's NotifyContentFormat."""
        if self.notify_content_format == "SIMPLIFIED":
            return message.body
        fields = {
            "TopicOwner": owner, "TopicName": self.topic_name, "Subscriber": owner,
            "SubscriptionName": self.name, "MessageId": message.message_id,
            "Message": message.body, "MessageMD5": message.body_md5, "MessageTag": tag,
            "PublishTime": str(message.enqueue_time),
        }
        if not tag:
            del fields["MessageTag"]
        if self.notify_content_format == "JSON":
            return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
        return ('<?xml version="1.0" encoding="utf-8"?>'
                f'<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</Notification>')


class Topic:
    """An SMQ topic: attributes, subscriptions and the messages published within a day."""

    def __init__(self, name: str, attributes: dict[str, Any], now_ms: int) -> None:
        self.name = name
        self.attributes = attributes
        self.create_time = self.last_modify_time = now_ms // 1000
        self.subscriptions: dict[str, Subscription] = {}
        self.published: list[Message] = []

    def __repr__(self) -> str:
        return f"Topic({self.name!r}, {len(self.subscriptions)} subscriptions)"

    def message_count(self, now_ms: int) -> int:
        """Messages published within the topic's retention period."""
        self.published = [m for m in self.published if now_ms < m.expire_time]
        return len(self.published)

    def publish(self, message: Message, tag: str, owner: str, deliver: Deliver) -> None:
        """Record ``message`` and push it to every subscribed queue endpoint via ``deliver``.

        Each queue gets the body in its subscription's ``NotifyContentFormat``
        (XML notification, JSON notification, or SIMPLIFIED = the body as is).
        A subscription whose tag filter does not match, whose queue is missing,
        or whose queue refuses the body, is skipped with a log line.
        """
        self.message_count(message.enqueue_time)
        self.published.append(message)
        for subscription in list(self.subscriptions.values()):
            self._push(subscription, message, tag, owner, deliver)

    def _push(self, subscription: Subscription, message: Message, tag: str, owner: str,
              deliver: Deliver) -> None:
        queue_name = subscription.queue_name
        if not subscription.accepts(tag):
            return
        if queue_name is None:
            log.info("topic %s: subscription %s endpoint %s is not a queue; not delivered",
                     self.name, subscription.name, subscription.endpoint)
            return
        try:
            deliver(queue_name, subscription.notification(message, tag, owner))
        except SmqError as exc:
            log.warning("topic %s: push to queue %s (subscription %s) failed: %s",
                        self.name, queue_name, subscription.name, exc)
