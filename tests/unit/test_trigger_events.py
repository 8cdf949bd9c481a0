"""The events triggers hand to functions and the HTTP response mapping
(fcemu.triggers.events), and triggerConfig checks per type (fcemu.triggers.model). Pure."""

from __future__ import annotations

import base64
import json

import pytest

from fcemu.triggers import TriggerConfigError
from fcemu.triggers.events import (
    canonical_header,
    http_reply,
    queue_event,
    timer_event,
    topic_event,
)
from fcemu.triggers.model import HttpConfig, QueueConfig, TopicConfig, parse_config
from tests.constants import T0


def test_timer_event_is_whole_seconds_utc():
    assert json.loads(timer_event("t", T0 + 1234, "p")) == {
        "triggerTime": "2024-05-01T00:00:01Z", "triggerName": "t", "payload": "p"}


@pytest.mark.parametrize(("name", "canonical"), [
    ("content-type", "Content-Type"), ("X-FC-REQUEST-ID", "X-Fc-Request-Id"),
    ("user-agent", "User-Agent"), ("accept", "Accept")])
def test_header_names_are_capitalised_word_by_word(name, canonical):
    assert canonical_header(name) == canonical


def test_http_reply_maps_the_response_struct_and_passes_anything_else():
    reply = http_reply(json.dumps({"statusCode": 404, "headers": {"X-A": 1},
                                   "body": {"not": "found"}}).encode())
    assert (reply.status, reply.headers, json.loads(reply.body)) == (
        404, {"X-A": "1"}, {"not": "found"})
    encoded = http_reply(json.dumps({"statusCode": 200, "isBase64Encoded": True,
                                     "body": base64.b64encode(b"\x00\x01").decode()}).encode())
    assert encoded.body == b"\x00\x01"
    for plain in (b"hello", b'{"no": "statusCode"}', b'[1, 2]', b'{"statusCode": "200"}',
                  b'{"statusCode": 99}'):
        reply = http_reply(plain)
        assert (reply.status, reply.body) == (200, plain)


def test_topic_event_formats():
    common = dict(owner="1", topic="t", subscription="s", message_id="M", body="b<&>",
                  body_md5="MD5", publish_ms=T0)
    assert topic_event(fmt="STREAM", tag="x", **common) == b"b<&>"
    doc = json.loads(topic_event(fmt="JSON", tag="", **common))
    assert doc["Message"] == "b<&>" and "MessageTag" not in doc and doc["PublishTime"] == T0
    xml = topic_event(fmt="XML", tag="x", **common).decode()
    assert "<Message>b&lt;&amp;&gt;</Message>" in xml and "<MessageTag>x</MessageTag>" in xml


def test_queue_event_decodes_base64_bodies_when_asked():
    common = dict(event_id="e", region="r", account_id="a", queue="q", bus="b",
                  request_id="R", message_id="M", enqueue_ms=T0, now_ms=T0)
    encoded = base64.b64encode(b"hello").decode()
    (decoded,) = json.loads(queue_event(body=encoded, base64_decode=True, **common))
    assert decoded["data"]["messageBody"] == "hello"
    assert decoded["subject"] == "acs:mns:r:a:queues/q"
    (kept,) = json.loads(queue_event(body=encoded, base64_decode=False, **common))
    assert kept["data"]["messageBody"] == encoded
    (plain,) = json.loads(queue_event(body="not base64!", base64_decode=True, **common))
    assert plain["data"]["messageBody"] == "not base64!"


