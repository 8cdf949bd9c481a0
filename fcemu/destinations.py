"""Destinations: the documented result message, and where it goes.

spec §10.2 fixes the message's shape; decisions.md "Destinations" fixes
which terminal status goes where and what each field says. Routing reads the
destination ARN (spec §4.3): SMQ queues and topics, functions, and
EventBridge buses (recorded in an inspectable log). FC's fourth kind, ApsaraMQ
for RocketMQ (``acs:mq:…``), is not emulated: refused with a message saying so.

A delivery never fails silently: every destination kind has FC's documented
payload limit (:data:`PAYLOAD_LIMITS`), an SMQ queue or topic its own
``MaximumMessageSize`` too, and a refused delivery is recorded on the task
(:func:`delivery_failed`): ``destinationStatus`` ``Failed`` and the reason in
the terminal event's ``eventDetail``.

:class:`Delivery` owns every delivery of one engine: it routes a terminal task's
result message, checks the limits, takes the scripted destination faults
(:meth:`Delivery.fail_destination`) and keeps the EventBridge log. It is built
from collaborators handed in (the clock, the SMQ account, a callable that submits
an async invocation of a function); it never sees the engine. A bare destination
name means an SMQ queue, everywhere (:func:`destination_arn`, :func:`target_of`).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fcemu.errors import FcError, InvalidArgument, SmqError
from fcemu.eventbus import EventBusLog
from fcemu.models import LATEST, Task, TaskStatus
from fcemu.retry_policy import CONDITION_STATUS

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.smq import Smq

Kind = Literal["queue", "topic", "function", "eventbus"]

log = logging.getLogger("fcemu.destinations")

#: The largest result message each destination kind takes, in bytes of the body as
#: sent (FC "Destinations for asynchronous invocations", Supported destinations table:
#: SMQ 64 KB, Function Compute 128 KB, EventBridge 64 KB; "If the invocation payload
#: approaches this limit, delivery may fail"). No truncation is documented: fcemu fails it.
PAYLOAD_LIMITS: dict[Kind, int] = {
    "queue": 64 * 1024, "topic": 64 * 1024, "function": 128 * 1024, "eventbus": 64 * 1024,
}
_SMQ_LIMIT = min(PAYLOAD_LIMITS["queue"], PAYLOAD_LIMITS["topic"])
_KIND_NAMES: dict[Kind, str] = {
    "queue": "an SMQ queue", "topic": "an SMQ topic", "function": "a function",
    "eventbus": "an EventBridge bus",
}

_MNS = re.compile(r"^acs:mns:(?P<region>[^:]*):(?P<account>[^:]*):/(?P<kind>queues|topics)/"
                  r"(?P<name>[A-Za-z0-9][A-Za-z0-9-]{0,255})/messages$")
_FC = re.compile(r"^acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):functions/"
                 r"(?P<name>(?:[A-Za-z_][A-Za-z0-9_-]{0,127}\$)?[A-Za-z_][A-Za-z0-9_-]{0,63})"
                 r"(?:/(?P<qualifier>[A-Za-z0-9_.-]+))?$")
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
    if arn.startswith("acs:mq:"):  # FC's fourth kind (docs/fidelity.md "Destinations")
        raise InvalidArgument(
            f"unsupported destination {arn!r}: an ApsaraMQ for RocketMQ destination is "
            f"valid on FC but fcemu does not emulate RocketMQ; {_EMULATED}")
    raise InvalidArgument(f"unsupported destination {arn!r}: {_EMULATED}")


#: The destination kinds fcemu emulates, as a refused destination's message names them.
_EMULATED = ("fcemu emulates an SMQ queue (acs:mns:<region>:<account>:/queues/<q>/messages), "
             "an SMQ topic (acs:mns:<region>:<account>:/topics/<t>/messages), a function "
             "(acs:fc:<region>:<account>:functions/<name>) and an EventBridge bus "
             "(acs:eventbridge:<region>:<account>:eventbus/<bus>)")


#: :func:`parse_destination` of the ARNs results go to, kept (one regex match or three a
#: task otherwise: issue 13); a Target is frozen, and a refused ARN raises each time.
_parsed_destination = functools.lru_cache(maxsize=256)(parse_destination)


def destination_arn(value: str, region: str, account_id: str) -> str:
    """A destination as an ARN: an ARN (``acs:…``) as it is, a bare name as its SMQ queue."""
    if value.startswith("acs:"):
        return value
    return f"acs:mns:{region}:{account_id}:/queues/{value}/messages"


def target_of(value: object) -> Target:
    """A destination ARN, or a bare name (an SMQ queue), as a :class:`Target`."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument("destination must be a queue name or a destination ARN")
    return parse_destination(value) if value.startswith("acs:") else Target("queue", value)


class DeliveryRefused(Exception):
    """A destination refused a result message (over its payload limit)."""


