"""SMQ queues: one :class:`Queue` and its operations (send, receive, peek, delete,
visibility changes, attributes, state and long polls), with no HTTP.

The messages, receipt handles and the heaps that keep delivery, visibility and
retention order are the queue's base, :class:`fcemu.smq.backlog.Backlog`; it brings
the queue to the clock lazily (a hidden or delayed message is visible once
``now >= next_visible_time``, an old one is gone once ``now >= expire_time``), so
moving a manual clock changes what a queue returns without any timer. Every time
here is read from the injected clock (DESIGN.md principle 2). The one timer this
module uses is a ``housekeeping`` one that wakes long polls when the clock passes the
earliest hidden message's visibility time (see :meth:`Queue.receive_wait`).

The collection of queues of an account is :class:`fcemu.smq.account.Smq`.
Wire details (ranges, defaults, units) are from spec §13.3–§13.5.
"""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.errors import (
    MessageNotExist,
    QueueNotExist,
    ReceiptHandleError,
    SmqInvalidArgument,
)
from fcemu.smq.backlog import Backlog
from fcemu.smq.messages import Message, message_to_state
from fcemu.smq.rules import (
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_SECONDS,
    QUEUE_SPECS,
    int_in_range,
    normalise,
)

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler, Timer
    from fcemu.smq.properties import Properties

__all__ = ["Queue"]

_heappush = heapq.heappush

# The shape of IdGenerator.receipt_handle(): "1-" and letters and digits.
_HANDLE = re.compile(r"^[0-9]+-[A-Za-z0-9]+$")


