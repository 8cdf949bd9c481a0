"""SMQ queues: one :class:`Queue`, its messages, visibility timeouts, receipt handles,
delays, retention and long polls, with no HTTP.

Every time here is read from the injected clock (DESIGN.md principle 2), and
state is evaluated lazily against it: a hidden or delayed message is visible
once ``now >= next_visible_time``, an old one is gone once
``now >= expire_time``. Moving a manual clock therefore changes what a queue
returns without any timer. The one timer this module uses is a
``housekeeping`` one that wakes long polls when the clock passes the earliest
hidden message's visibility time (see :meth:`Queue.receive_wait`).

The collection of queues of an account is :class:`fcemu.smq.account.Smq`.
Wire details (ranges, defaults, units) are from spec §13.3–§13.5.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.errors import (
    MessageNotExist,
    QueueNotExist,
    ReceiptHandleError,
    SmqInvalidArgument,
)
from fcemu.smq.messages import Message, body_md5, delivery_order
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

__all__ = ["Queue"]

# The shape of IdGenerator.receipt_handle(): "1-" and letters and digits.
_HANDLE = re.compile(r"^[0-9]+-[A-Za-z0-9]+$")


class Queue:
    """An SMQ queue: messages with visibility timeouts, one-time receipt handles and delays.

    ``attributes`` holds the MNS attribute names (``VisibilityTimeout``,
    ``DelaySeconds``, ``MaximumMessageSize``, ``MessageRetentionPeriod``,
    ``PollingWaitSeconds``, ``LoggingEnabled``); ``create_time`` and
    ``last_modify_time`` are epoch **seconds**, as GetQueueAttributes reports them.
    """

    def __init__(self, name: str, attributes: dict[str, Any], *, clock: Clock,
                 scheduler: Scheduler, ids: IdGenerator) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._ids = ids
        self.name = name
        self.attributes = attributes
        self.create_time = self.last_modify_time = clock.now_ms() // 1000
        self._messages: dict[str, Message] = {}
        # Current receipt handles only (bounded by the live messages).
        self._handles: dict[str, Message] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake_timer: Timer | None = None
        self._seq = itertools.count()
        self.deleted = False
        #: Called with each message this queue accepts (the account's trigger hook).
        self.on_send: Callable[[Message], object] | None = None

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, {len(self._messages)} messages)"

    # -- inspection -------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Every live message (visible, hidden or delayed) in delivery order, unconsumed."""
        self._expire()
        return sorted(self._messages.values(), key=delivery_order)

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
        self.last_modify_time = self._clock.now_ms() // 1000

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
        ids = self._ids
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
        if self.on_send is not None:
            self.on_send(message)
        return message

    def receive(self, count: int = 1) -> list[Message]:
        """ReceiveMessage without waiting: up to ``count`` visible messages, hidden for
        ``VisibilityTimeout`` seconds, each with a new receipt handle."""
        now = self._expire()
        ready = sorted((m for m in self._messages.values() if m.visible(now)), key=delivery_order)
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
        ready = (m for m in self._messages.values() if m.visible(now))
        return sorted(ready, key=delivery_order)[:count]

    def delete(self, receipt_handle: str) -> None:
        """DeleteMessage by its current receipt handle."""
        message = self._by_handle(receipt_handle)
        self._drop(message)

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> Message:
        """ChangeMessageVisibility: hide for ``visibility_timeout`` seconds from now, new handle."""
        seconds = int_in_range("VisibilityTimeout", visibility_timeout, 0,
                                MAX_VISIBILITY_TIMEOUT, "seconds")
        message = self._by_handle(receipt_handle)
        message.next_visible_time = self._clock.now_ms() + seconds * 1000
        self._new_handle(message)
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

    # -- internals ----------------------------------------------------------------------

    def _expire(self) -> int:
        """Drop messages past their retention period; return the current time."""
        now = self._clock.now_ms()
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
        handle = self._ids.receipt_handle()
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
        now = self._clock.now_ms()
        due = min((m.next_visible_time for m in self._messages.values()
                   if not m.visible(now)), default=None)
        timer = self._wake_timer
        if timer is not None and not (timer.cancelled or timer.fired):
            if due is not None and timer.due_ms <= due:
                return
            timer.cancel()
        self._wake_timer = None
        if due is not None:
            self._wake_timer = self._scheduler.call_at(
                due, self._notify, name=f"smq wake {self.name}", kind="housekeeping")
