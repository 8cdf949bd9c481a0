"""SMQ queue backlogs: the messages one queue holds, their receipt handles, and the three
heaps that keep delivery, visibility and retention order, with no HTTP.

:class:`Backlog` is the base of :class:`fcemu.smq.queues.Queue`, which adds the SMQ
operations (send, receive, peek, delete, change visibility, long polls) on top of it; a
base class rather than a member, so that the hot path of send and receive makes no
extra call.

Every time is read from the injected clock (DESIGN.md principle 2), and state is
evaluated lazily against it: a hidden or delayed message is visible once
``now >= next_visible_time``, an old one is gone once ``now >= expire_time``. Moving a
manual clock therefore changes what a queue returns without any timer.

Every operation costs O(log n) in queue depth (issue 13): a backlog keeps three heaps
instead of scanning its messages. ``_visible`` holds the visible messages in delivery
order (priority, then enqueue order); ``_hidden`` the delayed and received ones by the
time they turn visible; ``_expiry`` every message by the end of its retention. Each
operation first moves what the clock passed (hidden messages turn visible, old ones go).
Entries are never searched for: a message's ``gen`` is bumped when its visibility
changes (-1 once it is gone), and an entry whose ``gen`` differs is stale and skipped when
it comes to the top. A heap is rebuilt from the live messages when most of it is stale,
so memory stays proportional to the live messages.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.smq.messages import Message, delivery_order, message_from_state

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.ids import IdGenerator

__all__ = ["Backlog"]


class Backlog:
    """The live messages of one queue, kept in delivery, visibility and retention order.

    Counts hidden messages as ``DelayMessages`` (never received) or
    ``InactiveMessages`` (received at least once), and issues the one-time receipt
    handles. :meth:`_expire` brings it to the clock; each operation calls it first.
    """

    def __init__(self, *, clock: Clock, ids: IdGenerator) -> None:
        self._clock = clock
        self._ids = ids
        self._messages: dict[str, Message] = {}
        # Current receipt handles only (bounded by the live messages).
        self._handles: dict[str, Message] = {}
        #: (priority, seq, gen, message) of visible messages: the next to deliver on top.
        self._visible: list[tuple[int, int, int, Message]] = []
        #: (next_visible_time, seq, gen, message) of hidden (delayed or received) ones.
        self._hidden: list[tuple[int, int, int, Message]] = []
        #: (expire_time, seq, message) of every message.
        self._expiry: list[tuple[int, int, Message]] = []
        self._delayed = 0  # hidden messages never received (DelayMessages)
        self._inflight = 0  # hidden messages received at least once (InactiveMessages)
        self._last: Message | None = None
        self._seq = itertools.count()
        #: Called with each message whose stored state changed: sent, received, hidden,
        #: deleted or expired (``gen`` -1: gone). The durable store's hook; None: off.
        self.on_change: Callable[[Message], object] | None = None

    # -- inspection -------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Every live message (visible, hidden or delayed) in delivery order, unconsumed."""
        self._expire()
        return sorted(self._messages.values(), key=delivery_order)

    @property
    def last(self) -> Message | None:
        """The most recently sent live message, if any."""
        self._expire()
        if self._last is not None and self._last.gen >= 0:
            return self._last
        return max(self._messages.values(), key=lambda m: m.seq, default=None)

    def clear(self) -> None:
        """Drop every message; handles issued so far become stale."""
        for message in self._messages.values():
            message.gen = -1
            if self.on_change is not None:
                self.on_change(message)
        self._messages.clear()
        self._handles.clear()
        self._visible, self._hidden, self._expiry = [], [], []
        self._delayed = self._inflight = 0
        self._last = None

    def counts(self) -> dict[str, int]:
        """``ActiveMessages``, ``InactiveMessages`` and ``DelayMessages`` right now."""
        self._expire()
        active = len(self._messages) - self._delayed - self._inflight
        return {"ActiveMessages": active, "InactiveMessages": self._inflight,
                "DelayMessages": self._delayed}

    # -- state (snapshots and the durable store) ----------------------------------------

    def _load_messages(self, rows: list[Any], last: str | None) -> None:
        """Fill this empty backlog from the ``messages`` and ``last`` of
        ``Queue.to_state``; each heap is made at once (keys unique by ``seq``: the same
        pops as pushing one by one)."""
        top = -1
        messages, handles = self._messages, self._handles
        expiry, hidden_at, visible = self._expiry, self._hidden, self._visible
        for row, hidden in rows:
            message = message_from_state(row)
            messages[message.message_id] = message
            if message.seq > top:
                top = message.seq
            if message.receipt_handle is not None:
                handles[message.receipt_handle] = message
            expiry.append((message.expire_time, message.seq, message))
            if hidden:
                message.hidden = True
                if message.dequeue_count:
                    self._inflight += 1
                else:
                    self._delayed += 1
                hidden_at.append((message.next_visible_time, message.seq, 0, message))
            else:
                visible.append((message.priority, message.seq, 0, message))
        heapq.heapify(expiry)
        heapq.heapify(hidden_at)
        heapq.heapify(visible)
        self._last = messages.get(last or "")
        self._seq = itertools.count(top + 1)

    # -- order --------------------------------------------------------------------------

    def _expire(self) -> int:
        """Bring the backlog to the clock: hidden messages whose time came turn visible,
        and messages past their retention period go. Returns the current time. O(log n)
        per message moved."""
        now = self._clock.now_ms()
        hidden, visible = self._hidden, self._visible
        while hidden and hidden[0][0] <= now:
            _, seq, gen, message = heapq.heappop(hidden)
            if gen == message.gen:
                self._unhide(message)
                heapq.heappush(visible, (message.priority, seq, message.gen, message))
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            message = heapq.heappop(expiry)[2]
            if message.gen >= 0:
                self._drop(message)
        return now

    def _take_visible(self, count: int) -> list[Message]:
        """Pop up to ``count`` visible messages in delivery order (stale entries skipped)."""
        visible, taken = self._visible, list[Message]()
        while visible and len(taken) < count:
            _, _, gen, message = heapq.heappop(visible)
            if gen == message.gen:
                taken.append(message)
        return taken

    def _next_visible_time(self) -> int | None:
        """When the earliest hidden message turns visible (stale entries dropped), if any."""
        hidden = self._hidden
        while hidden and hidden[0][2] != hidden[0][3].gen:
            heapq.heappop(hidden)
        return hidden[0][0] if hidden else None

    def _hide(self, message: Message, until_ms: int) -> None:
        """Make a visible or hidden message hidden until ``until_ms``."""
        if message.hidden:
            self._unhide(message)  # counted again below
        message.gen += 1
        message.next_visible_time = until_ms
        message.hidden = True
        if message.dequeue_count:
            self._inflight += 1
        else:
            self._delayed += 1
        heapq.heappush(self._hidden, (until_ms, message.seq, message.gen, message))
        if self.on_change is not None:
            self.on_change(message)
        self._compact()

    def _unhide(self, message: Message) -> None:
        message.hidden = False
        if message.dequeue_count:
            self._inflight -= 1
        else:
            self._delayed -= 1

    def _drop(self, message: Message) -> None:
        del self._messages[message.message_id]
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)
        if message.hidden:
            self._unhide(message)
        message.gen = -1
        if self.on_change is not None:
            self.on_change(message)
        self._compact()

    def _compact(self) -> None:
        """Rebuild a heap that is mostly stale entries: memory stays O(live messages),
        at O(1) amortised cost per operation."""
        live = len(self._messages)
        if len(self._hidden) > 2 * live + 64:
            self._hidden = [e for e in self._hidden if e[2] == e[3].gen]
            heapq.heapify(self._hidden)
        if len(self._visible) > 2 * live + 64:
            self._visible = [e for e in self._visible if e[2] == e[3].gen]
            heapq.heapify(self._visible)
        if len(self._expiry) > 2 * live + 64:
            self._expiry = [e for e in self._expiry if e[2].gen >= 0]
            heapq.heapify(self._expiry)

    def _new_handle(self, message: Message) -> None:
        if message.receipt_handle is not None:
            self._handles.pop(message.receipt_handle, None)
        handle = self._ids.receipt_handle()
        message.receipt_handle = handle
        self._handles[handle] = message