class Queue(Backlog):
    """An SMQ queue: messages with visibility timeouts, one-time receipt handles and delays.

    ``attributes`` holds the MNS attribute names (``VisibilityTimeout``,
    ``DelaySeconds``, ``MaximumMessageSize``, ``MessageRetentionPeriod``,
    ``PollingWaitSeconds``, ``LoggingEnabled``); ``create_time`` and
    ``last_modify_time`` are epoch **seconds**, as GetQueueAttributes reports them.
    The messages, their handles, order and counts are its :class:`Backlog` base.
    """

    def __init__(self, name: str, attributes: dict[str, Any], *, clock: Clock,
                 scheduler: Scheduler, ids: IdGenerator) -> None:
        super().__init__(clock=clock, ids=ids)
        self._scheduler = scheduler
        self.name = name
        self.attributes = attributes
        self.create_time = self.last_modify_time = clock.now_ms() // 1000
        self._waiters: list[asyncio.Future[None]] = []
        self._wake_timer: Timer | None = None
        self.deleted = False
        #: Called with each message this queue accepts (the account's trigger hook).
        self.on_send: Callable[[Message], object] | None = None

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, {len(self._messages)} messages)"

    # -- inspection -------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """How many long polls are waiting on this queue now."""
        return len(self._waiters)

    def set_attributes(self, **attributes: Any) -> None:
        """SetQueueAttributes: change the given attributes only."""
        self.attributes.update(normalise(QUEUE_SPECS, attributes))
        self.last_modify_time = self._clock.now_ms() // 1000

    # -- messages ---------------------------------------------------------------------

    def send(self, body: str, *, delay_seconds: int | None = None, priority: int = 8,
             properties: Properties | None = None) -> Message:
        """SendMessage. The queue is unchanged when the body or an argument is refused.

        A delayed message gets a receipt handle, valid until it becomes visible
        (spec §13.3: SendMessage returns ``ReceiptHandle`` for delayed messages).
        ``properties`` (checked already: :func:`fcemu.smq.properties.make_properties`)
        go with the message to every receive and peek.
        """
        if not isinstance(body, str):
            raise SmqInvalidArgument("MessageBody must be text")
        attributes = self.attributes
        limit = attributes["MaximumMessageSize"]
        size = len(body) if body.isascii() else len(body.encode("utf-8"))
        if not 1 <= size <= limit:
            raise SmqInvalidArgument(
                f"The value of MessageBody should be between 1 and {limit} bytes "
                f"(MaximumMessageSize of queue {self.name}); got {size} bytes."
            )
        if type(priority) is not int or not 1 <= priority <= 16:  # the usual case: no call
            priority = int_in_range("Priority", priority, 1, 16, "")
        delay = attributes["DelaySeconds"] if delay_seconds is None else delay_seconds
        if type(delay) is not int or not 0 <= delay <= 604800:
            delay = int_in_range("DelaySeconds", delay, 0, 604800, "seconds")
        now = self._clock.now_ms()
        hidden, expiry = self._hidden, self._expiry
        if (hidden and hidden[0][0] <= now) or (expiry and expiry[0][0] <= now):
            now = self._expire()  # only when the clock passed a message's time (a call
            expiry = self._expiry  # fewer); it may have rebuilt the heap
        message_id, seq = self._ids.message_id(), next(self._seq)
        expire = now + attributes["MessageRetentionPeriod"] * 1000
        # by position, in the field order: a class called with keywords packs them first;
        # the body's digest is worked out when first read (Message.body_md5)
        message = Message(message_id, body, None, now, now + delay * 1000, priority, 0, 0,
                          None, expire, seq, 0, False, properties)
        if delay:
            self._new_handle(message)
        self._messages[message_id] = message
        self._last = message
        _heappush(expiry, (expire, seq, message))
        if delay:
            self._hide(message, message.next_visible_time)
        else:
            _heappush(self._visible, (priority, seq, 0, message))
            if self.on_change is not None:
                self.on_change(message)
        if self._waiters:  # _notify(), only when a long poll waits
            self._notify()
        if self.on_send is not None:
            self.on_send(message)
        return message

    def receive(self, count: int = 1) -> list[Message]:
        """ReceiveMessage without waiting: up to ``count`` visible messages, hidden for
        ``VisibilityTimeout`` seconds, each with a new receipt handle."""
        now = self._expire()
        taken = self._take_visible(count)
        hide_ms = self.attributes["VisibilityTimeout"] * 1000
        for message in taken:
            message.dequeue_count += 1
            message.first_dequeue_time = message.first_dequeue_time or now
            self._hide(message, now + hide_ms)
            self._new_handle(message)
        if taken:
            self._notify()  # waiters re-arm their wake-up for the new hidden times
        return taken

    def next_visible_ms(self) -> int | None:
        """When the earliest hidden (received or delayed) message turns visible, if any."""
        return self._next_visible_time()

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
        self._expire()
        shown = self._take_visible(count)
        for message in shown:  # back where they were: peeking changes nothing
            heapq.heappush(self._visible, (message.priority, message.seq, message.gen, message))
        return shown

    def delete(self, receipt_handle: str) -> None:
        """DeleteMessage by its current receipt handle."""
        message = self._by_handle(receipt_handle)
        self._drop(message)

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> Message:
        """ChangeMessageVisibility: hide for ``visibility_timeout`` seconds from now, new handle."""
        seconds = int_in_range("VisibilityTimeout", visibility_timeout, 0,
                                MAX_VISIBILITY_TIMEOUT, "seconds")
        message = self._by_handle(receipt_handle)
        self._hide(message, self._clock.now_ms() + seconds * 1000)
        self._new_handle(message)
        self._expire()  # a zero timeout makes it visible now
        self._notify()
        return message

    def close(self) -> None:
        """The queue is deleted: drop its messages and end its parked long polls at once
        (they raise QueueNotExist)."""
        self.deleted = True
        self.clear()
        if self._wake_timer is not None:
            self._wake_timer.cancel()
            self._wake_timer = None
        self._notify()

    # -- state (snapshots and the durable store) ----------------------------------------

    def to_state(self, messages: bool = True) -> dict[str, Any]:
        """Plain data of the queue and (unless ``messages`` is False) every live message,
        with its visibility state; :meth:`load_state` rebuilds the heaps from it (a long
        poll is not state)."""
        self._expire()
        return {"name": self.name, "attributes": dict(self.attributes),
                "create_time": self.create_time, "last_modify_time": self.last_modify_time,
                "last": self._last.message_id if self._last is not None else None,
                "messages": [(message_to_state(m), m.hidden) for m in self._messages.values()]
                if messages else []}

    def load_state(self, state: dict[str, Any]) -> None:
        """Fill this new, empty queue from :meth:`to_state`'s data (the backlog makes
        each heap at once)."""
        self.attributes = dict(state["attributes"])
        self.create_time = int(state["create_time"])
        self.last_modify_time = int(state["last_modify_time"])
        self._load_messages(state["messages"], state["last"])

    # -- internals ----------------------------------------------------------------------

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
        due = self._next_visible_time()
        timer = self._wake_timer
        if timer is not None and not (timer.cancelled or timer.fired):
            if due is not None and timer.due_ms <= due:
                return
            timer.cancel()
        self._wake_timer = None
        if due is not None:
            self._wake_timer = self._scheduler.call_at(
                due, self._notify, name=f"smq wake {self.name}", kind="housekeeping")
