"""Web functions: an HTTP trigger's request is passed through to a custom runtime's server.

FC's web functions ("HTTP calls"): the method, the path after the trigger's prefix with
its query string, the headers and the body reach the server as sent, with FC's common
``x-fc-*`` request headers added; the server's status, headers and body go back to the
client as they are (less the headers FC sets itself). ``x-fc-status`` only tells FC the
outcome: an async task whose server answered ``x-fc-status: 404`` fails. Built-in
runtimes keep getting the HTTP-trigger event (tests/api/test_http_triggers.py).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "fixtures" / "custom" / "http-server"


def open_url(request: urllib.request.Request) -> tuple[int, list[tuple[str, str]], bytes]:
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, list(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, list(error.headers.items()), error.read()


@pytest.fixture
def url(fcemu):
    fcemu.register_function("site", code=SERVER, runtime="custom.debian12",
                            customRuntimeConfig={"command": [sys.executable, "-u", "server.py"],
                                                 "port": 9000})
    fcemu.put_async_invoke_config("site", asyncTask=True, maxAsyncRetryAttempts=0)
    made = fcemu.create_trigger("site", "web", "http", {
        "authType": "anonymous", "methods": ["GET", "POST", "PUT"]})
    return made["httpTrigger"]["urlInternet"]


def test_the_request_reaches_the_server_as_sent_and_its_answer_comes_back(url):
    status, headers, body = open_url(urllib.request.Request(
        f"{url}/orders/a%20b?id=1&id=2", headers={"x-custom-thing": "v", "Accept": "text/x"}))
    assert status == 200
    seen = json.loads(body)
    assert (seen["method"], seen["path"]) == ("GET", "/orders/a%20b?id=1&id=2")
    sent = dict(seen["headers"])
    assert sent["x-custom-thing"] == "v" and sent["accept"] == "text/x"
    request_id = dict((k.lower(), v) for k, v in headers)["x-fc-request-id"]
    assert sent["x-fc-request-id"] == request_id  # FC's common headers are added
    assert sent["x-fc-function-name"] == "site" and sent["x-fc-qualifier"] == "LATEST"
    assert "user-agent" in sent  # urllib's own, passed on; nothing added by fcemu's client
    assert [v for k, v in headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert ("x-echo", "web") in [(k.lower(), v) for k, v in headers]
    assert ("content-type", "application/json") in [(k.lower(), v) for k, v in headers]


def test_the_server_status_and_body_are_the_answer_not_a_function_error(url):
    status, headers, body = open_url(urllib.request.Request(
        f"{url}/status/404", data=b"x=1", method="PUT",
        headers={"content-type": "application/x-www-form-urlencoded"}))
    assert status == 404  # as the server answered: not FC's 502 of a function error
    seen = json.loads(body)
    assert (seen["method"], seen["body"]) == ("PUT", "x=1")
    assert dict(seen["headers"])["content-type"] == "application/x-www-form-urlencoded"
    assert not [k for k, _ in headers if k.lower() == "x-fc-error-type"]


def test_fc_control_headers_and_hop_by_hop_headers_are_not_passed_on(url):
    status, _, body = open_url(urllib.request.Request(
        f"{url}/", headers={"x-fc-invocation-type": "Sync", "x-fc-log-type": "None"}))
    assert status == 200
    sent = dict(json.loads(body)["headers"])
    assert "x-fc-invocation-type" not in sent and "x-fc-log-type" not in sent
    assert sent.get("connection") != "close"  # urllib's "Connection: close" stays with it


def test_an_async_http_call_runs_later_as_the_same_request(url, fcemu):
    status, _, _ = open_url(urllib.request.Request(
        f"{url}/jobs?x=1", data=b"payload", method="POST", headers={
            "X-Fc-Invocation-Type": "Async", "X-Fc-Async-Task-Id": "job-1",
            "content-type": "text/plain"}))
    assert status == 202
    fcemu.drain()
    task = fcemu.task("site", "job-1")
    assert task["status"] == "Succeeded"
    seen = json.loads(task["returnPayload"])
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/jobs?x=1", "payload")
    assert dict(seen["headers"])["content-type"] == "text/plain"


def test_x_fc_status_reports_the_outcome_an_async_task_fails(url, fcemu):
    status, _, _ = open_url(urllib.request.Request(
        f"{url}/jobs?fcstatus=404", data=b"p", method="POST", headers={
            "X-Fc-Invocation-Type": "Async", "X-Fc-Async-Task-Id": "job-2"}))
    assert status == 202
    fcemu.drain()
    assert fcemu.task("site", "job-2")["status"] == "Failed"


def test_a_sync_call_with_x_fc_status_still_answers_what_the_server_said(url):
    status, headers, body = open_url(urllib.request.Request(f"{url}/x?fcstatus=500"))
    assert status == 200 and json.loads(body)["path"] == "/x?fcstatus=500"
    assert not [k for k, _ in headers if k.lower() == "x-fc-status"]  # FC's own: not passed


@pytest.mark.parametrize("form", ["id", "file"])
def test_a_waiting_http_call_survives_a_snapshot_restore(url, fcemu, form):
    status, _, _ = open_url(urllib.request.Request(
        f"{url}/later?a=%2F", data=b"kept", method="PUT", headers={
            "X-Fc-Invocation-Type": "Async", "X-Fc-Async-Task-Id": "job-3",
            "X-Fc-Async-Delay": "60", "x-custom-thing": "v"}))
    assert status == 202
    snap = fcemu.snapshot()
    fcemu.restore(snap if form == "id" else fcemu.save_snapshot(snap))  # a file: JSON
    fcemu.clock.advance(61)
    fcemu.drain()
    seen = json.loads(fcemu.task("site", "job-3")["returnPayload"])
    assert (seen["method"], seen["path"], seen["body"]) == ("PUT", "/later?a=%2F", "kept")
    assert dict(seen["headers"])["x-custom-thing"] == "v"
