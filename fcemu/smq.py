"""Simple Message Queue (formerly MNS): queues, topics and messages, with no HTTP.

Every time here is read from the injected clock (DESIGN.md principle 2), and
state is evaluated lazily against it: a hidden or delayed message is visible
once ``now >= next_visible_time``, an old one is gone once
``now >= expire_time``. Moving a manual clock therefore changes what a queue
returns without any timer. The one timer this module uses is a
``housekeeping`` one that wakes long polls when the clock passes the earliest
hidden message's visibility time (see :meth:`Queue.receive_wait`).

Bodies are stored exactly as sent. The MNS SDK Base64-encodes bodies on
send and decodes them on receive by default (``Queue.set_encoding(True)``), so
SDK-to-SDK traffic round-trips either way. Messages FC writes to destination
queues are raw JSON by default (decisions.md "Destinations"): read them with
``queue.set_encoding(False)``; with the Base64 switch on, keep the SDK default.
:meth:`Message.json` reads both.

Wire details (ranges, defaults, units) are from spec §13.3–§13.5.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fcemu.errors import (
    InvalidQueueName,
    MessageNotExist,
    QueueAlreadyExist,
    QueueNameLengthError,
    QueueNotExist,
    ReceiptHandleError,
    SmqError,
    SmqInvalidArgument,
    SubscriptionAlreadyExist,
    SubscriptionNameInvalid,
    SubscriptionNameLengthError,
    SubscriptionNotExist,
    TopicAlreadyExist,
    TopicNameInvalid,
    TopicNameLengthError,
    TopicNotExist,
)
from fcemu.smq_rules import (
    MAX_WAIT_SECONDS,
    QUEUE_SPECS,
    TOPIC_SPECS,
    check_name,
    defaults,
    differences,
    int_in_range,
    normalise,
    one_of,
    page_names,
)
from fcemu.smq_topics import (
    MAX_TAG,
    NOTIFY_STRATEGIES,
    TOPIC_RETENTION_SECONDS,
    Subscription,
    Topic,
    endpoint_queue,
)

if TYPE_CHECKING:
    from fcemu.clock import Clock, Scheduler, Timer
    from fcemu.ids import IdGenerator

__all__ = ["Message", "Queue", "Smq", "Subscription", "Topic", "body_md5", "endpoint_queue"]

log = logging.getLogger("fcemu.smq")

#: Batch operations take at most this many messages (spec §13.3).
MAX_BATCH = 16
#: ChangeMessageVisibility range; the SDK checks 0–43200 (spec §13.3).
MAX_VISIBILITY_TIMEOUT = 43200
# The shape of IdGenerator.receipt_handle(): "1-" and letters and digits.
_HANDLE = re.compile(r"^[0-9]+-[A-Za-z0-9]+$")


def body_md5(body: str) -> str:
    """``MessageBodyMD5``: upper-case hex MD5 of the body text as stored (spec §13.4)."""
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


@dataclass(eq=False)
class Message:
    """One SMQ message. Objects returned by the domain are live views of queue state.

    Times are epoch milliseconds; ``first_dequeue_time`` is 0 until the first
    receive; ``receipt_handle`` is the current one-time handle, if any.
    """

    message_id: str
    body: str
    body_md5: str
    enqueue_time: int
    next_visible_time: int
    priority: int = 8
    first_dequeue_time: int = 0
    dequeue_count: int = 0
    receipt_handle: str | None = None
    expire_time: int = 0
    seq: int = field(default=0, repr=False)

    def json(self) -> Any:
        """The body parsed as JSON; a Base64 body is decoded first when plain JSON fails."""
        try:
            return json.loads(self.body)
        except ValueError:
            pass
        try:
            decoded = base64.b64decode(self.body, validate=True).decode("utf-8")
            return json.loads(decoded)
        except ValueError:
            raise ValueError(
                f"message {self.message_id}: body is neither JSON nor Base64 of JSON: "
                f"{self.body[:80]!r}"
            ) from None

    def visible(self, now_ms: int) -> bool:
        """Whether a receive at ``now_ms`` may return this message."""
        return now_ms >= self.next_visible_time


def _order(message: Message) -> tuple[int, int]:
    # Priority 1 is the highest; equal priorities keep enqueue order (spec §13.4).
    return (message.priority, message.seq)


class Queue:
    """An SMQ queue: messages with visibility timeouts, one-time receipt handles and delays.

    ``attributes`` holds the MNS attribute names (``VisibilityTimeout``,
    ``DelaySeconds``, ``MaximumMessageSize``, ``MessageRetentionPeriod``,
    ``PollingWaitSeconds``, ``LoggingEnabled``); ``create_time`` and
    ``last_modify_time`` are epoch **seconds**, as GetQueueAttributes reports them.
    """

    def __init__(self, smq: Smq, name: str, attributes: dict[str, Any]) -> None:
        self._smq = smq
        self.name = name
        self.attributes = attributes
        self.create_time = self.last_modify_time = smq.clock.now_ms() // 1000
        self._messages: dict[str, Message] = {}
        # Current receipt handles only (bounded by the live messages).
        self._handles: dict[str, Message] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake_timer: Timer | None = None
        self._seq = itertools.count()
        self.deleted = False

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, {len(self._messages)} messages)"

    # -- inspection -------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Every live message (visible, hidden or delayed) in delivery order, unconsumed."""
        self._expire()
        return sorted(self._messages.values(), key=_order)

    @property
    def last(self) -> Message | None:
        """The most recently sent live message, if any."""
        self._expire()
        return max(self._messages.values(), key=lambda m: m.seq, default=None)

    @property
    def waiting(self) -> int:
        """How many long polls are waiting on this queue now."""
        return len(self._waiters)

    def clear(self) -> None:
        """Drop every message; handles issued so far become stale."""
        self._messages.clear()
        self._handles.clear()

    def counts(self) -> dict[str, int]:
        """``ActiveMessages``, ``InactiveMessages`` and ``DelayMessages`` right now."""
        now = self._expire()
        active = sum(m.visible(now) for m in self._messages.values())
        delayed = sum(not m.visible(now) and m.dequeue_count == 0
                      for m in self._messages.values())
        inactive = len(self._messages) - active - delayed
        return {"ActiveMessages": active, "InactiveMessages": inactive, "DelayMessages": delayed}

    def set_attributes(self, **attributes: Any) -> None:
        """SetQueueAttributes: change the given attributes only."""
        self.attributes.update(normalise(QUEUE_SPECS, attributes))
        self.last_modify_time = self._smq.clock.now_ms() // 1000

    # -- messages ---------------------------------------------------------------------

    def send(self, body: str, *, delay_seconds: int | None = None, priority: int = 8) -> Message:
        """SendMessage. The queue is unchanged when the body or an argument is refused.

        A delayed message gets a receipt handle, valid until it becomes visible
        (spec §13.3: SendMessage returns ``ReceiptHandle`` for delayed messages).
        """
        if not isinstance(body, str):
            raise SmqInvalidArgument("MessageBody must be text")
        limit = self.attributes["MaximumMessageSize"]
        size = len(body.encode("utf-8"))
        if not 1 <= size <= limit:
            raise SmqInvalidArgument(
                f"The value of MessageBody should be between 1 and {limit} bytes "
                f"(MaximumMessageSize of queue {self.name}); got {size} bytes."
            )
        priority = int_in_range("Priority", priority, 1, 16, "")
        delay = self.attributes["DelaySeconds"] if delay_seconds is None else delay_seconds
        delay = int_in_range("DelaySeconds", delay, 0, 604800, "seconds")
        now = self._expire()
        ids = self._smq.ids
        message = Message(
            message_id=ids.message_id(), body=body, body_md5=body_md5(body),
            enqueue_time=now, next_visible_time=now + delay * 1000, priority=priority,
            expire_time=now + self.attributes["MessageRetentionPeriod"] * 1000,
            seq=next(self._seq),
        )
        if delay:
            self._new_handle(message)
        self._messages[message.message_id] = message
        self._notify()
        return message

    def receive(self, count: int = 1) -> list[Message]:
        """ReceiveMessage without waiting: up to ``count`` visible messages, hidden for
        ``VisibilityTimeout`` seconds, each with a new receipt handle."""
        now = self._expire()
        ready = sorted((m for m in self._messages.values() if m.visible(now)), key=_order)
        taken = ready[:count]
        hide_ms = self.attributes["VisibilityTimeout"] * 1000
        for message in taken:
            message.dequeue_count += 1
            message.first_dequeue_time = message.first_dequeue_time or now
            message.next_visible_time = now + hide_ms
            self._new_handle(message)
        if taken:
            self._notify()  # waiters re-arm their wake-up for the new hidden times
        return taken

    async def receive_wait(self, count: int = 1, wait_seconds: int | None = None) -> list[Message]:
        """ReceiveMessage with long polling (spec §13.4 ``waitseconds``).

        Returns at once when messages are visible; otherwise waits up to
        ``wait_seconds`` (default: the queue's ``PollingWaitSeconds``) of *real*
        loop time, so that a client never hangs on a manual clock. A send, a
        visibility change, or the emulator clock passing a hidden message's
        visibility time wakes the wait. Returns ``[]`` when nothing arrived.
        """
        wait = self.attributes["PollingWaitSeconds"] if wait_seconds is None else wait_seconds
        wait = int_in_range("waitseconds", wait, 0, MAX_WAIT_SECONDS, "seconds")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if self.deleted:
                raise QueueNotExist()
            taken = self.receive(count)
            remaining = deadline - loop.time()
            if taken or remaining <= 0:
                return taken
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                self._arm_wake()
                await asyncio.wait([waiter], timeout=remaining)
            finally:
                self._waiters.remove(waiter)
                if not self._waiters and self._wake_timer is not None:
                    self._wake_timer.cancel()
                    self._wake_timer = None

    def peek(self, count: int = 1) -> list[Message]:
        """PeekMessage: up to ``count`` visible messages, with no state change."""
        now = self._expire()
        return sorted((m for m in self._messages.values() if m.visible(now)), key=_order)[:count]

    def delete(self, receipt_handle: str) -> None:
        """DeleteMessage by its current receipt handle."""
        message = self._by_handle(receipt_handle)
        self._drop(message)

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> Message:
        """ChangeMessageVisibility: hide for ``visibility_timeout`` seconds from now, new handle."""
        seconds = int_in_range("VisibilityTimeout", visibility_timeout, 0,
                                MAX_VISIBILITY_TIMEOUT, "seconds")
        message = self._by_handle(receipt_handle)
        message.next_visible_time = self._smq.clock.now_ms() + seconds * 1000
        self._new_handle(message)
        self._notify()
        return message

    # -- internals ----------------------------------------------------------------------

    def _expire(self) -> int:
        """Drop messages past their retention period; return the current time."""
        now = self._smq.clock.now_ms()
        for message in [m for m in self._messages.values() if now >= m.expire_time]:
            self._drop(message)
        return now

    def _drop(self, message: Message) -> None:
        del self._messages[message.message_id]
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)

    def _new_handle(self, message: Message) -> None:
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)
        handle = self._smq.ids.receipt_handle()
        message.receipt_handle = handle
        self._handles[handle] = message

    def _by_handle(self, handle: str) -> Message:
        """The live message a current handle names.

        A handle not in the shape fcemu issues is ``ReceiptHandleError`` (400); a
        well-formed one that is not current (replaced, expired at
        ``NextVisibleTime``, message deleted or past retention) is
        ``MessageNotExist`` (404), as the MNS docs describe for expired handles.
        """
        if not _HANDLE.match(handle):
            raise ReceiptHandleError(f"The receipt handle you provide is not valid: {handle!r}.")
        now = self._expire()
        message = self._handles.get(handle)
        if message is None or message.visible(now):
            raise MessageNotExist(
                f"Message not exist: receipt handle {handle!r} on queue {self.name} has "
                "expired, was replaced by a later receive, or its message was deleted."
            )
        return message

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _arm_wake(self) -> None:
        """Keep one housekeeping timer at the earliest time a hidden message turns visible."""
        now = self._smq.clock.now_ms()
        due = min((m.next_visible_time for m in self._messages.values()
                   if not m.visible(now)), default=None)
        timer = self._wake_timer
        if timer is not None and not (timer.cancelled or timer.fired):
            if due is not None and timer.due_ms <= due:
                return
            timer.cancel()
        self._wake_timer = None
        if due is not None:
            self._wake_timer = self._smq.scheduler.call_at(
                due, self._notify, name=f"smq wake {self.name}", kind="housekeeping")

    def _close(self) -> None:
        self.deleted = True
        self.clear()
        if self._wake_timer is not None:
            self._wake_timer.cancel()
            self._wake_timer = None
        self._notify()


