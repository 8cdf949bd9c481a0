"""The MNS XML routes through aiohttp's TestClient: wire shapes, statuses, error XML."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fcemu.api.keys import ENGINE
from fcemu.api.smq import (
    release_long_polls,
    routes,
    smq_error_middleware,
    smq_error_response,
)
from fcemu.clock import ManualClock
from fcemu.errors import QueueNotExist
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Smq
from tests.constants import SECOND_MS, T0

NS = "{http://mns.aliyuncs.com/doc/v1/}"
XML_BODY = '<?xml version="1.0" encoding="utf-8"?>'


class Engine(SimpleNamespace):
    """The slice of the engine the MNS routes use: ``smq`` and ``record_failure``."""

    def record_failure(self, what: str, error: BaseException) -> None:
        self.failures.append((what, error))


@pytest.fixture
def env() -> SimpleNamespace:
    clock = ManualClock(T0)
    scheduler = Scheduler(clock)
    smq = Smq(clock, scheduler, IdGenerator(7), region="cn-hangzhou",
              account_id="1234567890123456")
    return SimpleNamespace(clock=clock, scheduler=scheduler, smq=smq,
                           engine=Engine(smq=smq, failures=[]))


def with_client(env: SimpleNamespace,
                test: Callable[[TestClient[Any, Any]], Awaitable[None]],
                *, app_middleware: bool = False) -> None:
    async def main() -> None:
        app = web.Application(middlewares=[smq_error_middleware] if app_middleware else [])
        app[ENGINE] = env.engine
        app.add_routes(routes)
        app.on_shutdown.append(release_long_polls)
        async with TestClient(TestServer(app)) as client:
            await test(client)

    asyncio.run(main())


def parse(text: str) -> tuple[str, dict[str, str]]:
    root = ElementTree.fromstring(text)
    return root.tag.replace(NS, ""), {c.tag.replace(NS, ""): c.text or "" for c in root}


def doc(root: str, **values: object) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items())
    return f'{XML_BODY}<{root} xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</{root}>'


async def error_of(resp: Any, status: int, code: str) -> dict[str, str]:
    """Assert an MNS error response and return its elements."""
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    root, values = parse(await resp.text())
    assert root == "Error"
    assert set(values) == {"Code", "Message", "RequestId", "HostId"}
    assert values["Code"] == code
    assert values["RequestId"] == resp.headers["x-mns-request-id"]
    return values


# -- errors -------------------------------------------------------------------------------


def test_smq_error_response_renders_all_four_elements():
    resp = smq_error_response(QueueNotExist(), "REQ1", host_id="http://h")
    assert resp.status == 404
    assert resp.headers["x-mns-request-id"] == "REQ1"
    assert resp.content_type == "text/xml" and resp.charset == "utf-8"
    assert isinstance(resp.body, bytes)
    root, values = parse(resp.body.decode())
    assert (root, values) == ("Error", {
        "Code": "QueueNotExist", "Message": "The queue name you provided is not exist.",
        "RequestId": "REQ1", "HostId": "http://h"})


def test_unknown_queue_is_queue_not_exist(env):
    async def test(client):
        resp = await client.get("/queues/nope")
        values = await error_of(resp, 404, "QueueNotExist")
        assert values["HostId"].startswith("http://127.0.0.1:")
        assert len(values["RequestId"]) == 24

    with_client(env, test)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/queues"), ("PATCH", "/queues/q1"), ("GET", "/queues/q1/messages/extra"),
    ("POST", "/topics/t1/subscriptions"),
])
def test_unknown_routes_answer_mns_xml(env, method, path):
    async def test(client):
        await error_of(await client.request(method, path), 400, "InvalidRequestURL")

    with_client(env, test)


def test_unexpected_exception_is_internal_error_and_recorded(env, monkeypatch, caplog):
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(env.smq, "list_queues", boom)

    async def test(client):
        values = await error_of(await client.get("/queues"), 500, "InternalError")
        assert "kaboom" not in values["Message"]

    with_client(env, test)
    [(what, error)] = env.engine.failures
    assert what == "MNS GET /queues" and str(error) == "kaboom"
    assert "MNS GET /queues failed" in caplog.text


def test_app_wide_middleware_does_not_touch_other_paths(env):
    async def test(client):
        resp = await client.get("/2023-03-30/functions")
        assert resp.status == 404 and "x-mns-request-id" not in resp.headers
        resp = await client.get("/queues/nope")
        await error_of(resp, 404, "QueueNotExist")

    with_client(env, test, app_middleware=True)


# -- queues -------------------------------------------------------------------------------


def test_create_queue_201_location_then_204_then_409(env):
    async def test(client):
        resp = await client.put("/queues/q1", data=doc("Queue", VisibilityTimeout=30))
        assert resp.status == 201
        assert resp.headers["Location"] == f"http://{resp.url.host}:{resp.url.port}/queues/q1"
        assert resp.headers["x-mns-request-id"]
        resp = await client.put("/queues/q1", data=doc("Queue"))
        assert resp.status == 204 and resp.headers["Location"].endswith("/queues/q1")
        resp = await client.put("/queues/q1", data=doc("Queue", VisibilityTimeout=31))
        await error_of(resp, 409, "QueueAlreadyExist")
        resp = await client.put("/queues/q2", data=b"")
        assert resp.status == 201

    with_client(env, test)


@pytest.mark.parametrize(("body", "status", "code", "text"), [
    ("<Queue><VisibilityTimeout>1", 400, "MalformedXML", "not well-formed"),
    (doc("Topic"), 400, "InvalidArgument", "cause by <Topic>"),
    (doc("Queue", VisibilityTimeout=0), 400, "InvalidArgument",
     "VisibilityTimeout should be between 1 and 43200 seconds"),
    (doc("Queue", MaximumMessageSize=70000), 400, "InvalidArgument",
     "MaximumMessageSize should be between 1024 and 65536 bytes"),
    (doc("Queue", LoggingEnabled="maybe"), 400, "InvalidArgument", "True or False"),
])
def test_create_queue_refuses_bad_bodies(env, body, status, code, text):
    async def test(client):
        values = await error_of(await client.put("/queues/q1", data=body), status, code)
        assert text in values["Message"]
        assert not env.smq.queue_exists("q1")

    with_client(env, test)


@pytest.mark.parametrize(("name", "code"), [
    ("bad_name", "InvalidQueueName"), ("a" * 257, "QueueNameLengthError"),
])
def test_bad_queue_names(env, name, code):
    async def test(client):
        await error_of(await client.put(f"/queues/{name}", data=doc("Queue")), 400, code)

    with_client(env, test)


def test_get_queue_attributes_has_every_element(env):
    env.smq.create_queue("q1", DelaySeconds=5, LoggingEnabled=True)
    env.smq.send_message("q1", "x")

    async def test(client):
        resp = await client.get("/queues/q1")
        assert resp.status == 200
        root, values = parse(await resp.text())
        assert root == "Queue"
        assert values == {
            "QueueName": "q1", "CreateTime": str(T0 // 1000), "LastModifyTime": str(T0 // 1000),
            "DelaySeconds": "5", "MaximumMessageSize": "65536",
            "MessageRetentionPeriod": "345600", "VisibilityTimeout": "30",
            "PollingWaitSeconds": "0", "ActiveMessages": "0", "InactiveMessages": "0",
            "DelayMessages": "1", "LoggingEnabled": "True",
        }

    with_client(env, test)


def test_set_queue_attributes_with_metaoverride(env):
    env.smq.create_queue("q1")

    async def test(client):
        resp = await client.put("/queues/q1?metaoverride=true",
                                data=doc("Queue", PollingWaitSeconds=20))
        assert resp.status == 204
        assert env.smq.get_queue("q1").attributes["PollingWaitSeconds"] == 20
        resp = await client.put("/queues/nope?metaoverride=true", data=doc("Queue"))
        await error_of(resp, 404, "QueueNotExist")

    with_client(env, test)


def test_list_queue_pages_with_headers_and_no_empty_elements(env):
    for name in ["fc-a", "fc-b", "fc-c", "other"]:
        env.smq.create_queue(name)

    async def test(client):
        resp = await client.get("/queues", headers={"x-mns-prefix": "fc",
                                                    "x-mns-ret-number": "2"})
        text = await resp.text()
        root = ElementTree.fromstring(text)
        assert root.tag == f"{NS}Queues"
        urls = [e.text for e in root.iter(f"{NS}QueueURL")]
        assert [u.rsplit("/", 1)[1] for u in urls if u] == ["fc-a", "fc-b"]
        assert root.find(f"{NS}NextMarker").text == "fc-c"  # type: ignore[union-attr]
        assert all((e.text or "").strip() for e in root.iter() if len(e) == 0)
        resp = await client.get("/queues", headers={
            "x-mns-prefix": "fc", "x-mns-marker": "fc-c", "x-mns-with-meta": "true"})
        root = ElementTree.fromstring(await resp.text())
        [queue] = root.findall(f"{NS}Queue")
        meta = {c.tag.replace(NS, ""): c.text for c in queue}
        assert meta["QueueName"] == "fc-c" and meta["VisibilityTimeout"] == "30"
        assert root.find(f"{NS}NextMarker") is None
        resp = await client.get("/queues", headers={"x-mns-ret-number": "0"})
        await error_of(resp, 400, "InvalidArgument")

    with_client(env, test)


def test_delete_queue_204(env):
    env.smq.create_queue("q1")

    async def test(client):
        assert (await client.delete("/queues/q1")).status == 204
        assert (await client.delete("/queues/q1")).status == 204
        assert not env.smq.queue_exists("q1")

    with_client(env, test)


# -- messages -----------------------------------------------------------------------------


def test_send_message_201_and_receive_nine_elements(env):
    env.smq.create_queue("q1")

    async def test(client):
        resp = await client.post("/queues/q1/messages",
                                 data=doc("Message", MessageBody="a &lt; b", Priority=3))
        assert resp.status == 201
        root, sent = parse(await resp.text())
        assert root == "Message" and set(sent) == {"MessageId", "MessageBodyMD5"}
        resp = await client.get("/queues/q1/messages")
        assert resp.status == 200
        root, got = parse(await resp.text())
        assert set(got) == {"MessageId", "ReceiptHandle", "MessageBody", "MessageBodyMD5",
                            "EnqueueTime", "FirstDequeueTime", "NextVisibleTime",
                            "DequeueCount", "Priority"}
        assert got["MessageBody"] == "a < b" and got["Priority"] == "3"
        assert got["MessageId"] == sent["MessageId"]
        assert got["MessageBodyMD5"] == sent["MessageBodyMD5"]
        assert (got["EnqueueTime"], got["FirstDequeueTime"]) == (str(T0), str(T0))
        assert got["NextVisibleTime"] == str(T0 + 30 * SECOND_MS)
        assert got["DequeueCount"] == "1"
        await error_of(await client.get("/queues/q1/messages"), 404, "MessageNotExist")

    with_client(env, test)


def test_body_text_survives_escaping(env):
    env.smq.create_queue("q1")
    env.smq.send_message("q1", 'line1\r\nline2 <&> "quoted" ünïcode')

    async def test(client):
        _, got = parse(await (await client.get("/queues/q1/messages?peekonly=true")).text())
        assert got["MessageBody"] == 'line1\r\nline2 <&> "quoted" ünïcode'

    with_client(env, test)


def test_delayed_send_returns_receipt_handle(env):
    env.smq.create_queue("q1")

    async def test(client):
        resp = await client.post("/queues/q1/messages",
                                 data=doc("Message", MessageBody="x", DelaySeconds=10))
        _, sent = parse(await resp.text())
        assert sent["ReceiptHandle"]
        resp = await client.delete(f"/queues/q1/messages?ReceiptHandle={sent['ReceiptHandle']}")
        assert resp.status == 204

    with_client(env, test)


@pytest.mark.parametrize(("body", "code", "text"), [
    ("<Message><MessageBody>x", "MalformedXML", "not well-formed"),
    (doc("Message"), "InvalidArgument", "cause by MessageBody"),
    (doc("Message", MessageBody="x", Priority=0), "InvalidArgument",
     "Priority should be between 1 and 16"),
    (doc("Message", MessageBody="x", Priority="high"), "InvalidArgument",
     "Priority should be an integer"),
    (doc("Message", MessageBody="x" * 1025), "InvalidArgument",
     "between 1 and 1024 bytes"),
    (doc("Queue"), "InvalidArgument", "cause by <Queue>"),
])
def test_send_message_refusals_leave_queue_unchanged(env, body, code, text):
    env.smq.create_queue("q1", MaximumMessageSize=1024)

    async def test(client):
        values = await error_of(await client.post("/queues/q1/messages", data=body), 400, code)
        assert text in values["Message"]
        assert env.smq.get_queue("q1").messages() == []

    with_client(env, test)


def test_batch_send_and_partial_failure(env):
    env.smq.create_queue("q1", MaximumMessageSize=1024)

    async def test(client):
        ok = "".join(f"<Message><MessageBody>m{i}</MessageBody></Message>" for i in range(3))
        resp = await client.post("/queues/q1/messages", data=doc("Messages")[:-11] + ok
                                 + "</Messages>")
        assert resp.status == 201
        root = ElementTree.fromstring(await resp.text())
        assert [len(m) for m in root] == [2, 2, 2]
        mixed = ("<Message><MessageBody>fine</MessageBody></Message>"
                 f"<Message><MessageBody>{'x' * 2000}</MessageBody></Message>")
        resp = await client.post("/queues/q1/messages", data=doc("Messages")[:-11] + mixed
                                 + "</Messages>")
        assert resp.status == 400
        items = [{c.tag.replace(NS, ""): c.text for c in m}
                 for m in ElementTree.fromstring(await resp.text())]
        assert set(items[0]) == {"MessageId", "MessageBodyMD5"}
        assert set(items[1]) == {"ErrorCode", "ErrorMessage"}
        assert items[1]["ErrorCode"] == "InvalidArgument"
        assert [m.body for m in env.smq.get_queue("q1").messages()] == ["m0", "m1", "m2",
                                                                        "fine"]
        many = "<Message><MessageBody>m</MessageBody></Message>" * 17
        resp = await client.post("/queues/q1/messages", data=doc("Messages")[:-11] + many
                                 + "</Messages>")
        await error_of(resp, 400, "InvalidArgument")

    with_client(env, test)


def test_batch_receive_and_peek(env):
    for i in range(3):
        env.smq.send_message("q1", f"m{i}", create=True)

    async def test(client):
        resp = await client.get("/queues/q1/messages?peekonly=true&numOfMessages=16")
        root = ElementTree.fromstring(await resp.text())
        assert root.tag == f"{NS}Messages" and len(root) == 3
        assert {c.tag.replace(NS, "") for c in root[0]} == {
            "MessageId", "MessageBody", "MessageBodyMD5", "EnqueueTime", "FirstDequeueTime",
            "DequeueCount", "Priority"}
        resp = await client.get("/queues/q1/messages?numOfMessages=2&waitseconds=0")
        root = ElementTree.fromstring(await resp.text())
        assert [m.find(f"{NS}MessageBody").text for m in root] == ["m0", "m1"]  # type: ignore[union-attr]
        _, one = parse(await (await client.get("/queues/q1/messages?peekonly=true")).text())
        assert one["MessageBody"] == "m2" and "ReceiptHandle" not in one
        for query in ("numOfMessages=17", "numOfMessages=0", "waitseconds=31",
                      "waitseconds=soon"):
            await error_of(await client.get(f"/queues/q1/messages?{query}"), 400,
                           "InvalidArgument")

    with_client(env, test)


def test_delete_message_reads_raw_query_value(env):
    env.smq.create_queue("q1")

    async def test(client):
        values = await error_of(
            await client.delete("/queues/q1/messages?ReceiptHandle=1-a+b/c=="), 400,
            "ReceiptHandleError")
        assert "'1-a+b/c=='" in values["Message"]
        await error_of(await client.delete("/queues/q1/messages?ReceiptHandle="), 400,
                       "MissingReceiptHandle")
        await error_of(await client.delete("/queues/q1/messages"), 400,
                       "MissingReceiptHandle")

    with_client(env, test)


def test_batch_delete_all_ok_and_partial_errors(env):
    queue, _ = env.smq.create_queue("q1")
    for i in range(3):
        queue.send(f"m{i}")
    handles = [m.receipt_handle for m in queue.receive(3)]

    async def test(client):
        body = doc("ReceiptHandles")[:-17] + "".join(
            f"<ReceiptHandle>{h}</ReceiptHandle>" for h in handles[:2]) + "</ReceiptHandles>"
        assert (await client.delete("/queues/q1/messages", data=body)).status == 204
        body = doc("ReceiptHandles")[:-17] + "".join(
            f"<ReceiptHandle>{h}</ReceiptHandle>" for h in [handles[0], handles[2], "junk"]
        ) + "</ReceiptHandles>"
        resp = await client.delete("/queues/q1/messages", data=body)
        assert resp.status == 404
        root = ElementTree.fromstring(await resp.text())
        assert root.tag == f"{NS}Errors"
        errors = [{c.tag.replace(NS, ""): c.text for c in e} for e in root]
        assert [(e["ErrorCode"], e["ReceiptHandle"]) for e in errors] == [
            ("MessageNotExist", handles[0]), ("ReceiptHandleError", "junk")]
        assert all(set(e) == {"ErrorCode", "ErrorMessage", "ReceiptHandle"} for e in errors)
        assert queue.messages() == []

    with_client(env, test)


def test_change_message_visibility(env):
    queue, _ = env.smq.create_queue("q1")
    queue.send("x")
    [msg] = queue.receive()
    old = msg.receipt_handle

    async def test(client):
        resp = await client.put(f"/queues/q1/messages?ReceiptHandle={old}&VisibilityTimeout=60")
        assert resp.status == 200
        root, values = parse(await resp.text())
        assert root == "ChangeVisibility"
        assert values["NextVisibleTime"] == str(T0 + 60 * SECOND_MS)
        assert values["ReceiptHandle"] == msg.receipt_handle != old
        resp = await client.put(f"/queues/q1/messages?receiptHandle={old}&visibilityTimeout=60")
        await error_of(resp, 404, "MessageNotExist")
        await error_of(await client.put("/queues/q1/messages?VisibilityTimeout=5"), 400,
                       "MissingReceiptHandle")
        await error_of(await client.put(f"/queues/q1/messages?ReceiptHandle={old}"), 400,
                       "MissingVisibilityTimeout")
        resp = await client.put(
            f"/queues/q1/messages?ReceiptHandle={msg.receipt_handle}&VisibilityTimeout=43201")
        await error_of(resp, 400, "InvalidArgument")

    with_client(env, test)


def test_long_poll_does_not_block_other_requests(env):
    env.smq.create_queue("q1")

    async def test(client):
        poll = asyncio.ensure_future(client.get("/queues/q1/messages?waitseconds=30"))
        queue = env.smq.get_queue("q1")
        for _ in range(1000):
            if queue.waiting:
                break
            await asyncio.sleep(0)
        assert queue.waiting == 1
        resp = await client.get("/queues/q1")  # served while the poll waits
        assert resp.status == 200
        resp = await client.post("/queues/q1/messages", data=doc("Message", MessageBody="hi"))
        assert resp.status == 201
        resp = await poll
        assert resp.status == 200
        assert parse(await resp.text())[1]["MessageBody"] == "hi"

    with_client(env, test)


# -- topics -------------------------------------------------------------------------------


def test_topic_routes(env):
    env.smq.create_queue("qa")
    env.smq.create_queue("qb")

    async def test(client):
        resp = await client.put("/topics/t1", data=doc("Topic", MaximumMessageSize=2048))
        assert resp.status == 201 and resp.headers["Location"].endswith("/topics/t1")
        assert (await client.put("/topics/t1", data=doc("Topic", MaximumMessageSize=2048))
                ).status == 204
        await error_of(await client.put("/topics/t1", data=doc("Topic")), 409,
                       "TopicAlreadyExist")
        await error_of(await client.put("/topics/bad_name", data=doc("Topic")), 400,
                       "TopicNameInvalid")
        for q in ("qa", "qb"):
            resp = await client.put(f"/topics/t1/subscriptions/s-{q}", data=doc(
                "Subscription", Endpoint=f"acs:mns:cn-hangzhou:1:queues/{q}",
                NotifyContentFormat="SIMPLIFIED"))
            assert resp.status == 201
            assert resp.headers["Location"].endswith(f"/topics/t1/subscriptions/s-{q}")
        resp = await client.post("/topics/t1/messages",
                                 data=doc("Message", MessageBody="{&quot;x&quot;:1}",
                                          MessageTag="tag1"))
        assert resp.status == 201
        root, values = parse(await resp.text())
        assert root == "Message" and set(values) == {"MessageId", "MessageBodyMD5"}
        for q in ("qa", "qb"):
            assert [m.body for m in env.smq.get_queue(q).messages()] == ['{"x":1}']
        _, attrs = parse(await (await client.get("/topics/t1")).text())
        assert attrs == {"TopicName": "t1", "CreateTime": str(T0 // 1000),
                         "LastModifyTime": str(T0 // 1000), "MaximumMessageSize": "2048",
                         "MessageRetentionPeriod": "86400", "MessageCount": "1",
                         "LoggingEnabled": "False"}
        root = ElementTree.fromstring(await (await client.get(
            "/topics", headers={"x-mns-with-meta": "true"})).text())
        assert root.tag == f"{NS}Topics"
        assert [e.text for e in root.iter(f"{NS}TopicName")] == ["t1"]
        root = ElementTree.fromstring(await (await client.get(
            "/topics/t1/subscriptions", headers={"x-mns-ret-number": "1"})).text())
        assert root.tag == f"{NS}Subscriptions"
        assert [(e.text or "").rsplit("/", 1)[1]
                for e in root.iter(f"{NS}SubscriptionURL")] == ["s-qa"]
        assert root.find(f"{NS}NextMarker").text == "s-qb"  # type: ignore[union-attr]
        _, sub = parse(await (await client.get("/topics/t1/subscriptions/s-qa")).text())
        assert sub == {"TopicOwner": "1234567890123456", "TopicName": "t1",
                       "SubscriptionName": "s-qa", "Endpoint": "acs:mns:cn-hangzhou:1:queues/qa",
                       "NotifyStrategy": "BACKOFF_RETRY", "NotifyContentFormat": "SIMPLIFIED",
                       "CreateTime": str(T0 // 1000), "LastModifyTime": str(T0 // 1000)}
        resp = await client.put("/topics/t1/subscriptions/s-qa?metaoverride=true",
                                data=doc("Subscription",
                                         NotifyStrategy="EXPONENTIAL_DECAY_RETRY"))
        assert resp.status == 204
        assert (await client.delete("/topics/t1/subscriptions/s-qa")).status == 204
        await error_of(await client.get("/topics/t1/subscriptions/s-qa"), 404,
                       "SubscriptionNotExist")
        assert (await client.delete("/topics/t1")).status == 204
        await error_of(await client.get("/topics/t1"), 404, "TopicNotExist")
        await error_of(await client.post("/topics/t1/messages",
                                         data=doc("Message", MessageBody="x")),
                       404, "TopicNotExist")

    with_client(env, test)
