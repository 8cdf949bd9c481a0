"""The SMQ account: :class:`Smq`, every queue and topic of one emulated account.

This is the one object the engine holds and the API talks to. It creates,
finds, lists and deletes queues (:mod:`fcemu.smq.queues`) and topics and
subscriptions (:mod:`fcemu.smq.topics`), checks names and attributes
(:mod:`fcemu.smq.rules`), and publishes to topics, handing each topic its own
:meth:`Smq.send_message` to deliver with. No HTTP here, and no engine: the
clock, scheduler and ID streams are handed in.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.errors import (
    InvalidQueueName,
    QueueAlreadyExist,
    QueueNameLengthError,
    QueueNotExist,
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
from fcemu.smq.messages import Message, message_from_state, message_to_state
from fcemu.smq.queues import Queue
from fcemu.smq.rules import (
    QUEUE_SPECS,
    TOPIC_SPECS,
    check_name,
    defaults,
    differences,
    normalise,
    one_of,
    page_names,
)
from fcemu.smq.topics import (
    MAX_TAG,
    NOTIFY_STRATEGIES,
    TOPIC_RETENTION_SECONDS,
    Subscription,
    Topic,
)

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler

__all__ = ["Smq"]


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
        self._on_send: Callable[[str, Message], object] | None = None
        #: Hook for triggers (fcemu.engine.triggers): a message published to a topic
        #: (topic name, message, tag).
        self.on_publish: Callable[[str, Message, str], object] | None = None
        self._on_change: Callable[[str, Message | None], object] | None = None

    @property
    def on_send(self) -> Callable[[str, Message], object] | None:
        """Hook for triggers (fcemu.engine.triggers): a message a queue accepted (queue
        name, message). Each queue calls it itself, with its name bound (no call between)."""
        return self._on_send

    @on_send.setter
    def on_send(self, hook: Callable[[str, Message], object] | None) -> None:
        self._on_send = hook
        for name, queue in self._queues.items():
            self._hook(name, queue)

    @property
    def on_change(self) -> Callable[[str, Message | None], object] | None:
        """The durable store's hook: (queue, message) when a message's stored state
        changed, (name, None) when a queue or topic was created, deleted or published to.
        Each queue calls it itself, with its name bound; None: no call at all."""
        return self._on_change

    @on_change.setter
    def on_change(self, hook: Callable[[str, Message | None], object] | None) -> None:
        self._on_change = hook
        for name, queue in self._queues.items():
            self._hook(name, queue)

    def _hook(self, name: str, queue: Queue) -> None:
        """Give ``queue`` the account's hooks, its name bound (issue 13: a send made two
        Python calls per hook to find them, or find there was none)."""
        on_send, on_change = self._on_send, self._on_change
        queue.on_send = None if on_send is None else functools.partial(on_send, name)
        queue.on_change = None if on_change is None else functools.partial(on_change, name)

    def close(self) -> None:
        """Forget every queue and topic; parked long polls end at once with QueueNotExist.

        Call it when this state is dropped (engine reset or close) and at server
        shutdown, before aiohttp waits for in-flight requests: a long poll would
        otherwise hold the shutdown for up to 30 s.
        """
        self.on_change = None  # dropped from memory, not deleted: nothing to store
        for queue in self._queues.values():
            queue.close()
        self._queues.clear()
        self._topics.clear()

    def to_state(self, messages: bool = True) -> dict[str, Any]:
        """Plain data of every queue (:meth:`Queue.to_state`; its messages unless
        ``messages`` is False), topic, subscription and published message;
        :meth:`load_state` puts it back into an empty account."""
        topics = [{"name": t.name, "attributes": dict(t.attributes),
                   "create_time": t.create_time, "last_modify_time": t.last_modify_time,
                   "subscriptions": [dataclasses.astuple(s) for s in t.subscriptions.values()],
                   "published": [message_to_state(m) for m in t.published]}
                  for t in self._topics.values()]
        return {"queues": [q.to_state(messages) for q in self._queues.values()],
                "topics": topics}

    def load_state(self, state: dict[str, Any]) -> None:
        """Fill this new, empty account from :meth:`to_state`'s data."""
        for data in state["queues"]:
            name = data["name"]
            queue = Queue(name, {}, clock=self.clock, scheduler=self.scheduler, ids=self.ids)
            queue.load_state(data)
            self._hook(name, queue)
            self._queues[name] = queue
        for data in state["topics"]:
            topic = Topic(data["name"], dict(data["attributes"]), 0)
            topic.create_time = int(data["create_time"])
            topic.last_modify_time = int(data["last_modify_time"])
            for row in data["subscriptions"]:
                subscription = Subscription(*row)
                topic.subscriptions[subscription.name] = subscription
            topic.published = [message_from_state(m) for m in data["published"]]
            self._topics[topic.name] = topic

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
        queue = Queue(name, wanted, clock=self.clock, scheduler=self.scheduler,
                      ids=self.ids)
        self._hook(name, queue)
        self._queues[name] = queue
        self._changed(name, None)
        return queue, True

    def _changed(self, name: str, message: Message | None) -> None:
        if self._on_change is not None:
            self._on_change(name, message)

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
            queue.close()
            self._changed(name, None)

    def list_queues(self, prefix: str = "", marker: str = "",
                    limit: int = 1000) -> tuple[list[Queue], str]:
        """ListQueue: queues by name from ``marker`` on; returns them and the next marker."""
        names = page_names(self._queues, prefix, marker, limit)
        return [self._queues[n] for n in names[:limit]], names[limit] if len(names) > limit else ""

    def send_message(self, queue_name: str, body: str, *, delay_seconds: int | None = None,
                     priority: int = 8, create: bool = False) -> Message:
        """SendMessage; ``create=True`` first creates a missing queue with default attributes."""
        queue = self._queues.get(queue_name)
        if queue is None:
            queue = self.create_queue(queue_name)[0] if create else self.get_queue(queue_name)
        return queue.send(body, delay_seconds=delay_seconds, priority=priority)

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
        self._changed(name, None)
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
        """PublishMessage: record it and push it to every subscribed queue endpoint
        (:meth:`Topic.publish`, which delivers through :meth:`send_message`).

        ``create=True`` first creates a missing topic (topic destinations use it).
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
        message = Message(self.ids.message_id(), body, None, now, now,  # digest when read
                          expire_time=now + TOPIC_RETENTION_SECONDS * 1000)
        topic.publish(message, tag, self.account_id, self.send_message)
        self._changed(topic_name, None)
        if self.on_publish is not None:
            self.on_publish(topic_name, message, tag)
        return message
