"""The result message's text made from a template (fcemu.destinations.result_text, issue 13)
is the text json.dumps writes for the documented message dict, byte for byte."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.clock import ManualClock
from fcemu.destinations import Delivery, encode_message, result_message, result_text
from fcemu.ids import IdGenerator
from fcemu.models import Attempt, Task, TaskStatus
from fcemu.retry_policy import CONDITION_STATUS
from fcemu.scheduler import Scheduler
from fcemu.smq import Smq

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ['"', "\\", "\n\t\r\b\f", "\x00\x1f\x7f", "é中\U0001f600", "\u2028\u2029", "</script>"])
_BYTES = st.binary(max_size=12) | _TEXT.map(str.encode)


@settings(max_examples=400, deadline=None)
@given(status=st.sampled_from(list(TaskStatus)),
       condition=st.sampled_from(["", "InvocationError", "InvocationStopped", "EventExpired",
                                  *CONDITION_STATUS]) | _TEXT,
       request_id=_TEXT, arn=_TEXT, qualifier=st.sampled_from(["LATEST", "1", "prod"]) | _TEXT,
       payload=_BYTES, returned=st.none() | _BYTES, error=st.none() | _BYTES,
       attempts=st.integers(0, 5), timestamp=st.integers(0, 2**50))
def test_the_template_writes_the_json_of_the_message(
        status: TaskStatus, condition: str, request_id: str, arn: str, qualifier: str,
        payload: bytes, returned: bytes | None, error: bytes | None, attempts: int,
        timestamp: int) -> None:
    task = Task(task_id="t", request_id=request_id, function_name="f",
                function_arn=f"acs:fc:cn-hangzhou:1:functions/{arn}", qualifier=qualifier,
                payload=payload, submitted_ms=0, runnable_ms=0, max_retries=0, max_age_s=60,
                on_success=None, on_failure=None)
    task.status, task.condition = status, condition
    task.return_payload, task.error_body = returned, error
    task.attempts = [Attempt(number=i + 1, started_ms=0) for i in range(attempts)]
    text = result_text(task, timestamp)
    assert text == encode_message(result_message(task, timestamp), "raw")


def test_bytes_not_utf_8_are_replaced_in_a_succeeded_task_s_message() -> None:
    """The template decodes strictly first, then with ``replace`` (issue 13): the same text
    as ``json.dumps`` of the message, for valid and invalid UTF-8 alike."""
    for payload, returned in ((b"\xff{}", b'"ok"'), (b"{}", b"\xc3(\xe9"), (b"", b"")):
        task = Task(task_id="t", request_id="r", function_name="f",
                    function_arn="acs:fc:cn-hangzhou:1:functions/f", qualifier="LATEST",
                    payload=payload, submitted_ms=0, runnable_ms=0, max_retries=0,
                    max_age_s=60, on_success=None, on_failure=None)
        task.status, task.return_payload = TaskStatus.SUCCEEDED, returned
        text = result_text(task, 1)
        assert text == encode_message(result_message(task, 1), "raw")
        assert ("\ufffd" in text) == (b"\xff" in payload or b"\xc3(" in returned)


def _delivery(strict: bool, encoding: str) -> tuple[Delivery, Smq]:
    clock = ManualClock(1_700_000_000_000)
    smq = Smq(clock, Scheduler(clock), IdGenerator(3), region="cn-hangzhou", account_id="1")
    return Delivery(clock, smq, lambda *call: None, strict=strict, encoding=encoding), smq


def _succeeded(returned: bytes, on_success: str) -> Task:
    task = Task(task_id="t", request_id="r", function_name="f",
                function_arn="acs:fc:cn-hangzhou:1:functions/f", qualifier="LATEST",
                payload=b"{}", submitted_ms=0, runnable_ms=0, max_retries=0, max_age_s=60,
                on_success=on_success, on_failure=None)
    task.status, task.return_payload = TaskStatus.SUCCEEDED, returned
    return task


_OUT = "acs:mns:cn-hangzhou:1:/queues/out/messages"


@pytest.mark.parametrize("encoding", ["raw", "base64"])
def test_a_result_goes_to_its_queue_as_the_template_writes_it(
        encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    """deliver_result sends a raw queue's message itself (issue 13: one call fewer): the
    same body, queue creation, strict mode and limits as the path of every other kind."""
    delivery, smq = _delivery(False, encoding)
    for returned, delivered in ((b'"ok"', True), ("é中".encode(), True),
                                (b"x" * 50_000, encoding == "raw"), (b"x" * 70_000, False),
                                ("é".encode() * 33_000, False)):
        task = _succeeded(returned, _OUT)
        delivery.deliver_result(task)
        if not delivered:  # over FC's 64 KB for an SMQ queue, as text or as Base64
            assert task.destination_status == "Failed"
            assert "at most 65536 bytes to an SMQ queue" in caplog.records[-1].getMessage()
            continue
        assert task.destination_status == "Succeeded"
        text = result_text(task, 1_700_000_000_000)
        body = smq.get_queue("out").messages()[-1].body
        assert body == (text if encoding == "raw" else base64.b64encode(text.encode()).decode())
        assert json.loads(text)["responsePayload"] == returned.decode()
    smq.set_queue_attributes("out", MaximumMessageSize=1024)
    task = _succeeded(b"y" * 2000, _OUT)
    delivery.deliver_result(task)
    assert task.destination_status == "Failed"  # the queue's own MaximumMessageSize
    assert len(smq.get_queue("out").messages()) == 3 if encoding == "raw" else 2
    strict, strict_smq = _delivery(True, encoding)
    task = _succeeded(b'"ok"', _OUT)
    strict.deliver_result(task)
    assert task.destination_status == "Failed" and not strict_smq.queue_exists("out")
