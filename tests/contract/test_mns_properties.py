"""Message properties through the real MNS SDK (``aliyun-mns-sdk`` 1.3.0) over HTTP: what
SendMessage and BatchSendMessage carry comes back, as the SDK's own objects, from
ReceiveMessage, BatchReceiveMessage, PeekMessage and BatchPeekMessage, and what SMQ's
limits refuse is the SDK's ``MNSServerException`` with nothing enqueued.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("mns", reason="pip install -e '.[test]'")

from mns.message_property import MessagePropertyValue as Value
from mns.message_property import MessageSystemPropertyValue as SystemValue
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta


def _rich(body: str = "rich") -> Message:
    message = Message(body, priority=1)
    message.add_user_property("order-id", Value.create_string("A-17 <&> \"中\""))
    message.add_user_property("amount", Value.create_number(12.5))
    message.add_user_property("paid", Value.create_boolean(False))
    message.add_user_property("blob", Value.create_binary(b"\x00\x01\xfe\xff"))
    message.add_system_property("traceparent", SystemValue.create_string(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
    message.add_system_property("baggage", SystemValue.create_string("tenant=t1"))
    return message


EXPECTED = (
    {"order-id": ("STRING", "A-17 <&> \"中\""), "amount": ("NUMBER", "12.5"),
     "paid": ("BOOLEAN", "false"), "blob": ("BINARY", b"\x00\x01\xfe\xff")},
    {"traceparent": ("STRING", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
     "baggage": ("STRING", "tenant=t1")},
)


def props(message: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A received message's properties as (type, value) by name, user then system."""
    return ({k: (v.get_data_type(), v.get_raw_value()) for k, v in
             message.user_properties.items()},
            {k: (v.get_data_type(), v.get_raw_value()) for k, v in
             message.system_properties.items()})


def body(message: Any) -> str:
    """The body as text (the SDK's Base64 decoding gives bytes)."""
    text = message.message_body
    return text.decode() if isinstance(text, bytes) else str(text)


def new_queue(account: Any, name: str) -> Any:
    queue = account.get_queue(name)
    queue.create(QueueMeta())
    return queue


@pytest.mark.fc_verified
@pytest.mark.parametrize("encoding", [True, False], ids=["base64", "raw"])
def test_properties_come_back_on_every_receive_and_peek(mns_account, encoding):
    queue = new_queue(mns_account, "props")
    queue.set_encoding(encoding)
    queue.send_message(_rich())
    queue.send_message(Message("plain", priority=2))
    assert props(queue.peek_message()) == EXPECTED
    assert [props(m) for m in queue.batch_peek_message(2)] == [EXPECTED, ({}, {})]
    received = queue.receive_message()
    assert (body(received), props(received)) == ("rich", EXPECTED)
    queue.change_message_visibility(received.receipt_handle, 0)
    assert [(body(m), props(m)) for m in queue.batch_receive_message(16)] == [
        ("rich", EXPECTED), ("plain", ({}, {}))]


@pytest.mark.fc_verified
def test_batch_send_keeps_each_message_s_own(mns_account):
    queue = new_queue(mns_account, "props")
    queue.set_encoding(False)
    other = Message("other", priority=3)
    other.add_user_property("only", Value.create_string("mine"))
    queue.batch_send_message([_rich(), Message("plain", priority=2), other])
    got = queue.batch_receive_message(16)
    assert [(body(m), props(m)) for m in got] == [
        ("rich", EXPECTED), ("plain", ({}, {})),
        ("other", ({"only": ("STRING", "mine")}, {}))]


def _many(n: int, body: str = "m") -> Message:
    message = Message(body)
    for i in range(n):
        message.add_user_property(f"p{i}", Value.create_string("v"))
    return message


def test_an_empty_value_is_kept_but_the_sdk_reads_past_it(fcemu, mns_account):
    """Nothing in the docs refuses an empty String, Number or Binary value: fcemu keeps
    it and answers ``<Value></Value>``, and the SDK's decoder passes over a property
    whose Value has no text, so it is not in what the SDK gives back."""
    queue = new_queue(mns_account, "props")
    message = Message("m")
    message.add_user_property("blank", Value.create_string(""))
    message.add_user_property("kept", Value.create_binary(b""))
    message.add_user_property("seen", Value.create_string("x"))
    queue.send_message(message)
    assert fcemu.queue("props").last.properties.user == (
        ("blank", "STRING", ""), ("kept", "BINARY", ""), ("seen", "STRING", "x"))
    assert props(queue.receive_message()) == ({"seen": ("STRING", "x")}, {})


def test_what_the_limits_refuse_is_an_invalid_argument(mns_account):
    """A refused property is InvalidArgument (no other code is documented); in a batch
    it refuses the whole batch, with nothing enqueued (fcemu's choice)."""
    queue = new_queue(mns_account, "props")
    queue.set_encoding(False)
    queue.send_message(_many(50))  # the limit itself is accepted
    cases = [_many(51)]
    named = Message("m")
    named.add_user_property("white space", Value.create_string("v"))
    long = Message("m")
    long.add_user_property("long", Value.create_string("x" * 4097))
    cases += [named, long]
    for message in cases:
        with pytest.raises(MNSServerException) as info:
            queue.send_message(message)
        assert (info.value.type, info.value.request_id is not None) == ("InvalidArgument", True)
    with pytest.raises(MNSServerException) as info:
        queue.batch_send_message([Message("first"), _many(51, "second")])
    assert info.value.type == "InvalidArgument"
    assert "message 2: UserProperties: a message has at most 50" in info.value.message
    [kept] = queue.batch_peek_message(16)  # the refused batch enqueued nothing
    assert len(kept.user_properties) == 50
