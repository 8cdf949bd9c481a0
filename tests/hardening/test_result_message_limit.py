"""Issue 9, point 9: a result message a destination cannot take is never dropped silently.

FC documents a payload limit per destination kind (SMQ and EventBridge 64 KB, a
function 128 KB) and says an over-limit delivery fails; an SMQ queue also refuses
a body over its own ``MaximumMessageSize``. The task shows it: ``destinationStatus``
``Failed``, and its terminal event's ``eventDetail`` names the destination and why.
Driven through the official FC SDK and the MNS SDK, on the manual clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("mns", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions
from mns.mns_exception import MNSServerException
from mns.queue import QueueMeta
from mns.topic import TopicMeta

KB = 1024


def result_of(size: int) -> Any:
    """An in-process handler returning ``size`` bytes."""
    return lambda event, context: b"x" * size


def failure_of(size: int) -> Any:
    """An in-process handler raising an error whose message is ``size`` bytes."""
    def handler(event: bytes, context: Any) -> bytes:
        raise ValueError("e" * size)
    return handler


def invoke_async(fc_client: Any, function: str, task_id: str) -> None:
    fc_client.invoke_function_with_options(
        function, fc.InvokeFunctionRequest(body=b"job"),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())


def get_task(fc_client: Any, function: str, task_id: str) -> Any:
    return fc_client.get_async_task(function, task_id, fc.GetAsyncTaskRequest()).body


def arn(emu: Any, kind: str, name: str) -> str:
    region, account = emu.region, emu.account_id
    return {
        "queue": f"acs:mns:{region}:{account}:/queues/{name}/messages",
        "topic": f"acs:mns:{region}:{account}:/topics/{name}/messages",
        "function": f"acs:fc:{region}:{account}:functions/{name}",
        "eventbus": f"acs:eventbridge:{region}:{account}:eventbus/{name}",
    }[kind]


def received(mns_account: Any, queue: str) -> list[dict[str, Any]]:
    """Every message in ``queue``, consumed with the MNS SDK (no waiting)."""
    q = mns_account.get_queue(queue)
    q.set_encoding(False)
    try:
        return [json.loads(m.message_body) for m in q.batch_receive_message(16, 0)]
    except MNSServerException as exc:
        assert exc.type in ("MessageNotExist", "QueueNotExist"), exc
        return []


async def _eventbus_log(engine: Any) -> list[dict[str, Any]]:
    return list(engine.eventbus_log)


# (case, handler, destination kind, queue MaximumMessageSize or None, delivered?, reason part)
CASES = [
    ("100 KB result, SMQ queue", result_of(100 * KB), "queue", None, False,
     "at most 65536 bytes to an SMQ queue"),
    ("60 KB result fits an SMQ queue", result_of(60 * KB), "queue", None, True, ""),
    ("4 KB result, queue MaximumMessageSize 2048", result_of(4 * KB), "queue", 2048, False,
     "InvalidArgument: The value of MessageBody should be between 1 and 2048 bytes"),
    ("1 KB result fits MaximumMessageSize 2048", result_of(KB), "queue", 2048, True, ""),
    ("100 KB result, SMQ topic", result_of(100 * KB), "topic", None, False,
     "at most 65536 bytes to an SMQ topic"),
    ("100 KB result fits a function destination", result_of(100 * KB), "function", None,
     True, ""),
    ("150 KB result, function destination", result_of(150 * KB), "function", None, False,
     "at most 131072 bytes to a function"),
    ("100 KB result, EventBridge bus", result_of(100 * KB), "eventbus", None, False,
     "at most 65536 bytes to an EventBridge bus"),
]


@pytest.mark.parametrize(("handler", "kind", "max_size", "delivered", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_over_limit_result_message_fails_the_delivery_visibly(
        fcemu, fc_client, mns_account, fcemu_function, handler, kind, max_size, delivered,
        reason):
    if max_size is not None:
        mns_account.get_queue("out").create(QueueMeta(max_msg_size=max_size))
    if kind == "topic":
        mns_account.get_topic("out").create(TopicMeta())
    if kind == "function":
        fcemu_function("out", lambda event, context: b"sunk")
    destination = arn(fcemu, kind, "out")
    fcemu_function("job", handler, on_success=destination, async_config={"asyncTask": True})

    invoke_async(fc_client, "job", "t-1")
    fcemu.drain()

    task = get_task(fc_client, "job", "t-1")
    assert task.status == "Succeeded"  # the handler's outcome stands; only delivery failed
    final = task.events[-1]
    assert final.status == "Succeeded"
    assert [e.status for e in task.events].count("Succeeded") == 1  # no invented event
    if delivered:
        assert task.destination_status == "Succeeded"
        assert final.event_detail == ""
    else:
        assert task.destination_status == "Failed"
        detail = json.loads(final.event_detail)
        assert detail["Destination"] == destination
        assert reason in detail["DestinationError"]
    if kind == "queue":
        assert len(received(mns_account, "out")) == int(delivered)
    elif kind == "eventbus":
        assert len(fcemu.call(_eventbus_log)) == int(delivered)
    elif kind == "function":
        assert len(fcemu.tasks("out")) == int(delivered)


def test_an_over_limit_failure_message_keeps_the_error_in_the_event(
        fcemu, fc_client, mns_account, fcemu_function):
    fcemu_function("job", failure_of(100 * KB), on_failure="dlq",
                   async_config={"asyncTask": True, "maxAsyncRetryAttempts": 0})

    invoke_async(fc_client, "job", "t-1")
    fcemu.drain()

    task = get_task(fc_client, "job", "t-1")
    assert (task.status, task.destination_status) == ("Failed", "Failed")
    detail = json.loads(task.events[-1].event_detail)
    assert detail["Error"] == "UnhandledInvocationError"
    assert "at most 65536 bytes to an SMQ queue" in detail["DestinationError"]
    assert received(mns_account, "dlq") == []


@pytest.mark.fcemu(destination_encoding="base64")
def test_the_limit_counts_the_body_as_stored(fcemu, fc_client, fcemu_function):
    """With ``--destination-encoding base64`` a 50 KB result is a 67 KB SMQ body."""
    fcemu_function("job", result_of(50 * KB), on_success="out",
                   async_config={"asyncTask": True})

    invoke_async(fc_client, "job", "t-1")
    fcemu.drain()

    task = get_task(fc_client, "job", "t-1")
    assert task.destination_status == "Failed"
    assert "to an SMQ queue" in json.loads(task.events[-1].event_detail)["DestinationError"]
