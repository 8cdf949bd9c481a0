"""The real MNS SDK (``aliyun-mns-sdk``, module ``mns``) against the SMQ routes on 127.0.0.1.

The tests run on the pytest plugin's ``fcemu`` emulator (manual clock) with its
``mns_account``; ``fcemu.clock.advance()`` moves time. Every operation of the
SMQ issue and each error case (raised as the SDK's own ``MNSServerException``
with the right ``type``) is covered. The last test drives a whole FC async task
to an onFailure queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("mns", reason="pip install -e '.[test]'")

from mns.account import Account
from mns.mns_client import MNSClient
from mns.mns_exception import MNSServerException
from mns.mns_http import RequestInternal
from mns.mns_request import (
    GetQueueAttributesRequest,
    GetQueueAttributesResponse,
    ListQueueRequest,
    ListQueueResponse,
    RequestBase,
    ResponseBase,
)
from mns.queue import Message, QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage, TopicMeta

from fcemu import Emulator
from fcemu.engine import Engine
from tests.constants import ACCOUNT, REGION, SECOND_MS, T0


@pytest.fixture
def new_account(fcemu: Emulator) -> Iterator[Callable[[], Account]]:
    """More accounts on the emulator than ``mns_account``: each has its own keep-alive
    socket (for a second thread), closed at teardown."""
    made: list[Account] = []

    def make() -> Account:
        made.append(Account(fcemu.endpoint, "AKIDTEST", "SECRETTEST"))
        return made[-1]

    yield make
    for acc in made:
        acc.get_client().close_connection()


def wait_for_long_polls(emu: Emulator, queue: str, n: int = 1, timeout: float = 10) -> None:
    """Return once ``n`` receives are parked on ``queue`` (bounded in real time)."""
    async def parked(engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while engine.smq.get_queue(queue).waiting < n:
            assert loop.time() < deadline, f"no long poll parked on {queue}"
            await asyncio.sleep(0)

    emu.call(parked, timeout + 5)


def counts(account: Account, queue: str) -> dict[str, int]:
    """Active/Inactive/DelayMessages as GetQueueAttributes answers them (read from the
    client's response: the SDK's QueueMeta getters for them are deprecated)."""
    resp = GetQueueAttributesResponse()
    account.get_client().get_queue_attributes(GetQueueAttributesRequest(queue), resp)
    return {"ActiveMessages": resp.active_messages, "InactiveMessages": resp.inactive_messages,
            "DelayMessages": resp.delay_messages}


def server_error(call: Callable[[], object]) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        call()
    error = info.value
    assert error.request_id
    # Batch partial failures carry no HostId (their items are ErrorCode/ErrorMessage).
    assert error.host_id is None or error.host_id.startswith("http://127.0.0.1:")
    return error


def new_queue(account: Account, name: str, **meta: Any) -> Any:
    queue = account.get_queue(name)
    queue.create(QueueMeta(**meta))
    return queue


# -- queues -------------------------------------------------------------------------------


def test_queue_crud(fcemu, mns_account):
    queue = mns_account.get_queue("orders")
    url = queue.create(QueueMeta(vis_timeout=60, polling_wait_sec=3))
    assert url == f"{fcemu.endpoint}/queues/orders"
    assert queue.create(QueueMeta(vis_timeout=60, polling_wait_sec=3)) == url  # 204
    assert server_error(lambda: queue.create(QueueMeta())).type == "QueueAlreadyExist"

    meta = queue.get_attributes()
    assert (meta.queue_name, meta.visibility_timeout, meta.polling_wait_seconds) == (
        "orders", 60, 3)
    assert (meta.maximum_message_size, meta.message_retention_period, meta.delay_seconds) == (
        65536, 345600, 0)
    assert meta.create_time == meta.last_modify_time == T0 // 1000
    assert meta.logging_enabled is False

    fcemu.clock.advance(5)
    queue.set_attributes(QueueMeta(delay_sec=10, logging_enabled=True))
    meta = queue.get_attributes()
    assert (meta.delay_seconds, meta.visibility_timeout, meta.logging_enabled) == (10, 60, True)
    assert meta.last_modify_time == T0 // 1000 + 5

    queue.delete()
    assert server_error(queue.get_attributes).type == "QueueNotExist"


@pytest.mark.fc_verified
def test_list_queue_prefix_marker_ret_number_and_meta(mns_account):
    for name in ["fc-a", "fc-b", "fc-c", "other"]:
        new_queue(mns_account, name)
    urls, marker = mns_account.list_queue(prefix="fc", ret_number=2)
    assert [u.rsplit("/", 1)[1] for u in urls] == ["fc-a", "fc-b"]
    assert marker == "fc-c"
    urls, marker = mns_account.list_queue(prefix="fc", ret_number=2, marker=marker)
    assert [u.rsplit("/", 1)[1] for u in urls] == ["fc-c"] and marker == ""
    urls, _ = mns_account.list_queue()
    assert len(urls) == 4

    # Account.list_queue never asks for meta; the client call does (x-mns-with-meta).
    resp = ListQueueResponse()
    mns_account.get_client().list_queue(ListQueueRequest("fc", 1, "fc-b", True), resp)
    [meta] = resp.queuemeta_list
    assert meta["QueueName"] == "fc-b" and meta["VisibilityTimeout"] == "30"
    assert resp.next_marker == "fc-c"


# -- messages -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [True, False], ids=["base64", "raw"])
def test_send_receive_delete_both_encodings(fcemu, mns_account, encoding):
    queue = new_queue(mns_account, "q1")
    queue.set_encoding(encoding)
    body = '{"hello": "wörld", "xml": "<a & b>"}'
    sent = queue.send_message(Message(body, priority=3))
    got = queue.receive_message_with_str_body()
    assert got.message_body == body
    assert (got.message_id, got.message_body_md5) == (sent.message_id, sent.message_body_md5)
    assert (got.dequeue_count, got.priority) == (1, 3)
    assert got.enqueue_time == got.first_dequeue_time == T0
    assert got.next_visible_time == T0 + 30 * SECOND_MS
    stored = fcemu.queue("q1").messages()[0].body
    assert (stored != body) if encoding else (stored == body)  # stored exactly as sent
    queue.delete_message(got.receipt_handle)
    assert server_error(queue.receive_message).type == "MessageNotExist"


@pytest.mark.fc_verified
def test_batch_send_batch_receive_peek_batch_peek_batch_delete(mns_account):
    queue = new_queue(mns_account, "q1")
    queue.set_encoding(False)
    sent = queue.batch_send_message([Message(f"m{i}") for i in range(16)])
    assert len(sent) == 16 and all(m.message_id for m in sent)

    peeked = queue.peek_message()
    assert (peeked.message_body, peeked.dequeue_count) == ("m0", 0)
    assert [m.message_body for m in queue.batch_peek_message(3)] == ["m0", "m1", "m2"]

    got = queue.batch_receive_message(16)
    assert [m.message_body for m in got] == [f"m{i}" for i in range(16)]
    assert all(m.dequeue_count == 1 and m.receipt_handle for m in got)
    assert server_error(lambda: queue.batch_peek_message(16)).type == "MessageNotExist"
    assert counts(mns_account, "q1")["InactiveMessages"] == 16
    queue.batch_delete_message([m.receipt_handle for m in got])
    assert counts(mns_account, "q1")["InactiveMessages"] == 0


@pytest.mark.fc_verified
def test_batch_errors_carry_per_item_details(mns_account):
    queue = new_queue(mns_account, "q1", max_msg_size=1024)
    queue.set_encoding(False)
    error = server_error(lambda: queue.batch_send_message([Message("ok"),
                                                           Message("x" * 2000)]))
    assert error.type == "InvalidArgument"
    assert [sorted(item) for item in error.sub_errors] == [
        ["MessageBodyMD5", "MessageId"], ["ErrorCode", "ErrorMessage"]]
    [msg] = queue.batch_receive_message(16)
    error = server_error(lambda: queue.batch_delete_message([msg.receipt_handle, "made-up"]))
    assert error.type == "ReceiptHandleError"
    assert [e["ReceiptHandle"] for e in error.sub_errors] == ["made-up"]
    assert server_error(queue.receive_message).type == "MessageNotExist"  # first one deleted


def test_change_message_visibility(fcemu, mns_account):
    queue = new_queue(mns_account, "q1")
    queue.send_message(Message("x"))
    got = queue.receive_message()
    changed = queue.change_message_visibility(got.receipt_handle, 100)
    assert changed.receipt_handle != got.receipt_handle
    assert int(changed.next_visible_time) == T0 + 100 * SECOND_MS
    assert server_error(lambda: queue.delete_message(got.receipt_handle)).type == (
        "MessageNotExist")
    fcemu.clock.advance(99)
    assert server_error(queue.receive_message).type == "MessageNotExist"
    fcemu.clock.advance(1)
    assert queue.receive_message().dequeue_count == 2


def test_visibility_timeout_expiry_on_the_manual_clock(fcemu, mns_account):
    queue = new_queue(mns_account, "q1", vis_timeout=30)
    queue.send_message(Message("job"))
    first = queue.receive_message()
    assert server_error(queue.receive_message).type == "MessageNotExist"
    fcemu.clock.advance(30)
    again = queue.receive_message()
    assert (again.message_id, again.dequeue_count) == (first.message_id, 2)
    assert again.first_dequeue_time == T0
    assert again.receipt_handle != first.receipt_handle
    assert server_error(lambda: queue.delete_message(first.receipt_handle)).type == (
        "MessageNotExist")
    queue.delete_message(again.receipt_handle)


def test_priority_and_delays(fcemu, mns_account):
    queue = new_queue(mns_account, "q1", delay_sec=5)
    queue.set_encoding(False)
    queue.send_message(Message("low", priority=16, delay_seconds=0))
    queue.send_message(Message("delayed-by-queue"))
    queue.send_message(Message("high", priority=1, delay_seconds=0))
    assert counts(mns_account, "q1")["DelayMessages"] == 1
    assert [m.message_body for m in queue.batch_receive_message(16)] == ["high", "low"]
    fcemu.clock.advance(5)
    assert queue.receive_message().message_body == "delayed-by-queue"


def test_long_poll_answered_by_a_concurrent_send(fcemu, mns_account, new_account):
    new_queue(mns_account, "q1")
    receiver = mns_account.get_queue("q1")
    sender = new_account().get_queue("q1")  # its own socket, used from this thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        poll = pool.submit(receiver.receive_message_with_str_body, 5)
        wait_for_long_polls(fcemu, "q1")
        assert sender.get_attributes().queue_name == "q1"  # served while the poll waits
        sender.send_message(Message("wake up"))
        assert poll.result(timeout=30).message_body == "wake up"


def test_long_poll_answered_when_the_clock_passes_visibility(fcemu, mns_account, new_account):
    queue = new_queue(mns_account, "q1", vis_timeout=30)
    queue.send_message(Message("job"))
    first = queue.receive_message()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        poll = pool.submit(new_account().get_queue("q1").receive_message, 5)
        wait_for_long_polls(fcemu, "q1")
        fcemu.clock.advance(30)
        again = poll.result(timeout=30)
    assert (again.message_id, again.dequeue_count) == (first.message_id, 2)


def test_shutdown_does_not_wait_for_a_parked_long_poll():
    server = Emulator(clock="manual")  # its own: the test stops it
    server.start()
    account = Account(server.endpoint, "AKIDTEST", "SECRETTEST")
    try:
        new_queue(account, "q1")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            poll = pool.submit(account.get_queue("q1").receive_message, 30)
            wait_for_long_polls(server, "q1")
            server.stop()  # releases the parked poll rather than waiting out its 30 s
            with pytest.raises(MNSServerException) as info:
                poll.result(timeout=10)
        assert info.value.type == "QueueNotExist"
    finally:
        server.stop()
        account.get_client().close_connection()


# -- topics -------------------------------------------------------------------------------


@pytest.mark.fc_verified
def test_topic_fan_out_to_two_queues(fcemu, mns_account):
    topic = mns_account.get_topic("results")
    assert topic.create(TopicMeta()) == f"{fcemu.endpoint}/topics/results"
    for name in ("qa", "qb"):
        new_queue(mns_account, name)
        url = topic.get_subscription(f"to-{name}").subscribe(SubscriptionMeta(
            f"acs:mns:{REGION}:{ACCOUNT}:queues/{name}", notify_content_format="SIMPLIFIED"))
        assert url.endswith(f"/topics/results/subscriptions/to-{name}")
    published = topic.publish_message(TopicMessage('{"x": 1}', "tag1"))
    assert published.message_id and published.message_body_md5
    for name in ("qa", "qb"):
        queue = mns_account.get_queue(name)
        queue.set_encoding(False)
        got = queue.receive_message()
        assert json.loads(got.message_body) == {"x": 1}
        queue.delete_message(got.receipt_handle)

    meta = topic.get_attributes()
    assert (meta.topic_name, meta.message_count, meta.maximum_message_size) == (
        "results", 1, 65536)
    sub = topic.get_subscription("to-qa").get_attributes()
    assert (sub.endpoint, sub.notify_content_format, sub.topic_owner) == (
        f"acs:mns:{REGION}:{ACCOUNT}:queues/qa", "SIMPLIFIED", ACCOUNT)
    urls, marker = topic.list_subscription()
    assert [u.rsplit("/", 1)[1] for u in urls] == ["to-qa", "to-qb"] and marker == ""
    urls, _ = mns_account.list_topic()
    assert [u.rsplit("/", 1)[1] for u in urls] == ["results"]

    topic.get_subscription("to-qb").unsubscribe()
    topic.publish_message(TopicMessage("only qa"))
    assert server_error(mns_account.get_queue("qb").receive_message).type == "MessageNotExist"
    topic.delete()
    assert server_error(topic.get_attributes).type == "TopicNotExist"


@pytest.mark.fc_verified
def test_topic_xml_notification_default(mns_account):
    topic = mns_account.get_topic("t1")
    topic.create(TopicMeta())
    queue = new_queue(mns_account, "q1")
    queue.set_encoding(False)
    topic.get_subscription("s1").subscribe(SubscriptionMeta(
        f"http://{ACCOUNT}.mns.{REGION}.aliyuncs.com/queues/q1"))
    topic.publish_message(TopicMessage("a < b", "urgent"))
    body = queue.receive_message().message_body
    assert "<Message>a &lt; b</Message>" in body and "<MessageTag>urgent</MessageTag>" in body


# -- errors -------------------------------------------------------------------------------


def raw_request(account: Account, method: str, uri: str, data: bytes) -> None:
    """Send a hand-made body through the SDK's own client, signing and error parsing."""
    client: MNSClient = account.get_client()
    req, resp = RequestBase(), ResponseBase()
    req.method = method
    req_inter = RequestInternal(method, uri, data=data)
    client.build_header(req, req_inter)
    resp_inter = client.http.send_request(req_inter)
    resp.status, resp.header = resp_inter.status, resp_inter.header
    client.check_status(req_inter, resp_inter, resp)


