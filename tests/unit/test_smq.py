"""fcemu.smq on a manual clock: visibility, handles, ordering, delays, retention, topics,
long polls. No sockets, no sleeping: the clock is moved and asyncio is sequenced."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from fcemu.clock import ManualClock
from fcemu.errors import (
    EndpointInvalid,
    InvalidQueueName,
    MessageNotExist,
    QueueAlreadyExist,
    QueueNameLengthError,
    QueueNotExist,
    ReceiptHandleError,
    SmqInvalidArgument,
    SubscriptionAlreadyExist,
    SubscriptionNotExist,
    TopicAlreadyExist,
    TopicNameInvalid,
    TopicNotExist,
)
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Queue, Smq, body_md5, endpoint_queue
from tests.constants import ACCOUNT, SECOND_MS, T0


@pytest.fixture
def env() -> SimpleNamespace:
    clock = ManualClock(T0)
    scheduler = Scheduler(clock)
    smq = Smq(clock, scheduler, IdGenerator(7), region="cn-hangzhou", account_id=ACCOUNT)
    return SimpleNamespace(clock=clock, scheduler=scheduler, smq=smq)


def later(env: SimpleNamespace, seconds: float) -> None:
    """Move the manual clock; the domain evaluates visibility lazily, no timer needed."""
    env.clock.move_to(env.clock.now_ms() + int(seconds * SECOND_MS))


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def until_waiting(queue: Queue, n: int = 1) -> None:
    """Yield to the loop until ``n`` long polls are parked on ``queue`` (no time passes)."""
    for _ in range(1000):
        if queue.waiting >= n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{queue.waiting} long polls waiting on {queue.name}, wanted {n}")


# -- queues -------------------------------------------------------------------------------


def test_create_queue_defaults_and_identical_create(env):
    queue, created = env.smq.create_queue("q1")
    assert created
    assert queue.attributes == {
        "DelaySeconds": 0, "MaximumMessageSize": 65536, "MessageRetentionPeriod": 345600,
        "VisibilityTimeout": 30, "PollingWaitSeconds": 0, "LoggingEnabled": False,
    }
    assert queue.create_time == queue.last_modify_time == T0 // 1000  # epoch seconds
    again, created = env.smq.create_queue("q1", VisibilityTimeout=30)
    assert (again, created) == (queue, False)


def test_create_queue_with_different_attributes_conflicts(env):
    env.smq.create_queue("q1")
    with pytest.raises(QueueAlreadyExist, match=r"VisibilityTimeout 30 \(asked 60\)"):
        env.smq.create_queue("q1", visibility_timeout=60)


def test_attributes_accept_snake_case_strings_and_booleans(env):
    queue, _ = env.smq.create_queue("q1", visibility_timeout="45", LoggingEnabled="True")
    assert queue.attributes["VisibilityTimeout"] == 45
    assert queue.attributes["LoggingEnabled"] is True


@pytest.mark.parametrize(("element", "value", "limits"), [
    ("VisibilityTimeout", 0, "between 1 and 43200 seconds"),
    ("DelaySeconds", 604801, "between 0 and 604800 seconds"),
    ("MaximumMessageSize", 1023, "between 1024 and 65536 bytes"),
    ("MessageRetentionPeriod", 59, "between 60 and 604800 seconds"),
    ("PollingWaitSeconds", 31, "between 0 and 30 seconds"),
    ("VisibilityTimeout", "ten", "between 1 and 43200 seconds"),
])
def test_out_of_range_attribute_names_element_and_range(env, element, value, limits):
    with pytest.raises(SmqInvalidArgument, match=f"{element} should be {limits}"):
        env.smq.create_queue("q1", **{element: value})
    assert not env.smq.queue_exists("q1")


def test_unknown_attribute_is_refused(env):
    with pytest.raises(SmqInvalidArgument, match="cause by Colour"):
        env.smq.create_queue("q1", Colour=1)


@pytest.mark.parametrize(("name", "error"), [
    ("bad_name", InvalidQueueName), ("-dash-first", InvalidQueueName),
    ("", QueueNameLengthError), ("a" * 257, QueueNameLengthError),
])
def test_bad_queue_names(env, name, error):
    with pytest.raises(error):
        env.smq.create_queue(name)


def test_get_missing_queue_lists_existing_ones(env):
    env.smq.create_queue("there")
    with pytest.raises(QueueNotExist, match=r"nope \(queues: there\)"):
        env.smq.get_queue("nope")


def test_delete_queue_is_idempotent(env):
    env.smq.create_queue("q1")
    env.smq.delete_queue("q1")
    env.smq.delete_queue("q1")
    assert not env.smq.queue_exists("q1")


def test_list_queues_prefix_marker_limit(env):
    for name in ["a1", "a2", "a3", "b1"]:
        env.smq.create_queue(name)
    page, marker = env.smq.list_queues(prefix="a", limit=2)
    assert [q.name for q in page] == ["a1", "a2"] and marker == "a3"
    page, marker = env.smq.list_queues(prefix="a", marker=marker, limit=2)
    assert [q.name for q in page] == ["a3"] and marker == ""
    with pytest.raises(SmqInvalidArgument):
        env.smq.list_queues(limit=0)


def test_set_queue_attributes_changes_only_given_ones(env):
    env.smq.create_queue("q1", DelaySeconds=5)
    later(env, 10)
    queue = env.smq.set_queue_attributes("q1", VisibilityTimeout=99)
    assert queue.attributes["VisibilityTimeout"] == 99
    assert queue.attributes["DelaySeconds"] == 5
    assert queue.last_modify_time == T0 // 1000 + 10


# -- messages: visibility and receipt handles -----------------------------------------------


def test_visibility_timeout_hides_then_returns_message(env):
    queue, _ = env.smq.create_queue("q1", VisibilityTimeout=30)
    sent = queue.send("hello")
    assert (sent.body, sent.body_md5, sent.enqueue_time) == ("hello", body_md5("hello"), T0)
    [first] = queue.receive()
    handle1 = first.receipt_handle
    assert (first.dequeue_count, first.first_dequeue_time) == (1, T0)
    assert first.next_visible_time == T0 + 30 * SECOND_MS
    assert queue.receive() == []
    later(env, 29.999)
    assert queue.receive() == []
    later(env, 0.001)
    [second] = queue.receive()
    assert second is first
    assert second.dequeue_count == 2 and second.first_dequeue_time == T0
    assert second.receipt_handle != handle1


def test_receipt_handles_are_one_time(env):
    queue, _ = env.smq.create_queue("q1")
    queue.send("x")
    [msg] = queue.receive()
    old = msg.receipt_handle
    later(env, 30)
    [msg] = queue.receive()
    with pytest.raises(MessageNotExist, match="expired, was replaced"):
        queue.delete(old)
    queue.delete(msg.receipt_handle)
    assert queue.messages() == []
    with pytest.raises(MessageNotExist):
        queue.delete(msg.receipt_handle or "")


def test_handle_expires_when_message_becomes_visible(env):
    queue, _ = env.smq.create_queue("q1", VisibilityTimeout=10)
    queue.send("x")
    [msg] = queue.receive()
    later(env, 10)
    with pytest.raises(MessageNotExist):
        queue.delete(msg.receipt_handle or "")
    assert len(queue.messages()) == 1


def test_malformed_handle_is_receipt_handle_error_and_unknown_one_message_not_exist(env):
    queue, _ = env.smq.create_queue("q1")
    for bad in ("1-ODU4OTkzNDU5My0xNDM1MTk3NjAwLTItNg==", "junk", "1-a b", ""):
        with pytest.raises(ReceiptHandleError):
            queue.delete(bad)
    with pytest.raises(MessageNotExist):
        queue.delete("1-" + "a" * 40)


def test_change_visibility_rotates_handle(env):
    queue, _ = env.smq.create_queue("q1")
    queue.send("x")
    [msg] = queue.receive()
    old = msg.receipt_handle
    later(env, 5)
    changed = queue.change_visibility(old or "", 100)
    assert changed.next_visible_time == T0 + 105 * SECOND_MS
    assert changed.receipt_handle != old
    with pytest.raises(MessageNotExist):
        queue.change_visibility(old or "", 10)
    later(env, 99)
    assert queue.receive() == []
    queue.change_visibility(changed.receipt_handle or "", 0)
    assert queue.receive() == [msg]


def test_change_visibility_range(env):
    queue, _ = env.smq.create_queue("q1")
    queue.send("x")
    [msg] = queue.receive()
    with pytest.raises(SmqInvalidArgument, match="between 0 and 43200 seconds"):
        queue.change_visibility(msg.receipt_handle or "", 43201)


def test_priority_order_then_enqueue_order(env):
    queue, _ = env.smq.create_queue("q1")
    for body, priority in [("p8", 8), ("p1a", 1), ("p16", 16), ("p1b", 1)]:
        queue.send(body, priority=priority)
    assert [m.body for m in queue.receive(16)] == ["p1a", "p1b", "p8", "p16"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"priority": 0}, "Priority should be between 1 and 16"),
    ({"priority": 17}, "Priority should be between 1 and 16"),
    ({"delay_seconds": 604801}, "DelaySeconds should be between 0 and 604800"),
])
def test_message_argument_ranges(env, kwargs, match):
    queue, _ = env.smq.create_queue("q1")
    with pytest.raises(SmqInvalidArgument, match=match):
        queue.send("x", **kwargs)
    assert queue.messages() == []


def test_queue_delay_and_message_delay_override(env):
    queue, _ = env.smq.create_queue("q1", DelaySeconds=10)
    delayed = queue.send("queue-delay")
    now = queue.send("no-delay", delay_seconds=0)
    assert queue.receive(16) == [now]
    assert delayed.next_visible_time == T0 + 10 * SECOND_MS
    assert queue.counts() == {"ActiveMessages": 0, "InactiveMessages": 1, "DelayMessages": 1}
    later(env, 10)
    assert queue.receive(16) == [delayed]


def test_delayed_message_can_be_deleted_with_its_send_handle(env):
    queue, _ = env.smq.create_queue("q1")
    msg = queue.send("later", delay_seconds=60)
    assert msg.receipt_handle
    queue.delete(msg.receipt_handle)
    later(env, 60)
    assert queue.receive() == []


def test_retention_drops_old_messages(env):
    queue, _ = env.smq.create_queue("q1", MessageRetentionPeriod=60)
    queue.send("old")
    [msg] = queue.receive()
    later(env, 30)
    young = queue.send("young")
    later(env, 30)
    assert queue.messages() == [young]
    with pytest.raises(MessageNotExist):
        queue.delete(msg.receipt_handle or "")
    later(env, 30)
    assert queue.messages() == [] and queue.receive() == []


def test_maximum_message_size_counts_utf8_bytes_and_leaves_queue_unchanged(env):
    queue, _ = env.smq.create_queue("q1", MaximumMessageSize=1024)
    queue.send("x" * 1024)
    with pytest.raises(SmqInvalidArgument, match=r"between 1 and 1024 bytes.*got 1026 bytes"):
        queue.send("é" * 513)
    with pytest.raises(SmqInvalidArgument, match="between 1 and 1024 bytes"):
        queue.send("")
    assert len(queue.messages()) == 1


def test_peek_does_not_change_state(env):
    queue, _ = env.smq.create_queue("q1")
    first = queue.send("a")
    queue.send("b")
    assert [m.body for m in queue.peek(16)] == ["a", "b"]
    assert first.dequeue_count == 0 and first.receipt_handle is None
    queue.receive()
    assert [m.body for m in queue.peek(16)] == ["b"]


def test_inspection_lists_hidden_and_delayed_without_consuming(env):
    queue, _ = env.smq.create_queue("q1")
    queue.send("visible")
    queue.send("delayed", delay_seconds=100)
    queue.send("hidden")
    queue.receive()  # "visible" is now hidden
    assert [m.body for m in queue.messages()] == ["visible", "delayed", "hidden"]
    assert queue.last is not None and queue.last.body == "hidden"
    assert queue.counts() == {"ActiveMessages": 1, "InactiveMessages": 1, "DelayMessages": 1}
    queue.clear()
    assert queue.messages() == [] and queue.last is None


def test_message_json_plain_and_base64(env):
    queue, _ = env.smq.create_queue("q1")
    doc = {"a": 1, "b": ["x"]}
    plain = queue.send(json.dumps(doc))
    encoded = queue.send(base64.b64encode(json.dumps(doc).encode()).decode())
    assert plain.json() == encoded.json() == doc
    with pytest.raises(ValueError, match="neither JSON nor Base64"):
        queue.send("not json").json()


def test_ids_are_seeded(env):
    other = Smq(env.clock, env.scheduler, IdGenerator(7), region="r", account_id="a")
    a = env.smq.send_message("q", "x", create=True)
    b = other.send_message("q", "x", create=True)
    assert a.message_id == b.message_id


def test_send_message_create_flag(env):
    with pytest.raises(QueueNotExist):
        env.smq.send_message("auto", "x")
    msg = env.smq.send_message("auto", "x", create=True)
    assert env.smq.get_queue("auto").messages() == [msg]


# -- long polling -------------------------------------------------------------------------


def test_long_poll_is_woken_by_a_send(env):
    async def main():
        queue, _ = env.smq.create_queue("q1")
        poll = asyncio.ensure_future(queue.receive_wait(1, 30))
        await until_waiting(queue)
        sent = queue.send("wake up")
        assert await poll == [sent]
        assert queue.waiting == 0

    run(main)


def test_long_poll_is_woken_when_the_clock_passes_visibility(env):
    async def main():
        queue, _ = env.smq.create_queue("q1", VisibilityTimeout=30)
        queue.send("x")
        [msg] = queue.receive()
        poll = asyncio.ensure_future(queue.receive_wait(1, 30))
        await until_waiting(queue)
        [timer] = env.scheduler.pending("housekeeping")
        assert timer.due_ms == T0 + 30 * SECOND_MS
        await env.scheduler.advance(30 * SECOND_MS)
        assert await poll == [msg]
        assert msg.dequeue_count == 2
        assert env.scheduler.pending() == []

    run(main)


def test_long_poll_uses_queue_polling_wait_and_does_not_block_settle_or_drain(env):
    async def main():
        queue, _ = env.smq.create_queue("q1", PollingWaitSeconds=30)
        queue.send("later", delay_seconds=50)
        poll = asyncio.ensure_future(queue.receive_wait(1))
        await until_waiting(queue)
        await env.scheduler.settle(timeout=5)
        assert await env.scheduler.drain(timeout=5) == T0  # the wake timer is housekeeping
        assert not poll.done()
        await env.scheduler.advance(50 * SECOND_MS)
        [msg] = await poll
        assert msg.body == "later"

    run(main)


def test_long_poll_ends_when_queue_is_deleted(env):
    async def main():
        queue, _ = env.smq.create_queue("q1")
        poll = asyncio.ensure_future(queue.receive_wait(1, 30))
        await until_waiting(queue)
        env.smq.delete_queue("q1")
        with pytest.raises(QueueNotExist):
            await poll

    run(main)


def test_close_ends_long_polls_and_forgets_everything(env):
    async def main():
        queue, _ = env.smq.create_queue("q1", VisibilityTimeout=30)
        queue.send("x")
        queue.receive()
        env.smq.create_topic("t1")
        poll = asyncio.ensure_future(queue.receive_wait(1, 30))
        await until_waiting(queue)
        assert env.scheduler.pending("housekeeping")
        env.smq.close()
        with pytest.raises(QueueNotExist):
            await poll
        assert env.scheduler.pending() == []
        assert not env.smq.queue_exists("q1") and not env.smq.topic_exists("t1")

    run(main)


def test_zero_wait_returns_at_once_and_wait_range_is_checked(env):
    async def main():
        queue, _ = env.smq.create_queue("q1", PollingWaitSeconds=30)
        assert await queue.receive_wait(1, 0) == []
        with pytest.raises(SmqInvalidArgument, match="waitseconds should be between 0 and 30"):
            await queue.receive_wait(1, 31)

    run(main)


def test_competing_long_polls_each_get_one_message(env):
    async def main():
        queue, _ = env.smq.create_queue("q1")
        polls = [asyncio.ensure_future(queue.receive_wait(1, 30)) for _ in range(2)]
        await until_waiting(queue, 2)
        queue.send("one")
        done, pending = await asyncio.wait(polls, return_when=asyncio.FIRST_COMPLETED)
        assert [m.body for m in done.pop().result()] == ["one"]
        queue.send("two")
        [rest] = pending
        assert [m.body for m in await rest] == ["two"]

    run(main)


# -- topics -------------------------------------------------------------------------------


def test_topic_crud_and_conflicts(env):
    topic, created = env.smq.create_topic("t1")
    assert created and topic.attributes == {"MaximumMessageSize": 65536, "LoggingEnabled": False}
    assert env.smq.create_topic("t1") == (topic, False)
    with pytest.raises(TopicAlreadyExist):
        env.smq.create_topic("t1", MaximumMessageSize=2048)
    with pytest.raises(TopicNameInvalid):
        env.smq.create_topic("no_underscores")
    assert [t.name for t in env.smq.list_topics()[0]] == ["t1"]
    env.smq.delete_topic("t1")
    with pytest.raises(TopicNotExist):
        env.smq.get_topic("t1")


def test_publish_fans_out_to_every_subscribed_queue(env):
    smq = env.smq
    smq.create_topic("t1")
    for name in ("qa", "qb"):
        smq.create_queue(name)
        smq.subscribe("t1", f"sub-{name}", smq.queue_endpoint(name),
                      notify_content_format="SIMPLIFIED")
    published = smq.publish_message("t1", '{"x": 1}')
    for name in ("qa", "qb"):
        [msg] = smq.get_queue(name).messages()
        assert msg.body == '{"x": 1}' and msg.json() == {"x": 1}
        assert msg.message_id != published.message_id
    assert smq.get_topic("t1").message_count(env.clock.now_ms()) == 1
    later(env, 86400)
    assert smq.get_topic("t1").message_count(env.clock.now_ms()) == 0


def test_notification_formats_and_tag_filter(env):
    smq = env.smq
    smq.create_topic("t1")
    for name in ("xml", "json", "tagged"):
        smq.create_queue(name)
    smq.subscribe("t1", "s-xml", f"acs:mns:cn-hangzhou:{ACCOUNT}:queues/xml")
    smq.subscribe("t1", "s-json", "http://123.mns.cn-hangzhou.aliyuncs.com/queues/json",
                  notify_content_format="JSON")
    smq.subscribe("t1", "s-tag", smq.queue_endpoint("tagged"), filter_tag="important",
                  notify_content_format="SIMPLIFIED")
    published = smq.publish_message("t1", "a<b & c", tag="other")
    xml_body = smq.get_queue("xml").messages()[0].body
    assert "<Message>a&lt;b &amp; c</Message>" in xml_body
    assert f"<MessageId>{published.message_id}</MessageId>" in xml_body
    assert "<MessageTag>other</MessageTag>" in xml_body
    note = smq.get_queue("json").messages()[0].json()
    assert note["Message"] == "a<b & c" and note["TopicName"] == "t1"
    assert note["MessageMD5"] == body_md5("a<b & c") and note["PublishTime"] == str(T0)
    assert smq.get_queue("tagged").messages() == []
    smq.publish_message("t1", "yes", tag="important")
    assert [m.body for m in smq.get_queue("tagged").messages()] == ["yes"]


def test_publish_skips_missing_queues_and_other_endpoints(env, caplog):
    smq = env.smq
    smq.create_topic("t1")
    smq.subscribe("t1", "gone", smq.queue_endpoint("missing"))
    smq.subscribe("t1", "web", "http://example.com/hook")
    smq.publish_message("t1", "x")
    assert not smq.queue_exists("missing")
    assert "push to queue missing" in caplog.text


def test_publish_create_flag_and_size_limit(env):
    with pytest.raises(TopicNotExist):
        env.smq.publish_message("t-auto", "x")
    env.smq.publish_message("t-auto", "x", create=True)
    assert env.smq.topic_exists("t-auto")
    env.smq.create_topic("small", MaximumMessageSize=1024)
    with pytest.raises(SmqInvalidArgument, match="between 1 and 1024 bytes"):
        env.smq.publish_message("small", "x" * 1025)


def test_subscriptions(env):
    smq = env.smq
    smq.create_topic("t1")
    sub, created = smq.subscribe("t1", "s1", smq.queue_endpoint("q"))
    assert created and (sub.notify_strategy, sub.notify_content_format) == ("BACKOFF_RETRY",
                                                                            "XML")
    assert smq.subscribe("t1", "s1", smq.queue_endpoint("q")) == (sub, False)
    with pytest.raises(SubscriptionAlreadyExist):
        smq.subscribe("t1", "s1", smq.queue_endpoint("other"))
    with pytest.raises(EndpointInvalid):
        smq.subscribe("t1", "s2", "")
    with pytest.raises(SmqInvalidArgument, match="NotifyContentFormat"):
        smq.subscribe("t1", "s2", "x", notify_content_format="YAML")
    smq.set_subscription_attributes("t1", "s1", notify_strategy="EXPONENTIAL_DECAY_RETRY")
    assert smq.get_subscription("t1", "s1").notify_strategy == "EXPONENTIAL_DECAY_RETRY"
    assert [s.name for s in smq.list_subscriptions("t1")[0]] == ["s1"]
    smq.unsubscribe("t1", "s1")
    smq.unsubscribe("t1", "s1")
    with pytest.raises(SubscriptionNotExist):
        smq.get_subscription("t1", "s1")


@pytest.mark.parametrize(("endpoint", "queue"), [
    ("acs:mns:cn-hangzhou:123:queues/q1", "q1"),
    ("acs:mns:cn-hangzhou:123:/queues/q1/messages", "q1"),
    ("http://123.mns.cn-hangzhou.aliyuncs.com/queues/q1", "q1"),
    ("https://127.0.0.1:9000/queues/q1/", "q1"),
    ("http://example.com/hook", None),
    ("mail:directmail:a@example.com", None),
])
def test_endpoint_queue(endpoint, queue):
    assert endpoint_queue(endpoint) == queue
