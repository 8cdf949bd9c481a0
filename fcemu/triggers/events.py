"""The events triggers hand to functions, and the HTTP trigger's response mapping.

Formats from FC's docs ("Formats of event for different triggers", "Use an HTTP trigger
to invoke a function", the MNS topic and queue trigger pages): each builder returns the
event's bytes. :data:`SAMPLE_EVENTS` holds FC's documented sample events for the types
the emulator cannot produce itself (OSS, SLS, CDN, Tablestore …), for ``fire_trigger``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from fcemu.models import HttpCall

__all__ = ["SAMPLE_EVENTS", "HttpReply", "HttpRequestParts", "canonical_header", "dumps",
           "http_event", "http_reply", "iso_seconds", "queue_event", "timer_event",
           "topic_event"]


def iso_seconds(ms: int) -> str:
    """``2023-12-26T07:49:00Z``: the timer event's ``triggerTime`` format."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def timer_event(trigger_name: str, fire_ms: int, payload: str) -> bytes:
    """``{"triggerTime", "triggerName", "payload"}``."""
    return dumps({"triggerTime": iso_seconds(fire_ms), "triggerName": trigger_name,
                   "payload": payload})


def canonical_header(name: str) -> str:
    """FC 3.0 hands header keys with each word capitalised (``Content-Type``)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass(frozen=True)
class HttpRequestParts:
    """A request to an HTTP trigger, its path taken after the trigger's prefix."""

    method: str
    raw_path: str
    path: str
    headers: Iterable[tuple[str, str]]
    query: Iterable[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    #: The query string as sent (percent-encoded, without the ``?``).
    raw_query: str = ""


def http_call(request: HttpRequestParts) -> HttpCall:
    """The request as a web function gets it passed through: method, the path after the
    trigger's prefix with the query string as sent, the headers in order, the body."""
    target = f"{request.raw_path}?{request.raw_query}" if request.raw_query else request.raw_path
    return (request.method, target, tuple((str(k), str(v)) for k, v in request.headers),
            request.body)


def _joined(pairs: Iterable[tuple[str, str]], key: Any = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        name = key(name) if key else name
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _is_text(content_type: str, body: bytes) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    if kind.startswith("text/") or kind in ("application/json", "application/xml",
                                            "application/x-www-form-urlencoded",
                                            "application/javascript", ""):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def http_event(request: HttpRequestParts, *, account_id: str, domain_prefix: str,
               region: str, request_id: str, now_ms: int) -> bytes:
    """The HTTP trigger's request struct (``version`` v1)."""
    headers = _joined(request.headers, canonical_header)
    text = _is_text(headers.get("Content-Type", ""), request.body)
    body = request.body.decode("utf-8") if text else base64.b64encode(request.body).decode()
    return dumps({
        "version": "v1", "rawPath": request.raw_path, "body": body,
        "isBase64Encoded": not text, "headers": headers,
        "queryParameters": _joined(request.query),
        "requestContext": {
            "accountId": account_id, "domainName": request.host,
            "domainPrefix": domain_prefix,
            "http": {"method": request.method, "path": request.path,
                     "protocol": "HTTP/1.1", "sourceIp": request.source_ip,
                     "userAgent": headers.get("User-Agent", "")},
            "requestId": request_id, "time": iso_seconds(now_ms),
            "timeEpoch": str(now_ms),
        },
    })


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


def http_reply(returned: bytes) -> HttpReply:
    """Map what the handler returned to the HTTP response, as FC does: a JSON object with
    ``statusCode`` is the response struct (``headers``, ``body``, ``isBase64Encoded``);
    anything else is a 200 whose body is what the handler returned."""
    try:
        doc = json.loads(returned)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "statusCode" not in doc:
        return HttpReply(200, {}, returned)
    status = doc.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return HttpReply(200, {}, returned)
    headers = doc.get("headers") or {}
    headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) \
        else {}
    body = doc.get("body", "")
    if not isinstance(body, str):
        body = json.dumps(body, ensure_ascii=False)
    data = body.encode("utf-8")
    if doc.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            data = body.encode("utf-8")
    return HttpReply(status, headers, data)


def topic_event(*, fmt: str, owner: str, topic: str, subscription: str, message_id: str,
                body: str, body_md5: str, tag: str, publish_ms: int) -> bytes:
    """An MNS topic trigger's event in its ``notifyContentFormat``: STREAM is the message
    body itself; JSON and XML are the MNS notification."""
    if fmt == "STREAM":
        return body.encode("utf-8")
    fields: dict[str, Any] = {
        "TopicOwner": owner, "Message": body, "Subscriber": owner,
        "PublishTime": publish_ms, "SubscriptionName": subscription,
        "MessageMD5": body_md5, "TopicName": topic, "MessageId": message_id,
    }
    if tag:
        fields["MessageTag"] = tag
    if fmt == "JSON":
        return dumps(fields)
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
    return ('<?xml version="1.0" encoding="utf-8"?><Notification '
            f'xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</Notification>').encode()


def queue_event(*, event_id: str, region: str, account_id: str, queue: str, bus: str,
                request_id: str, message_id: str, body: str, enqueue_ms: int, now_ms: int,
                base64_decode: bool) -> bytes:
    """An SMQ (MNS) queue trigger's event: the EventBridge ``mns:Queue:SendMessage`` event,
    in a list (FC pushes queue events in batches; the emulator pushes one per message)."""
    if base64_decode:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            pass
    return dumps([{
        "id": event_id, "source": "acs:mns", "specversion": "1.0",
        "type": "mns:Queue:SendMessage", "datacontenttype": "application/json; charset=utf-8",
        "subject": f"acs:mns:{region}:{account_id}:queues/{queue}",
        "time": _iso_ms(enqueue_ms), "aliyunaccountid": account_id,
        "aliyunpublishtime": _iso_ms(now_ms), "aliyuneventbusname": bus,
        "aliyunregionid": region,
        "data": {"requestId": request_id, "messageId": message_id, "messageBody": body},
    }])


#: FC's documented sample events ("Formats of event for different triggers").
SAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "oss": {"events": [{
        "eventName": "ObjectCreated:PutObject", "eventSource": "acs:oss",
        "eventTime": "2022-08-13T06:45:43.000Z", "eventVersion": "1.0",
        "oss": {"bucket": {"arn": "acs:oss:cn-hangzhou:123456789:testbucket",
                           "name": "testbucket", "ownerIdentity": "164901546557****"},
                "object": {"deltaSize": 122539, "eTag": "688A7BF4F233DC9C88A80BF985AB****",
                           "key": "source/a.png", "size": 122539},
                "ossSchemaVersion": "1.0",
                "ruleId": "9adac8e253828f4f7c0466d941fa3db81161****"},
        "region": "cn-hangzhou", "requestParameters": {"sourceIPAddress": "140.205.XX.XX"},
        "responseElements": {"requestId": "58F9FF2D3DF792092E12044C"},
        "userIdentity": {"principalId": "164901546557****"}}]},
    "log": {"parameter": {}, "source": {"endpoint": "http://cn-hangzhou-intranet.log.aliyuncs.com",
                                         "projectName": "fc-test-project",
                                         "logstoreName": "fc-test-logstore", "shardId": 0,
                                         "beginCursor": "MTUyOTQ4MDIwOTY1NTk3ODQ2Mw==",
                                         "endCursor": "MTUyOTQ4MDIwOTY1NTk3ODQ2NA=="},
            "jobName": "1f7043ced683de1a4e3d8d70b5a412843d817a39",
            "taskId": "c2691505-38da-4d1b-998a-f1d4bb8c9994", "cursorTime": 1529486425},
    "cdn_events": {"events": [{
        "eventName": "CachedObjectsRefreshed", "eventVersion": "1.0.0",
        "eventSource": "cdn", "region": "cn-hangzhou", "eventTime": "2018-06-14T19:10:00+08:00",
        "traceId": "cf89e5a8-7d59-4bb5-a33e-4c3d08e25acf",
        "resource": {"domain": "example.com"},
        "eventParameter": {"objectPath": ["/2018/06/14/test.html"],
                           "createTime": 1528976660, "domain": "example.com",
                           "completeTime": 1528976660, "objectType": "File",
                           "taskId": 2089687230},
        "userIdentity": {"aliUid": "164901546557****"}}]},
}