def test_configs_per_type():
    http = parse_config("http", '{"authType": "function", "methods": ["GET"]}')
    assert http == HttpConfig("function", ("GET",), False)
    topic = parse_config("mns_topic", '{"filterTag": "a"}', "acs:mns:r:1:/topics/orders")
    assert topic == TopicConfig("orders", "STREAM", "a")
    assert parse_config("mns_topic", '{"topicName": "t2", "notifyContentFormat": "JSON"}') \
        == TopicConfig("t2", "JSON", "")  # FC 2.0's form, as Serverless Devs 2.x files have it
    source = {"eventSourceType": "MNS", "eventSourceParameters": {
        "sourceMNSParameters": {"QueueName": "q"}}}
    queue = parse_config("eventbridge", json.dumps({"eventSourceConfig": source}))
    assert queue == QueueConfig("q", True, True)
    source["eventSourceParameters"]["sourceMNSParameters"]["IsBase64Decode"] = False
    assert parse_config("eventbridge", json.dumps({"eventSourceConfig": source,
                                                   "triggerEnable": False})) \
        == QueueConfig("q", False, False)
    assert parse_config("http", '{"disableURLInternet": true}') \
        == HttpConfig("anonymous", ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"), True)
    assert parse_config("oss", '{"events": ["oss:ObjectCreated:*"]}') is None
    assert parse_config("tablestore", "") is None


@pytest.mark.parametrize(("kind", "config", "arn", "says"), [
    ("ftp", "{}", "", "triggerType 'ftp' is not supported"),
    ("timer", "[]", "", "triggerConfig must be a JSON object"),
    ("timer", "{", "", "triggerConfig must be a JSON object in a string"),
    ("timer", '{"cronExpression": "@every 1m", "enable": "yes"}', "", "enable must be true"),
    ("timer", '{"cronExpression": "@every 1m", "payload": {}}', "", "payload must be a string"),
    ("http", '{"authType": "key"}', "", "authType 'key': use anonymous or function"),
    ("http", '{"methods": ["FETCH"]}', "", "methods ['FETCH']"),
    ("mns_topic", "{}", "acs:mns:r:1:/queues/q", "needs the topic's ARN"),
    ("mns_topic", '{"notifyContentFormat": "CSV"}', "acs:mns:r:1:/topics/t",
     "notifyContentFormat 'CSV'"),
    ("eventbridge", '{"eventSourceConfig": {"eventSourceType": "MNS"}}', "",
     "sourceMNSParameters.QueueName is required"),
    ("eventbridge", '{"eventSourceConfig": {"eventSourceType": "MNS", '
     '"eventSourceParameters": "x"}}', "", "eventSourceParameters must be a JSON object"),
    ("eventbridge", '{"eventSourceConfig": {"eventSourceType": "MNS", "eventSourceParameters":'
     ' {"sourceMNSParameters": ["q"]}}}', "", "sourceMNSParameters must be a JSON object"),
    ("eventbridge", '{"eventSourceConfig": "MNS"}', "", "eventSourceConfig must be a JSON"),
    ("eventbridge", '{"eventSourceConfig": {"eventSourceType": ["MNS"]}}', "",
     "eventSourceType must be a string"),
    # FC reads the config into typed fields: a string is not a boolean (nor read as true)
    ("eventbridge", json.dumps({"triggerEnable": "false", "eventSourceConfig": {
        "eventSourceType": "MNS", "eventSourceParameters": {
            "sourceMNSParameters": {"QueueName": "q"}}}}), "",
     "triggerConfig.triggerEnable must be true or false"),
    ("eventbridge", json.dumps({"eventSourceConfig": {
        "eventSourceType": "MNS", "eventSourceParameters": {
            "sourceMNSParameters": {"QueueName": "q", "IsBase64Decode": "false"}}}}), "",
     "sourceMNSParameters.IsBase64Decode must be true or false"),
    ("http", '{"disableURLInternet": "false"}', "", "disableURLInternet must be true or false"),
])
def test_refused_configs_say_what_to_fix(kind, config, arn, says):
    with pytest.raises(TriggerConfigError) as info:
        parse_config(kind, config, arn)
    assert says in str(info.value)


def test_the_sample_events_in_the_docs_are_the_ones_fired():
    import re
    from pathlib import Path

    from fcemu.triggers import SAMPLE_EVENTS

    page = (Path(__file__).resolve().parents[2] / "docs" / "triggers.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", page, re.S)]
    for kind, event in SAMPLE_EVENTS.items():
        assert event in blocks, f"docs/triggers.md lacks the {kind} sample event"
