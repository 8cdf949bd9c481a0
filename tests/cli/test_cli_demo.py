"""The seed demo through the CLI, as a user types it (issue 6, "Done when").

One ``fcemu serve --clock manual --config s.yaml --config fast.fcemu.yaml``
for the module; each test starts with ``fcemu reset``. Async work is waited
for with ``fcemu clock advance`` / ``fcemu drain``, never with sleeps.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.conftest import DEMO, Server, fcemu, serving
from tests.constants import function_arn

ARN = function_arn("my-fc-job")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("demo") / "serve.log"
    with serving("--clock", "manual", "--seed", "7", "--config", "s.yaml", "--config",
                 "fast.fcemu.yaml", cwd=DEMO, log=log) as server:
        yield server


@pytest.fixture
def server(demo: Server) -> Server:
    assert demo("reset").code == 0
    return demo


def ok(result: Any) -> str:
    assert result.code == 0, result.err
    return str(result.out)


def test_serve_reports_what_it_deployed(demo: Server) -> None:
    assert "(clock=manual, region=cn-hangzhou, account=1234567890123456)" in demo.banner
    assert "placeholder {myqueue} has no value" in demo.stderr()


def test_seed_result_message_end_to_end(server: Server) -> None:
    accepted = ok(server("invoke", "my-fc-job", "--async", "--payload", '{"failure":true}'))
    assert accepted.startswith("accepted: task ")
    ok(server("clock", "advance", "1"))  # attempt, retry 0.5 s later, destination push

    shown = ok(server("queue", "myqueue"))
    assert shown.startswith("queue myqueue: 1 message peeked")
    assert '"condition": "InvocationError"' in shown
    assert "Function timed out after 1 seconds" in shown

    messages = json.loads(ok(server("queue", "myqueue", "--json")))["messages"]
    assert len(messages) == 1
    message = messages[0]["bodyJson"]
    assert json.loads(messages[0]["body"]) == message  # stored as raw JSON text
    # the documented result-message shape (spec §10.2), key for key
    assert list(message) == ["timestamp", "requestContext", "requestPayload", "responseContext",
                             "responsePayload"]
    assert list(message["requestContext"]) == ["requestId", "functionArn", "condition",
                                               "approximateInvokeCount"]
    assert message["requestContext"]["functionArn"] == ARN
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["requestPayload"] == '{"failure":true}'
    assert message["responseContext"] == {"statusCode": 200, "functionError": "InvocationError"}
    error = json.loads(message["responsePayload"])
    assert error["errorMessage"].startswith("Function timed out after 1 seconds (maxMemoryUsage: ")

    tasks = json.loads(ok(server("tasks", "my-fc-job", "--json")))["tasks"]
    assert [t["status"] for t in tasks] == ["Failed"]
    task_id = tasks[0]["taskId"]
    assert message["requestContext"]["requestId"] == tasks[0]["requestId"]
    record = json.loads(ok(server("task", "my-fc-job", task_id, "--json")))
    assert [e["status"] for e in record["events"]] == [
        "Enqueued", "Processed", "Running", "Retrying", "Running", "Failed"]
    timeline = ok(server("task", "my-fc-job", task_id))
    assert f"task         {task_id}" in timeline
    assert "Retrying   2024-05-01T00:00:00.000Z" in timeline
    assert "Running    2024-05-01T00:00:00.500Z  +500ms" in timeline
    table = ok(server("tasks", "my-fc-job", "--status", "Failed"))
    # taskErrorMessage: the error type, FC's documented value (docs/fidelity.md)
    assert task_id in table and "UnhandledInvocationError" in table
    assert ok(server("tasks", "my-fc-job", "--status", "Succeeded")).strip() == \
        "no async tasks for my-fc-job"


def test_functions_and_sync_invoke(server: Server) -> None:
    table = ok(server("functions")).splitlines()
    assert table[0].split() == ["FUNCTION", "RUNTIME", "HANDLER", "TIMEOUT", "MEMORY", "TASKS",
                                "RETRIES", "ON", "SUCCESS", "ON", "FAILURE"]
    assert table[1].split() == ["my-fc-job", "python3", "index.handler", "1s", "128MB", "on",
                                "1", "queue:myqueue", "queue:myqueue"]
    functions = json.loads(ok(server("functions", "--json")))["functions"]
    assert functions[0]["asyncConfig"]["maxAsyncEventAgeInSeconds"] == 172800
    result = ok(server("invoke", "my-fc-job", "--payload", '{"x": 1}'))
    assert json.loads(result) == {"result": "success", "event": {"x": 1}}
    piped = json.loads(ok(server("invoke", "my-fc-job", "--payload", "-", "--json",
                                 stdin='{"y": 2}')))
    assert json.loads(piped["body"]) == {"result": "success", "event": {"y": 2}}
    assert piped["requestId"] and not piped["errorType"]


def test_stop_a_delayed_task(server: Server) -> None:
    ok(server("invoke", "my-fc-job", "--async", "--task-id", "later", "--delay", "60",
              "--payload", "{}"))
    assert json.loads(ok(server("task", "my-fc-job", "later", "--json")))["status"] == "Enqueued"
    assert ok(server("stop", "my-fc-job", "later")).strip() == \
        "stop requested: task later is Stopped"
    again = server("stop", "my-fc-job", "later")
    assert again.code == 1 and "PreconditionFailed" in again.err
    message = json.loads(ok(server("queue", "myqueue", "--json")))["messages"][0]["bodyJson"]
    assert message["requestContext"]["condition"] == "InvocationStopped"


def test_queue_receive_and_purge(server: Server) -> None:
    for n in range(3):
        ok(server("invoke", "my-fc-job", "--async", "--payload", json.dumps({"n": n})))
    ok(server("drain"))
    assert ok(server("queues")).split() == ["QUEUE", "MESSAGES", "myqueue", "3"]
    received = json.loads(ok(server("queue", "myqueue", "--receive", "--count", "1",
                                    "--json")))["messages"]
    assert len(received) == 1 and received[0]["dequeueCount"] == 1
    assert received[0]["bodyJson"]["requestContext"]["condition"] == ""
    assert ok(server("queue", "myqueue", "--purge")).strip() == \
        "queue myqueue: purged 2 message(s)"
    assert ok(server("queue", "myqueue")).strip() == "queue myqueue: no messages"
    assert ok(server("queue", "myqueue", "--receive")).strip() == "queue myqueue: no messages"
    missing = server("queue", "nowhere", "--receive")
    assert missing.code == 1 and "QueueNotExist" in missing.err


def test_clock_settle_drain(server: Server) -> None:
    assert ok(server("clock")).strip() == \
        "manual clock: 2024-05-01T00:00:00.000Z (1714521600000)"
    assert "2024-05-01T00:01:30.000Z" in ok(server("clock", "advance", "90s"))
    assert "2024-05-01T02:01:30.000Z" in ok(server("clock", "advance", "2h"))
    doc = json.loads(ok(server("clock", "set", "2024-05-02T00:00:00Z", "--json")))
    assert doc == {"mode": "manual", "now": 1_714_608_000_000}
    backwards = server("clock", "set", "1714521600000")
    assert backwards.code == 1 and "backwards" in backwards.err
    bad = server("clock", "advance", "soon")
    assert bad.code == 2 and "invalid duration 'soon'" in bad.err
    assert server("clock", "advance").code == 2
    assert ok(server("settle")).startswith("settled at 2024-05-02T00:00:00.000Z")
    assert ok(server("drain")).startswith("drained at ")
    reset = ok(server("reset"))
    assert reset.strip() == "reset: manual clock: 2024-05-01T00:00:00.000Z (1714521600000)"


def test_reset_redeploys_the_config(server: Server) -> None:
    ok(server("invoke", "my-fc-job", "--async", "--payload", "{}"))
    ok(server("drain"))
    assert json.loads(ok(server("tasks", "my-fc-job", "--json")))["tasks"]
    ok(server("reset"))
    assert json.loads(ok(server("tasks", "my-fc-job", "--json")))["tasks"] == []
    assert "my-fc-job" in ok(server("functions"))
    assert ok(server("queues")).split() == ["QUEUE", "MESSAGES", "myqueue", "0"]


def test_exit_codes(server: Server) -> None:
    missing = server("task", "my-fc-job", "nope")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err.strip() == "fcemu: AsyncTaskNotFound (404): async task 'nope' does not exist"
    assert server("invoke", "nope").code == 1
    usage = server("tasks", "--qualifier", "LATEST")  # (issue 11: no FUNCTION lists all)
    assert usage.code == 2 and "--qualifier needs a FUNCTION" in usage.err
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nothing = fcemu("functions", endpoint=f"http://127.0.0.1:{port}")
    assert nothing.code == 3
    assert nothing.err.startswith(f"fcemu: no emulator is listening at http://127.0.0.1:{port}")


def test_tasks_without_a_function_lists_every_function(server: Server) -> None:
    assert ok(server("tasks")).strip() == "no async tasks for any function"
    for task_id in ("a1", "a2", "b1"):
        ok(server("invoke", "my-fc-job", "--async", "--task-id", task_id, "--payload", "{}"))
    ok(server("drain"))
    lines = ok(server("tasks", "--prefix", "a")).splitlines()
    assert lines[0].split()[:3] == ["FUNCTION", "TASK", "STATUS"]
    assert [line.split()[:3] for line in lines[1:]] == [["my-fc-job", "a1", "Succeeded"],
                                                        ["my-fc-job", "a2", "Succeeded"]]
    tasks = json.loads(ok(server("tasks", "--json", "--asc", "--limit", "2")))["tasks"]
    assert [(t["functionName"], t["taskId"]) for t in tasks] == [("my-fc-job", "a1"),
                                                                 ("my-fc-job", "a2")]
    assert len(json.loads(ok(server("tasks", "--json", "--all")))["tasks"]) == 3
