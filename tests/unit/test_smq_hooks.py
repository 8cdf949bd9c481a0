"""The SMQ account's hooks reach every queue, its name bound (each queue calls the hook
itself: issue 13), and a body's MD5 is the same whichever MD5 computes it."""

from __future__ import annotations

import hashlib

import pytest

from fcemu.clock import ManualClock
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Message, Smq, body_md5
from fcemu.smq.messages import data_md5
from tests.constants import ACCOUNT, T0


def _smq() -> Smq:
    clock = ManualClock(T0)
    return Smq(clock, Scheduler(clock), IdGenerator(7), region="cn-hangzhou", account_id=ACCOUNT)


def test_hooks_set_before_and_after_a_queue_exists_see_its_messages() -> None:
    smq = _smq()
    sent: list[tuple[str, str]] = []
    changed: list[tuple[str, str | None]] = []
    smq.create_queue("early")
    smq.on_send = lambda name, m: sent.append((name, m.body))
    smq.on_change = lambda name, m: changed.append((name, m and m.body))
    smq.send_message("early", "a")
    smq.send_message("late", "b", create=True)  # made after the hooks were set
    assert sent == [("early", "a"), ("late", "b")]
    assert changed == [("early", "a"), ("late", None), ("late", "b")]
    assert smq.on_send is not None and smq.on_change is not None


def test_a_hook_replaced_or_cleared_is_the_one_called() -> None:
    smq = _smq()
    smq.create_queue("q")
    first: list[str] = []
    second: list[str] = []
    smq.on_send = lambda name, m: first.append(m.body)
    smq.send_message("q", "1")
    smq.on_send = lambda name, m: second.append(m.body)
    smq.send_message("q", "2")
    smq.on_send = None
    smq.send_message("q", "3")
    assert (first, second, smq.on_send) == (["1"], ["2"], None)
    assert smq.get_queue("q").on_send is None and smq.get_queue("q").on_change is None


def test_a_loaded_account_gives_its_queues_the_hooks() -> None:
    source = _smq()
    source.send_message("q", "kept", create=True)
    loaded = _smq()
    seen: list[str] = []
    loaded.on_send = lambda name, m: seen.append(f"{name}:{m.body}")
    loaded.load_state(source.to_state())
    loaded.send_message("q", "new")
    assert seen == ["q:new"]


def test_close_stops_the_store_hook_before_dropping_the_messages() -> None:
    smq = _smq()
    smq.send_message("q", "x", create=True)
    changed: list[object] = []
    smq.on_change = lambda name, m: changed.append(m)
    smq.close()
    assert changed == [] and smq.on_change is None


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 300, 1023, 1024, 1025, 70_000])
def test_the_body_md5_is_hashlib_s_on_both_sides_of_the_small_body_size(size: int) -> None:
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert data_md5(data) == hashlib.md5(data).hexdigest().upper()
    text = ("é中" * size)[:size]
    assert body_md5(text) == hashlib.md5(text.encode()).hexdigest().upper()


def test_a_sent_message_carries_the_md5_of_its_body() -> None:
    smq = _smq()
    message = smq.send_message("q", '{"a":"é"}' * 200, create=True)
    assert isinstance(message, Message)
    assert message.body_md5 == hashlib.md5(message.body.encode()).hexdigest().upper()
