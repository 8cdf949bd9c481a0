"""Destinations: the documented result message, and where it goes.

spec §10.2 fixes the message's shape; decisions.md "Destinations" fixes
which terminal status goes where and what each field says. Routing reads the
destination ARN (spec §4.3): SMQ queues and topics, functions, and
EventBridge buses (recorded in an inspectable log).

A delivery never fails silently: every destination kind has FC's documented
payload limit (:data:`PAYLOAD_LIMITS`), an SMQ queue or topic its own
``MaximumMessageSize`` too, and a refused delivery is recorded on the task
(:func:`delivery_failed`): ``destinationStatus`` ``Failed`` and the reason in
the terminal event's ``eventDetail``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import Literal

from fcemu.errors import InvalidArgument
from fcemu.models import Task, TaskStatus

Kind = Literal["queue", "topic", "function", "eventbus"]

log = logging.getLogger("fcemu.destinations")

#: The largest result message each destination kind takes, in bytes of the body as
#: sent (FC "Destinations for asynchronous invocations", Supported destinations table:
#: SMQ 64 KB, Function Compute 128 KB, EventBridge 64 KB; "If the invocation payload
#: approaches this limit, delivery may fail"). No truncation is documented: fcemu fails it.
PAYLOAD_LIMITS: dict[Kind, int] = {
    "queue": 64 * 1024, "topic": 64 * 1024, "function": 128 * 1024, "eventbus": 64 * 1024,
}
_KIND_NAMES: dict[Kind, str] = {
    "queue": "an SMQ queue", "topic": "an SMQ topic", "function": "a function",
    "eventbus": "an EventBridge bus",
}

_MNS = re.compile(r"^acs:mns:(?P<region>[^:]*):(?P<account>[^:]*):/(?P<kind>queues|topics)/"
                  r"(?P<name>[A-Za-z0-9][A-Za-z0-9-]{0,255})/messages$")
_FC = re.compile(r"^acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):functions/"
                 r"(?P<name>[A-Za-z_][A-Za-z0-9_-]{0,63})(?:/(?P<qualifier>[A-Za-z0-9_.-]+))?$")
_BUS = re.compile(r"^acs:eventbridge:(?P<region>[^:]*):(?P<account>[^:]*):eventbus/"
                  r"(?P<name>[A-Za-z0-9_.-]{1,127})$")


@dataclass(frozen=True)
class Target:
    """A parsed destination ARN."""

    kind: Kind
    name: str
    qualifier: str | None = None


def parse_destination(arn: str) -> Target:
    """Read a destination ARN; a 400 that shows the accepted forms otherwise."""
    if m := _MNS.match(arn):
        return Target("queue" if m["kind"] == "queues" else "topic", m["name"])
    if m := _FC.match(arn):
        return Target("function", m["name"], m["qualifier"])
    if m := _BUS.match(arn):
        return Target("eventbus", m["name"])
    raise InvalidArgument(
        f"unsupported destination {arn!r}: use acs:mns:<region>:<account>:/queues/<q>/messages, "
        "acs:mns:<region>:<account>:/topics/<t>/messages, "
        "acs:fc:<region>:<account>:functions/<name> or "
        "acs:eventbridge:<region>:<account>:eventbus/<bus>"
    )


class DeliveryRefused(Exception):
    """A destination refused a result message (over its payload limit)."""


def check_size(target: Target, body: bytes) -> None:
    """Refuse a result message over FC's payload limit for the target's kind."""
    limit = PAYLOAD_LIMITS[target.kind]
    if len(body) > limit:
        raise DeliveryRefused(
            f"the result message is {len(body)} bytes; FC delivers at most {limit} bytes "
            f"to {_KIND_NAMES[target.kind]} destination; the message is not sent")


def failure_reason(exc: Exception) -> str:
    """``<Code>: <message>`` for an FC or SMQ error, the text of any other."""
    code, message = getattr(exc, "code", ""), getattr(exc, "message", str(exc))
    return f"{code}: {message}" if isinstance(code, str) and code else str(exc)


def delivery_failed(task: Task, arn: str, reason: str) -> None:
    """Record a failed delivery on the task: ``destinationStatus`` ``Failed``, and the
    destination and the reason in its terminal event's ``eventDetail`` (merged into the
    JSON already there, e.g. ``{"Error": …}``), so no status change is invented."""
    log.warning("destination %s of task %s failed: %s", arn, task.task_id, reason)
    task.destination_status = "Failed"
    if not task.events or task.events[-1].status is not task.status:
        return
    event = task.events[-1]
    try:
        doc = json.loads(event.detail) if event.detail else {}
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {"Detail": event.detail}
    doc.update({"Destination": arn, "DestinationError": reason})
    event.detail = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def destination_for(task: Task) -> str | None:
    """The ARN a terminal task's result goes to, or None (decisions.md table)."""
    if task.status is TaskStatus.SUCCEEDED:
        return task.on_success
    if task.status in (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.STOPPED):
        return task.on_failure
    return None


def result_message(task: Task, timestamp_ms: int) -> dict[str, object]:
    """The result message for a terminal task, in the documented key order (spec §10.2)."""
    status_code, function_error, response = 200, "", ""
    if task.status is TaskStatus.SUCCEEDED:
        response = _text(task.return_payload)
    elif task.condition == "FunctionResourceExhausted":
        status_code = 429
    elif task.condition in ("InvocationError", "InvocationStopped"):
        function_error = "InvocationError"
        response = _text(task.error_body)
    return {
        "timestamp": timestamp_ms,
        "requestContext": {
            "requestId": task.request_id,
            "functionArn": task.function_arn,
            "condition": task.condition,
            "approximateInvokeCount": len(task.attempts),
        },
        "requestPayload": _text(task.payload),
        "responseContext": {"statusCode": status_code, "functionError": function_error},
        "responsePayload": response,
    }


def encode_message(message: dict[str, object], encoding: str) -> str:
    """The SMQ message body: compact JSON text, Base64 of it when asked (decisions.md)."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if encoding == "base64":
        return base64.b64encode(text.encode()).decode()
    return text


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""
