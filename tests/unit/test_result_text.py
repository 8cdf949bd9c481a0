"""The result message's text made from a template (fcemu.destinations.result_text, issue 13)
is the text json.dumps writes for the documented message dict, byte for byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.destinations import encode_message, result_message, result_text
from fcemu.models import Attempt, Task, TaskStatus
from fcemu.retry_policy import CONDITION_STATUS

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