def check_size(target: Target, body: bytes | str) -> None:
    """Refuse a result message over FC's payload limit for the target's kind (``body``
    as bytes, or as text when it is ASCII: as long as its bytes)."""
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
    task.set_event_detail(event.event_id - 1, json.dumps(doc, separators=(",", ":"),
                                                         ensure_ascii=False))


#: The statuses whose result goes to ``onFailure``. Statuses are globals here: an enum
#: member read off its class runs EnumType's lookup in Python 3.11 (issue 13).
_TO_FAILURE = frozenset({TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.STOPPED})
_SUCCEEDED = TaskStatus.SUCCEEDED


def destination_for(task: Task) -> str | None:
    """The ARN a terminal task's result goes to, or None (decisions.md table)."""
    if task.status is _SUCCEEDED:
        return task.on_success
    if task.status in _TO_FAILURE:
        return task.on_failure
    return None


def result_message(task: Task, timestamp_ms: int) -> dict[str, object]:
    """The result message for a terminal task, in the documented key order (spec §10.2)."""
    status_code, function_error, response = 200, "", ""
    if task.status is TaskStatus.SUCCEEDED:
        response = _text(task.return_payload)
    elif task.condition in CONDITION_STATUS:  # throttled, internal error, no resources
        status_code = CONDITION_STATUS[task.condition]
    elif task.condition in ("InvocationError", "InvocationStopped"):
        function_error = "InvocationError"
        response = _error_text(task)
    return {
        "timestamp": timestamp_ms,
        "requestContext": {
            "requestId": task.request_id,
            "functionArn": qualified_arn(task),
            "condition": task.condition,
            "approximateInvokeCount": len(task.attempts),
        },
        "requestPayload": _text(task.payload),
        "responseContext": {"statusCode": status_code, "functionError": function_error},
        "responsePayload": response,
    }


def result_text(task: Task, timestamp_ms: int) -> str:
    """:func:`result_message` as :func:`encode_message` writes it raw, made from a template
    (issue 13: no dicts, no JSON encoder per task): the same text, byte for byte, for
    the same key order, string escapes (``ensure_ascii=False``) and integers."""
    if task.status is _SUCCEEDED:
        returned = task.return_payload  # _text(), inline (one call fewer a message)
        try:  # _text(), inline, and the strict decode first: the same text when it
            response = returned.decode() if returned else ""  # succeeds, and cheaper
        except UnicodeDecodeError:
            response = _text(returned)
        tail = _SUCCESS_TAIL
    else:
        status_code, function_error, response = 200, "", ""
        if task.condition in CONDITION_STATUS:
            status_code = CONDITION_STATUS[task.condition]
        elif task.condition in ("InvocationError", "InvocationStopped"):
            function_error = "InvocationError"
            response = _error_text(task)
        tail = (f'"responseContext":{{"statusCode":{status_code},"functionError":'
                f'"{function_error}"}},"responsePayload":')
    payload = task.payload
    try:  # as the response's (qualified_arn() is in _context())
        request = payload.decode() if payload else ""
    except UnicodeDecodeError:
        request = _text(payload)
    context = _context(task.function_arn, task.qualifier, task.condition)
    return (f'{{"timestamp":{timestamp_ms},"requestContext":{{"requestId":'
            f'{_string(task.request_id)}{context}{len(task.attempts)}}},"requestPayload":'
            f'{_string(request)},{tail}{_string(response)}}}')


#: The part of a succeeded task's message between its request payload and its response.
_SUCCESS_TAIL = '"responseContext":{"statusCode":200,"functionError":""},"responsePayload":'


@functools.lru_cache(maxsize=256)
def _context(function_arn: str, qualifier: str, condition: str) -> str:
    """The text of the request context between its ``requestId`` and its
    ``approximateInvokeCount``, kept per function, qualifier and condition (the same for
    many messages; escaping the ARN cost twice the cache's lookup: issue 13)."""
    arn = function_arn if qualifier == LATEST else f"{function_arn}/{qualifier}"
    return (f',"functionArn":{_string(arn)},"condition":{_string(condition)},'
            '"approximateInvokeCount":')


def qualified_arn(task: Task) -> str:
    """The ARN of what ran: the function's, with ``/<qualifier>`` for a version or alias
    (the form FC's function destinations take; docs/fidelity.md)."""
    if task.qualifier == LATEST:
        return task.function_arn
    return f"{task.function_arn}/{task.qualifier}"


