"""The CLI's views and helpers, without a server."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest

from fcemu.cli import format as fmt
from tests.cli.conftest import fcemu
from tests.constants import T0


def test_table_and_times() -> None:
    assert fmt.table(["A", "LONGER"], [["x", "1"], ["yyy", "22"]]).splitlines() == [
        "A    LONGER", "x    1", "yyy  22"]
    assert fmt.table(["A"], []) == "(none)"
    assert fmt.iso(T0 + 5) == "2024-05-01T00:00:00.005Z"
    assert fmt.iso(None) == "-"


@pytest.mark.parametrize(("arn", "short"), [
    ("acs:mns:cn-hangzhou:1:/queues/done/messages", "queue:done"),
    ("acs:mns:cn-hangzhou:1:/topics/t/messages", "topic:t"),
    ("acs:fc:cn-hangzhou:1:functions/next", "function:next"),
    ("acs:eventbridge:cn-hangzhou:1:eventbus/default", "eventbus:default"),
    ("something-else", "something-else"),
    (None, "-"),
])
def test_destination(arn: str | None, short: str) -> None:
    assert fmt.destination(arn) == short


def test_durations_and_bodies() -> None:
    assert [fmt.parse_duration(t) for t in ("90", "1.5", "90s", "5m", "2h", "1d")] == [
        90, 1.5, 90, 300, 7200, 86400]
    with pytest.raises(ValueError, match="invalid duration"):
        fmt.parse_duration("-1")
    doc = {"a": 1}
    assert fmt.parse_body(json.dumps(doc)) == doc
    assert fmt.parse_body(base64.b64encode(json.dumps(doc).encode()).decode()) == doc
    assert fmt.parse_body("plain text") is None
    assert fmt.from_mns({"MessageId": "m", "MessageBody": "b", "EnqueueTime": "5",
                         "DequeueCount": "1"})["enqueueTime"] == 5


def test_messages_view_shows_non_json_bodies_as_they_are() -> None:
    view = fmt.messages_view("q", [{"messageId": "m1", "body": "hello", "bodyJson": None,
                                    "enqueueTime": T0, "dequeueCount": 0}], "peeked")
    assert view.splitlines() == ["queue q: 1 message peeked",
                                 "--- m1  enqueued 2024-05-01T00:00:00.000Z  dequeued 0x",
                                 "hello"]


def test_progress_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        written = threading.Event()

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            self.written.set()
            return super().write(text)

    terminal = Terminal()
    out = fmt.Output(False, io.StringIO(), terminal)
    with fmt.progress(out, "waiting", after=0.0):
        assert terminal.written.wait(10)  # the ticker wrote while the block ran
    assert "waiting... " in terminal.getvalue()
    quiet = io.StringIO()
    with fmt.progress(fmt.Output(False, io.StringIO(), quiet), "waiting", after=0.0):
        pass
    assert quiet.getvalue() == ""


def test_watch_without_config_is_a_usage_error() -> None:
    result = fcemu("serve", "--port", "0", "--watch")
    assert (result.code, result.err.strip()) == (
        2, "fcemu: --watch needs --config FILE (what to watch)")
