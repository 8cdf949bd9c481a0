"""An SMQ message's digest is worked out when first read (issue 13), and the hand-made
:class:`fcemu.smq.Message` behaves as the ``@dataclass(eq=False, slots=True)`` it was:
the same arguments, defaults, ``repr``, identity equality and state (the message's
properties, added since, are its last field, not shown by ``repr``)."""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field

import pytest

from fcemu.clock import ManualClock
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Message, Smq
from fcemu.smq.messages import message_from_state, message_to_state
from fcemu.smq.properties import Properties
from tests.constants import ACCOUNT, T0


@dataclass(eq=False, slots=True)
class _DataclassMessage:  # Message as it was declared before it was made by hand
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
    gen: int = field(default=0, repr=False)
    hidden: bool = field(default=False, repr=False)
    properties: Properties | None = field(default=None, repr=False)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def _smq() -> Smq:
    clock = ManualClock(T0)
    return Smq(clock, Scheduler(clock), IdGenerator(7), region="cn-hangzhou", account_id=ACCOUNT)


def test_the_message_takes_the_dataclass_s_arguments_and_shows_its_repr() -> None:
    ours, theirs = inspect.signature(Message), inspect.signature(_DataclassMessage)
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in theirs.parameters.values()]
    assert Message.__match_args__ == _DataclassMessage.__match_args__  # type: ignore[attr-defined]
    args = ("id", 'b"é', "MD5", 1, 2, 3, 4, 5, "h", 6, 7, 8, True, Properties())
    assert repr(Message(*args)) == repr(_DataclassMessage(*args)).replace("_DataclassM", "M")
    short = ("id", "b", "MD5", 1, 2)
    assert repr(Message(*short)) == repr(_DataclassMessage(*short)).replace("_DataclassM", "M")
    one, same = Message(*short), Message(*short)
    assert one == one and one != same and len({one, same}) == 2  # eq=False: identity
    assert not hasattr(one, "__dict__")


@pytest.mark.parametrize("body", ["x", '{"a":"é中"}' * 3, "y" * 1023, "z" * 1025, "é" * 5000])
def test_a_digest_not_given_is_the_body_s_when_read_and_kept(body: str) -> None:
    message = Message("id", body, None, 1, 2)
    assert message.body_md5 == _md5(body)
    assert message.body_md5 is message.body_md5  # worked out once
    assert repr(message) == repr(_DataclassMessage("id", body, _md5(body), 1, 2)).replace(
        "_DataclassM", "M")
    message.body_md5 = "SET"
    assert message.body_md5 == "SET"


def test_sent_and_published_messages_read_their_body_s_digest() -> None:
    smq = _smq()
    sent = smq.send_message("q", '{"r":"é"}', create=True)
    assert sent.body_md5 == _md5('{"r":"é"}')
    smq.create_topic("t")
    published = smq.publish_message("t", "news")
    assert published.body_md5 == _md5("news")


def test_a_message_s_state_holds_its_digest_and_a_restored_one_keeps_it() -> None:
    smq = _smq()
    sent = smq.send_message("q", "hello", create=True)
    state = message_to_state(sent)
    assert state[:3] == (sent.message_id, "hello", _md5("hello"))
    given = list(state)
    given[2] = "STORED"  # the digest stored is the one read back, not worked out again
    assert message_from_state(given).body_md5 == "STORED"
    queue = smq.get_queue("q")
    restored = _smq()
    restored.load_state(smq.to_state())
    assert [m.body_md5 for m in restored.get_queue("q").messages()] == [
        m.body_md5 for m in queue.messages()]


def test_a_send_that_expires_messages_and_compacts_the_heaps_still_keeps_its_own() -> None:
    """A send brings the queue to the clock only when the clock passed a message's time
    (issue 13); when that drops enough messages to rebuild the retention heap, the new
    message's entry goes into the rebuilt heap: it expires on time."""
    clock = ManualClock(T0)
    smq = Smq(clock, Scheduler(clock), IdGenerator(7), region="cn-hangzhou",
              account_id=ACCOUNT)
    smq.create_queue("q", MessageRetentionPeriod=60)
    queue = smq.get_queue("q")
    for i in range(100):
        queue.send(f"early {i}", priority=16)
    clock.move_to(T0 + 1000)
    for i in range(200):
        queue.send(f"late {i}", priority=1 if i < 180 else 8)
    for message in queue.receive(180):  # 180 stale retention entries, not compacted yet
        queue.delete(message.receipt_handle or "")
    clock.move_to(T0 + 60_000)  # the early ones expire during the next send
    new = queue.send("new")
    assert [m.body for m in queue.messages()] == [f"late {i}" for i in range(180, 200)] + [
        "new"]
    clock.move_to(T0 + 121_000)
    assert queue.messages() == [] and queue.counts()["ActiveMessages"] == 0
    assert new.gen == -1  # gone at the end of its retention