def encode_message(message: dict[str, object], encoding: str) -> str:
    """The SMQ message body: compact JSON text, Base64 of it when asked (decisions.md)."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if encoding == "base64":
        return base64.b64encode(text.encode()).decode()
    return text


#: A JSON string as ``json.dumps(..., ensure_ascii=False)`` writes it (the same C function).
_string: Callable[[str], str] = json.encoder.encode_basestring


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def _error_text(task: Task) -> str:
    """A failed or stopped task's ``responsePayload``: its last error; for a Stopped task
    only the error of the attempt it stopped (decisions.md: "Process exited unexpectedly"
    if it was running, else ``""``, though an earlier attempt failed: stopped Retrying)."""
    if task.condition == "InvocationStopped" and not task.stop_requested:
        return ""
    return _text(task.error_body)


#: Submits an async invocation of a function (``(name, qualifier, payload)``): the engine's.
SubmitFunction = Callable[[str, "str | None", bytes], None]


class Delivery:
    """Every result delivery of one engine: routing, limits, destination faults, bus log.

    :param strict: a missing queue or topic fails the delivery (``strict_destinations``);
        otherwise it is created on first delivery.
    :param encoding: ``"raw"`` or ``"base64"`` SMQ message bodies (decisions.md).
    :param submit_function: how a function destination is invoked (asynchronously).
    """

    def __init__(self, clock: Clock, smq: Smq, submit_function: SubmitFunction, *,
                 strict: bool, encoding: str) -> None:
        self._clock = clock
        self._smq = smq
        self._submit_function = submit_function
        self._strict = strict
        self._encoding = encoding
        self._faults: dict[tuple[str, str], int] = {}
        #: What EventBridge destinations received (decisions.md: an inspectable log),
        #: kept as long as the tasks' records (:mod:`fcemu.eventbus`).
        self.eventbus_log = EventBusLog(clock.now_ms)
        #: Called after each entry added to :attr:`eventbus_log` (durable mode: the log
        #: is committed with the task's terminal state, in the same transaction), and
        #: after entries expired (:meth:`expire_eventbus`).
        self.on_eventbus: Callable[[], None] | None = None

    def deliver_result(self, task: Task) -> None:
        """Push a terminal task's result message to its destination, once.

        A refused delivery (a scripted fault, a message over FC's payload limit or the
        queue's ``MaximumMessageSize``, a missing destination in strict mode) is recorded
        on the task by :func:`delivery_failed`, never only logged.
        """
        status = task.status  # destination_for(), inline (one call fewer a task)
        if status is _SUCCEEDED:
            arn = task.on_success
        elif status in _TO_FAILURE:
            arn = task.on_failure
        else:
            return
        if arn is None:
            return
        try:
            target = _parsed_destination(arn)
            if self._faults and self._take_fault(target):
                delivery_failed(task, arn, "scripted destination fault")
                return
            self._send(target, arn, task)
        except (SmqError, FcError, DeliveryRefused) as exc:
            delivery_failed(task, arn, failure_reason(exc))
        except Exception as exc:  # no delivery failure escapes: an emulator bug is recorded too
            log.exception("delivery of task %s to %s", task.task_id, arn)
            delivery_failed(task, arn, f"fcemu internal error: {exc!r}")
        else:
            task.destination_status = "Succeeded"

    def _send(self, target: Target, arn: str, task: Task) -> None:
        create = not self._strict
        now = self._clock.now_ms()
        kind = target.kind
        if kind == "queue" or kind == "topic":
            body = result_text(task, now)
            if self._encoding == "base64":
                body = base64.b64encode(body.encode()).decode()
            if len(body) > _SMQ_LIMIT or not body.isascii():  # else surely within the limit
                check_size(target, body.encode() if not body.isascii() else body)
            if kind == "queue":
                self._smq.send_message(target.name, body, create=create)
            else:
                self._smq.publish_message(target.name, body, create=create)
        elif kind == "function":
            payload = result_text(task, now).encode()
            check_size(target, payload)
            self._submit_function(target.name, target.qualifier, payload)
        else:
            message = result_message(task, now)
            check_size(target, encode_message(message, "raw").encode())
            self.eventbus_log.record(task, target.name, arn, message)
            if self.on_eventbus is not None:
                self.on_eventbus()

    def expire_eventbus(self) -> None:
        """Drop the EventBridge log's entries whose task records expired (the task
        records' retention sweep calls it); :attr:`on_eventbus` when some went."""
        if self.eventbus_log.expire() and self.on_eventbus is not None:
            self.on_eventbus()

    # -- destination faults (fcemu's own) -------------------------------------------------

    def fail_destination(self, target: Target, times: int) -> None:
        """Make the next ``times`` deliveries to ``target`` fail (0 clears)."""
        key = (target.kind, target.name)
        if times > 0:
            self._faults[key] = times
        else:
            self._faults.pop(key, None)

    def clear_faults(self) -> None:
        """Forget every destination fault."""
        self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The destination faults left, as the control API shows them."""
        return [{"kind": kind, "name": name, "remaining": left}
                for (kind, name), left in sorted(self._faults.items())]

    def _take_fault(self, target: Target) -> bool:
        """True (and one count used) when a delivery to ``target`` must fail."""
        key = (target.kind, target.name)
        left = self._faults.get(key, 0)
        if left <= 0:
            return False
        if left == 1:
            del self._faults[key]
        else:
            self._faults[key] = left - 1
        return True