class Smq:
    """All queues and topics of one emulated account; the engine owns one.

    Runs on the emulator's loop like everything else (no locks). Names of
    operations follow the MNS API in snake_case.
    """

    def __init__(self, clock: Clock, scheduler: Scheduler, ids: IdGenerator, *,
                 region: str, account_id: str) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.ids = ids
        self.region = region
        self.account_id = account_id
        self._queues: dict[str, Queue] = {}
        self._topics: dict[str, Topic] = {}

    def close(self) -> None:
        """Forget every queue and topic; parked long polls end at once with QueueNotExist.

        Call it when this state is dropped (engine reset or close) and at server
        shutdown, before aiohttp waits for in-flight requests: a long poll would
        otherwise hold the shutdown for up to 30 s.
        """
        for queue in self._queues.values():
            queue._close()
        self._queues.clear()
        self._topics.clear()

    def new_request_id(self) -> str:
        """An MNS-style request ID (24 upper-case hex digits)."""
        return self.ids.hex(24).upper()

    def queue_endpoint(self, name: str) -> str:
        """The documented queue endpoint for subscriptions: ``acs:mns:<r>:<a>:queues/<q>``."""
        return f"acs:mns:{self.region}:{self.account_id}:queues/{name}"

    # -- queues -----------------------------------------------------------------------

    def create_queue(self, name: str, **attributes: Any) -> tuple[Queue, bool]:
        """CreateQueue: ``(queue, True)`` when new, ``(queue, False)`` when one with the same
        attributes exists; different attributes raise ``QueueAlreadyExist`` (spec §13.3)."""
        check_name(name, InvalidQueueName, QueueNameLengthError, "queue")
        wanted = defaults(QUEUE_SPECS) | normalise(QUEUE_SPECS, attributes)
        existing = self._queues.get(name)
        if existing is not None:
            if existing.attributes == wanted:
                return existing, False
            raise QueueAlreadyExist(f"The queue you want to create is already exist: {name} "
                                    f"has {differences(existing.attributes, wanted)}.")
        queue = Queue(self, name, wanted)
        self._queues[name] = queue
        return queue, True

    def get_queue(self, name: str) -> Queue:
        """The queue named ``name``; ``QueueNotExist`` lists the queues there are."""
        queue = self._queues.get(name)
        if queue is None:
            there = ", ".join(sorted(self._queues)) or "none"
            raise QueueNotExist(f"The queue name you provided is not exist: {name} "
                                f"(queues: {there}).")
        return queue

    def queue_exists(self, name: str) -> bool:
        return name in self._queues

    def set_queue_attributes(self, name: str, **attributes: Any) -> Queue:
        queue = self.get_queue(name)
        queue.set_attributes(**attributes)
        return queue

    def delete_queue(self, name: str) -> None:
        """DeleteQueue; deleting a missing queue is not an error (the docs list none)."""
        queue = self._queues.pop(name, None)
        if queue is not None:
            queue._close()

    def list_queues(self, prefix: str = "", marker: str = "",
                    limit: int = 1000) -> tuple[list[Queue], str]:
        """ListQueue: queues by name from ``marker`` on; returns them and the next marker."""
        names = page_names(self._queues, prefix, marker, limit)
        return [self._queues[n] for n in names[:limit]], names[limit] if len(names) > limit else ""

    def send_message(self, queue_name: str, body: str, *, delay_seconds: int | None = None,
                     priority: int = 8, create: bool = False) -> Message:
        """SendMessage; ``create=True`` first creates a missing queue with default attributes."""
        if create and queue_name not in self._queues:
            self.create_queue(queue_name)
        return self.get_queue(queue_name).send(body, delay_seconds=delay_seconds,
                                               priority=priority)

    # -- topics -----------------------------------------------------------------------

    def create_topic(self, name: str, **attributes: Any) -> tuple[Topic, bool]:
        """CreateTopic, with the same 201/204/409 logic as :meth:`create_queue`."""
        check_name(name, TopicNameInvalid, TopicNameLengthError, "topic")
        wanted = defaults(TOPIC_SPECS) | normalise(TOPIC_SPECS, attributes)
        existing = self._topics.get(name)
        if existing is not None:
            if existing.attributes == wanted:
                return existing, False
            raise TopicAlreadyExist(f"The topic you want to create is already exist: {name} "
                                    f"has {differences(existing.attributes, wanted)}.")
        topic = Topic(name, wanted, self.clock.now_ms())
        self._topics[name] = topic
        return topic, True

    def get_topic(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            there = ", ".join(sorted(self._topics)) or "none"
            raise TopicNotExist(f"The topic name you provided is not exist: {name} "
                                f"(topics: {there}).")
        return topic

    def topic_exists(self, name: str) -> bool:
        return name in self._topics

    def set_topic_attributes(self, name: str, **attributes: Any) -> Topic:
        topic = self.get_topic(name)
        topic.attributes.update(normalise(TOPIC_SPECS, attributes))
        topic.last_modify_time = self.clock.now_ms() // 1000
        return topic

    def delete_topic(self, name: str) -> None:
        """DeleteTopic (and its subscriptions); a missing topic is not an error."""
        self._topics.pop(name, None)

    def list_topics(self, prefix: str = "", marker: str = "",
                    limit: int = 1000) -> tuple[list[Topic], str]:
        names = page_names(self._topics, prefix, marker, limit)
        return [self._topics[n] for n in names[:limit]], names[limit] if len(names) > limit else ""

    def subscribe(self, topic_name: str, subscription_name: str, endpoint: str, *,
                  notify_strategy: str = "", notify_content_format: str = "",
                  filter_tag: str = "") -> tuple[Subscription, bool]:
        """Subscribe: ``(subscription, created)``; same 201/204/409 logic as queues."""
        topic = self.get_topic(topic_name)
        check_name(subscription_name, SubscriptionNameInvalid, SubscriptionNameLengthError,
                    "subscription")
        now_s = self.clock.now_ms() // 1000
        wanted = Subscription(topic_name, subscription_name, endpoint, notify_strategy,
                              notify_content_format, filter_tag, now_s, now_s)
        existing = topic.subscriptions.get(subscription_name)
        if existing is not None:
            if existing.same_as(wanted):
                return existing, False
            raise SubscriptionAlreadyExist(
                f"The subscription you want to create is already exist: {subscription_name} "
                f"on topic {topic_name}.")
        topic.subscriptions[subscription_name] = wanted
        return wanted, True

    def get_subscription(self, topic_name: str, subscription_name: str) -> Subscription:
        subscription = self.get_topic(topic_name).subscriptions.get(subscription_name)
        if subscription is None:
            raise SubscriptionNotExist(f"The subscription name you provided is not exist: "
                                       f"{subscription_name} on topic {topic_name}.")
        return subscription

    def set_subscription_attributes(self, topic_name: str, subscription_name: str, *,
                                    notify_strategy: str = "") -> Subscription:
        subscription = self.get_subscription(topic_name, subscription_name)
        if notify_strategy:
            one_of("NotifyStrategy", notify_strategy, NOTIFY_STRATEGIES)
            subscription.notify_strategy = notify_strategy
        subscription.last_modify_time = self.clock.now_ms() // 1000
        return subscription

    def unsubscribe(self, topic_name: str, subscription_name: str) -> None:
        """Unsubscribe; a missing subscription is not an error."""
        self.get_topic(topic_name).subscriptions.pop(subscription_name, None)

    def list_subscriptions(self, topic_name: str, prefix: str = "", marker: str = "",
                           limit: int = 1000) -> tuple[list[Subscription], str]:
        """ListSubscriptionByTopic."""
        subs = self.get_topic(topic_name).subscriptions
        names = page_names(subs, prefix, marker, limit)
        return [subs[n] for n in names[:limit]], names[limit] if len(names) > limit else ""

    def publish_message(self, topic_name: str, body: str, *, tag: str | None = None,
                        create: bool = False) -> Message:
        """PublishMessage: record it and push it to every subscribed queue endpoint.

        ``create=True`` first creates a missing topic (topic destinations use it).
        Each queue gets the body in its subscription's ``NotifyContentFormat``
        (XML notification, JSON notification, or SIMPLIFIED = the body as is).
        A subscription whose tag filter does not match, whose queue is missing,
        or whose queue refuses the body, is skipped with a log line.
        """
        if create and topic_name not in self._topics:
            self.create_topic(topic_name)
        topic = self.get_topic(topic_name)
        tag = tag or ""
        if len(tag) > MAX_TAG:
            raise SmqInvalidArgument(f"The length of MessageTag should be between 1 and "
                                     f"{MAX_TAG}; got {len(tag)}.")
        limit = topic.attributes["MaximumMessageSize"]
        size = len(body.encode("utf-8")) if isinstance(body, str) else 0
        if not 1 <= size <= limit:
            raise SmqInvalidArgument(f"The value of MessageBody should be between 1 and {limit} "
                                     f"bytes (topic {topic_name}); got {size} bytes.")
        now = self.clock.now_ms()
        message = Message(self.ids.message_id(), body, body_md5(body), now, now,
                          expire_time=now + TOPIC_RETENTION_SECONDS * 1000)
        topic.message_count(now)
        topic.published.append(message)
        for subscription in list(topic.subscriptions.values()):
            self._push(topic, subscription, message, tag)
        return message

    def _push(self, topic: Topic, subscription: Subscription, message: Message,
              tag: str) -> None:
        queue_name = subscription.queue_name
        if not subscription.accepts(tag):
            return
        if queue_name is None:
            log.info("topic %s: subscription %s endpoint %s is not a queue; not delivered",
                     topic.name, subscription.name, subscription.endpoint)
            return
        try:
            self.send_message(queue_name, subscription.notification(message, tag,
                                                                    self.account_id))
        except SmqError as exc:
            log.warning("topic %s: push to queue %s (subscription %s) failed: %s",
                        topic.name, queue_name, subscription.name, exc)
