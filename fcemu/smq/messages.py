"""SMQ messages: the :class:`Message` record, its body digest and its delivery order.

Queues and topics both hold messages; this module is the one both import, so
neither imports the other. Bodies are stored exactly as sent. The MNS SDK
Base64-encodes bodies on send and decodes them on receive by default
(``Queue.set_encoding(True)``), so SDK-to-SDK traffic round-trips either way.
Messages FC writes to destination queues are raw JSON by default (decisions.md
"Destinations"): read them with ``queue.set_encoding(False)``; with the Base64
switch on, keep the SDK default. :meth:`Message.json` reads both. A message's
properties (:mod:`fcemu.smq.properties`) are kept as sent, in one slot that is None for a
message without any.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from fcemu.smq.properties import Properties, properties_from_state

__all__ = ["Message", "body_md5", "data_md5", "delivery_order", "message_from_state",
           "message_to_state"]


def body_md5(body: str) -> str:
    """``MessageBodyMD5``: upper-case hex MD5 of the body text as stored (spec §13.4)."""
    return data_md5(body.encode("utf-8"))


def data_md5(data: bytes) -> str:
    """:func:`body_md5` of a body already encoded (its UTF-8 bytes)."""
    if len(data) <= _SMALL_BODY:
        return _small_md5(data).hexdigest().upper()
    return hashlib.md5(data).hexdigest().upper()


class _Digest(Protocol):
    def hexdigest(self) -> str: ...


def _builtin_md5() -> Callable[[bytes], _Digest]:
    """CPython's own MD5 (the same digest), or hashlib's where the build has none."""
    try:
        md5: Callable[[bytes], _Digest] = importlib.import_module("_md5").md5
    except ImportError:
        md5 = hashlib.md5
    return md5


#: OpenSSL's MD5 sets up a context that costs more than CPython's own MD5 spends on a
#: result message of a few hundred bytes (issue 13: about 2.4k instructions less per
#: message); OpenSSL's rounds are faster, so it takes the bodies above this size.
_SMALL_BODY = 1024
_small_md5 = _builtin_md5()


class Message:
    """One SMQ message. Objects returned by the domain are live views of queue state.

    Times are epoch milliseconds; ``first_dequeue_time`` is 0 until the first
    receive; ``receipt_handle`` is the current one-time handle, if any.

    Made as ``@dataclass(eq=False, slots=True)`` makes it (the same fields, arguments,
    defaults and ``repr``), by hand so that ``body_md5`` may be given as None: the digest
    of the body (which never changes) is then worked out when first read (issue 13: a
    result message is usually received, if ever, long after it is sent).
    """

    __slots__ = ("_md5", "body", "dequeue_count", "enqueue_time", "expire_time",
                 "first_dequeue_time", "gen", "hidden", "message_id", "next_visible_time",
                 "priority", "properties", "receipt_handle", "seq")
    __match_args__ = ("message_id", "body", "body_md5", "enqueue_time", "next_visible_time",
                      "priority", "first_dequeue_time", "dequeue_count", "receipt_handle",
                      "expire_time", "seq", "gen", "hidden", "properties")

    message_id: str
    body: str
    enqueue_time: int
    next_visible_time: int
    priority: int
    first_dequeue_time: int
    dequeue_count: int
    receipt_handle: str | None
    expire_time: int
    seq: int
    #: The queue's bookkeeping: bumped on every visibility change, -1 once the message is
    #: gone, so that stale entries of the queue's heaps are known at a glance.
    gen: int
    #: The queue's bookkeeping: whether it is counted as hidden (delayed or in flight).
    hidden: bool
    #: UserProperties and SystemProperties as sent (:mod:`fcemu.smq.properties`); None
    #: when there are none (FC's result messages): one slot, nothing more.
    properties: Properties | None

    def __init__(self, message_id: str, body: str, body_md5: str | None, enqueue_time: int,
                 next_visible_time: int, priority: int = 8, first_dequeue_time: int = 0,
                 dequeue_count: int = 0, receipt_handle: str | None = None,
                 expire_time: int = 0, seq: int = 0, gen: int = 0,
                 hidden: bool = False, properties: Properties | None = None) -> None:
        self.message_id = message_id
        self.body = body
        self._md5 = body_md5
        self.enqueue_time = enqueue_time
        self.next_visible_time = next_visible_time
        self.priority = priority
        self.first_dequeue_time = first_dequeue_time
        self.dequeue_count = dequeue_count
        self.receipt_handle = receipt_handle
        self.expire_time = expire_time
        self.seq = seq
        self.gen = gen
        self.hidden = hidden
        self.properties = properties

    @property
    def body_md5(self) -> str:
        """``MessageBodyMD5`` (:func:`body_md5` of the body), worked out on first read."""
        md5 = self._md5
        if md5 is None:
            md5 = self._md5 = body_md5(self.body)
        return md5

    @body_md5.setter
    def body_md5(self, value: str) -> None:
        self._md5 = value

    def __repr__(self) -> str:
        return (f"Message(message_id={self.message_id!r}, body={self.body!r}, "
                f"body_md5={self.body_md5!r}, enqueue_time={self.enqueue_time!r}, "
                f"next_visible_time={self.next_visible_time!r}, priority={self.priority!r}, "
                f"first_dequeue_time={self.first_dequeue_time!r}, "
                f"dequeue_count={self.dequeue_count!r}, "
                f"receipt_handle={self.receipt_handle!r}, expire_time={self.expire_time!r})")

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


def delivery_order(message: Message) -> tuple[int, int]:
    """The sort key of delivery: priority 1 is the highest; equal priorities keep enqueue
    order (spec §13.4)."""
    return (message.priority, message.seq)


#: The fields a message's state keeps (the queue's bookkeeping is rebuilt, not kept);
#: a message with properties has one more, last: :meth:`Properties.to_state`'s tuples.
_STATE_FIELDS = ("message_id", "body", "body_md5", "enqueue_time", "next_visible_time",
                 "priority", "first_dequeue_time", "dequeue_count", "receipt_handle",
                 "expire_time", "seq")
_FIELDS = len(_STATE_FIELDS)


def message_to_state(message: Message) -> tuple[Any, ...]:
    """The message as a tuple of plain values (snapshots, the durable store). A message
    without properties has the state it had before there were properties (so the files
    and rows of those read as they did)."""
    state = tuple(getattr(message, name) for name in _STATE_FIELDS)
    properties = message.properties
    if properties is not None:
        return (*state, properties.to_state())
    return state


def message_from_state(state: Any) -> Message:
    """A new message from :func:`message_to_state`'s tuple (or a list read from JSON),
    with or without its properties."""
    if len(state) > _FIELDS:
        message = Message(*state[:_FIELDS])
        message.properties = properties_from_state(state[_FIELDS])
        return message
    return Message(*state)