@pytest.mark.fc_verified
@pytest.mark.parametrize(("call", "code"), [
    (lambda a: a.get_queue("missing").get_attributes(), "QueueNotExist"),
    (lambda a: a.get_queue("missing").send_message(Message("x")), "QueueNotExist"),
    (lambda a: a.get_queue("bad_name").create(QueueMeta()), "InvalidQueueName"),
    (lambda a: a.get_queue("q" * 257).create(QueueMeta()), "QueueNameLengthError"),
    (lambda a: a.get_queue("q2").create(QueueMeta(vis_timeout=50000)), "InvalidArgument"),
    (lambda a: a.get_queue("q1").create(QueueMeta(vis_timeout=1)), "QueueAlreadyExist"),
    (lambda a: a.get_queue("q1").send_message(Message("x" * 70000)), "InvalidArgument"),
    (lambda a: a.get_queue("q1").send_message(Message("x", priority=17)), "InvalidArgument"),
    (lambda a: a.get_queue("q1").receive_message(), "MessageNotExist"),
    (lambda a: a.get_queue("q1").receive_message(wait_seconds=31), "InvalidArgument"),
    (lambda a: a.get_queue("q1").batch_receive_message(17), "InvalidArgument"),
    (lambda a: a.get_queue("q1").delete_message("1-made+up=="), "ReceiptHandleError"),
    (lambda a: a.get_queue("q1").change_message_visibility("1-made+up==", 10),
     "ReceiptHandleError"),
    (lambda a: raw_request(a, "PUT", "/queues/q3", b"<Queue><VisibilityTimeout>"),
     "MalformedXML"),
    (lambda a: raw_request(a, "POST", "/queues/q1/messages", b"<Message/>"),
     "InvalidArgument"),
    (lambda a: raw_request(a, "POST", "/queues", b""), "InvalidRequestURL"),
    (lambda a: a.get_topic("missing").publish_message(TopicMessage("x")), "TopicNotExist"),
    (lambda a: a.get_topic("bad_name").create(TopicMeta()), "TopicNameInvalid"),
    (lambda a: a.get_subscription("t1", "missing").get_attributes(), "SubscriptionNotExist"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_raise_the_sdk_exception_with_the_code(mns_account, call, code):
    new_queue(mns_account, "q1")
    mns_account.get_topic("t1").create(TopicMeta())
    error = server_error(lambda: call(mns_account))
    assert error.type == code, error.message
    assert error.message


@pytest.mark.fc_verified
def test_refused_bodies_leave_the_queue_unchanged(mns_account):
    queue = new_queue(mns_account, "q1", max_msg_size=1024)
    queue.send_message(Message("keep"))
    server_error(lambda: queue.send_message(Message("x" * 1024)))  # Base64 makes it longer
    server_error(lambda: raw_request(mns_account, "POST", "/queues/q1/messages",
                                     b"<Message><MessageBody>x</Message>"))
    assert [m.message_body for m in queue.batch_peek_message(16)] == [b"keep"]


# -- end to end with the emulator -----------------------------------------------------------


def test_fc_async_failure_reaches_on_failure_queue_read_by_the_sdk(fcemu, fc_client, mns_account):
    """FC async task → onFailure destination → receive_message() → delete by handle."""
    from alibabacloud_fc20230330 import models as fc
    from darabonba.runtime import RuntimeOptions

    def handler(event: bytes, context: Any) -> str:
        raise ValueError("bad input")

    fcemu.register_function("failing", handler)
    fcemu.put_async_invoke_config("failing", on_failure="fc-dlq", max_async_retry_attempts=0)
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id="t-1")
    fc_client.invoke_function_with_options(
        "failing", fc.InvokeFunctionRequest(body=io.BytesIO(b'{"n": 1}')), headers,
        RuntimeOptions())
    fcemu.drain()

    queue = mns_account.get_queue("fc-dlq")
    queue.set_encoding(False)  # destination messages are raw JSON by default (decisions.md)
    got = queue.receive_message()
    result = json.loads(got.message_body)
    assert result["requestContext"]["condition"] == "InvocationError"
    assert result["requestPayload"] == '{"n": 1}'
    queue.delete_message(got.receipt_handle)
    assert server_error(queue.receive_message).type == "MessageNotExist"
    assert fcemu.queue("fc-dlq").messages() == []
