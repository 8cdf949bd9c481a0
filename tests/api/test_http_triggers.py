"""HTTP triggers through plain clients (urllib, aiohttp): the URL from the trigger, FC 3.0's
HTTP-trigger event, the response mapping, methods, async invocation (202, task IDs,
deduplication) and ``authType: function`` in verify mode."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request

import aiohttp
import pytest

from fcemu import signing
from tests.constants import ACCOUNT, T0


def echo_event(event, context):
    """Answers with the event it got, in the response struct."""
    return {"statusCode": 201, "headers": {"X-Seen": "yes", "Content-Type": "application/json"},
            "body": event.decode() if isinstance(event, bytes) else event,
            "isBase64Encoded": False}


def open_url(request: urllib.request.Request) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def url(fcemu, fcemu_function):
    fcemu_function("web", echo_event, async_config={"asyncTask": True})
    made = fcemu.create_trigger("web", "public", "http",
                                {"authType": "anonymous", "methods": ["GET", "POST"]})
    return made["httpTrigger"]["urlInternet"]


def test_sync_request_becomes_the_documented_event_and_maps_back(url):
    request = urllib.request.Request(
        f"{url}/orders/a%20b?id=1&id=2&q=x", data=b'{"n": 1}', method="POST",
        headers={"content-type": "application/json", "x-custom-thing": "v"})
    status, headers, body = open_url(request)
    assert status == 201
    assert headers["X-Seen"] == "yes" and headers["x-fc-request-id"]
    event = json.loads(body)
    assert event["version"] == "v1"
    assert event["rawPath"] == "/orders/a%20b"
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["headers"]["X-Custom-Thing"] == "v"
    assert event["queryParameters"] == {"id": "1,2", "q": "x"}
    context = event["requestContext"]
    assert context["accountId"] == ACCOUNT
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/orders/a b"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["timeEpoch"] == str(T0) and context["time"] == "2024-05-01T00:00:00Z"
    assert context["requestId"]


def test_binary_body_is_base64_and_plain_returns_are_200(fcemu, fcemu_function):
    fcemu_function("raw", lambda event, context: event)  # returns the event bytes as is
    fcemu.create_trigger("raw", "h", "http", {"authType": "anonymous", "methods": ["PUT"]})
    url = fcemu.http_trigger_url("raw", "h")
    status, _, body = open_url(urllib.request.Request(
        url, data=b"\x00\xff", method="PUT",
        headers={"content-type": "application/octet-stream"}))
    assert status == 200
    event = json.loads(body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    assert event["rawPath"] == "/"


def test_base64_response_body_is_decoded(fcemu, fcemu_function):
    png = b"\x89PNG\r\n"
    fcemu_function("img", lambda event, context: {
        "statusCode": 200, "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(png).decode(), "isBase64Encoded": True})
    fcemu.create_trigger("img", "h", "http", {"authType": "anonymous", "methods": ["GET"]})
    status, headers, body = open_url(urllib.request.Request(fcemu.http_trigger_url("img", "h")))
    assert (status, headers["Content-Type"], body) == (200, "image/png", png)


def test_a_method_not_configured_is_refused_and_unknown_triggers_404(url, fcemu):
    status, _, body = open_url(urllib.request.Request(url, method="DELETE"))
    assert status == 400 and "DELETE is not allowed" in json.loads(body)["Message"]
    status, _, body = open_url(urllib.request.Request(url.replace("public", "nope")))
    assert status == 404 and json.loads(body)["Code"] == "TriggerNotFound"


def test_a_function_error_is_a_502_with_its_error_type(fcemu, fcemu_function):
    def broken(event, context):
        raise ValueError("bad input")

    fcemu_function("broken", broken)
    fcemu.create_trigger("broken", "h", "http", {"authType": "anonymous", "methods": ["GET"]})
    status, headers, body = open_url(urllib.request.Request(
        fcemu.http_trigger_url("broken", "h")))
    assert status == 502 and headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert json.loads(body)["errorMessage"] == "bad input"


def test_async_invocation_returns_202_with_a_task_and_deduplicates(url, fcemu):
    request = urllib.request.Request(f"{url}/jobs", data=b"payload", method="POST", headers={
        "X-Fc-Invocation-Type": "Async", "X-Fc-Async-Task-Id": "job-1"})
    status, headers, body = open_url(request)
    assert (status, body) == (202, b"")
    assert headers["x-fc-async-task-id"] == "job-1"
    again, _, error = open_url(request)
    assert again == 409 and json.loads(error)["Code"] == "AsyncTaskAlreadyExists"
    fcemu.drain()
    task = fcemu.task("web", "job-1")
    assert task["status"] == "Succeeded"
    assert json.loads(task["taskPayload"])["rawPath"] == "/jobs"


def test_aiohttp_client_sync_and_async(url, fcemu):
    async def run() -> tuple[int, dict, int, str]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/hi", params={"a": "1"}) as answer:
                sync_status, event = answer.status, json.loads(await answer.read())
            async with session.post(url, data=b"x",
                                    headers={"x-fc-invocation-type": "Async"}) as answer:
                return sync_status, event, answer.status, answer.headers["x-fc-async-task-id"]

    sync_status, event, async_status, task_id = asyncio.run(run())
    assert (sync_status, event["rawPath"], event["queryParameters"]) == (201, "/hi", {"a": "1"})
    assert async_status == 202
    fcemu.drain()
    assert fcemu.task("web", task_id)["status"] == "Succeeded"


KEYS = (("AKID", "SECRET"),)


@pytest.mark.fcemu(access_keys=KEYS)
def test_function_auth_checks_the_signature_in_verify_mode(fcemu, fcemu_function):
    fcemu_function("private", echo_event)
    fcemu.create_trigger("private", "h", "http", {"authType": "function", "methods": ["GET"]})
    fcemu.create_trigger("private", "open", "http", {"authType": "anonymous",
                                                     "methods": ["GET"]})
    url = fcemu.http_trigger_url("private", "h")
    status, _, body = open_url(urllib.request.Request(url))
    # refused as the FC API refuses an unsigned request in verify mode
    assert 400 <= status < 500 and "Authorization" in json.loads(body)["Message"]
    path = "/http-triggers/private/h"
    headers = signing.sign_acs3("GET", path, {}, b"", "AKID", "SECRET",
                                host=fcemu.host_port, action="InvokeFunction")
    status, _, _ = open_url(urllib.request.Request(url, headers=headers))
    assert status == 201
    forged = signing.sign_acs3("GET", path, {}, b"", "AKID", "WRONG",
                               host=fcemu.host_port, action="InvokeFunction")
    status, _, body = open_url(urllib.request.Request(url, headers=forged))
    assert status == 403 and json.loads(body)["Code"] == "SignatureNotMatch"
    status, _, _ = open_url(urllib.request.Request(fcemu.http_trigger_url("private", "open")))
    assert status == 201


def test_fc_request_limits_of_http_triggers(url):
    status, _, body = open_url(urllib.request.Request(url, headers={"X-Fc-Custom": "1"}))
    assert status == 400 and "must not start with x-fc-" in json.loads(body)["Message"]
    status, _, body = open_url(urllib.request.Request(f"{url}/{'a' * 4100}"))
    assert status == 400 and "at most 4096" in json.loads(body)["Message"]
    big = {f"X-Big-{n}": "b" * 3000 for n in range(3)}
    status, _, body = open_url(urllib.request.Request(url, headers=big))
    assert status == 400 and "at most 8192 in all" in json.loads(body)["Message"]


def test_a_trace_id_becomes_the_request_id_and_the_task_id(url, fcemu):
    status, headers, body = open_url(urllib.request.Request(
        url, headers={"x-fc-trace-id": "trace-123"}))
    assert status == 201 and headers["x-fc-request-id"] == "trace-123"
    assert json.loads(body)["requestContext"]["requestId"] == "trace-123"
    status, headers, _ = open_url(urllib.request.Request(url, method="POST", data=b"x", headers={
        "x-fc-invocation-type": "Async", "x-fc-trace-id": "trace-456"}))
    assert status == 202 and headers["x-fc-async-task-id"] == "trace-456"


def test_the_events_request_id_is_the_invocations(fcemu, fcemu_function):
    """One request ID: the event's requestContext.requestId is x-fc-request-id and the
    handler's context.request_id (sync), and the async task's requestId (with and without a
    task ID of the caller's)."""
    def ids(event, context):
        return json.dumps({"event": json.loads(event)["requestContext"]["requestId"],
                           "context": context.request_id})

    fcemu_function("ids", ids, async_config={"asyncTask": True})
    url = fcemu.create_trigger("ids", "t", "http", {"authType": "anonymous"}
                               )["httpTrigger"]["urlInternet"]
    status, headers, body = open_url(urllib.request.Request(url))
    rid = headers["x-fc-request-id"]
    assert status == 200 and json.loads(body) == {"event": rid, "context": rid}
    tasks = []
    for extra in ({}, {"X-Fc-Async-Task-Id": "mine"}):
        _, headers, _ = open_url(urllib.request.Request(
            url, headers={"X-Fc-Invocation-Type": "Async", **extra}))
        tasks.append((headers["x-fc-async-task-id"], headers["x-fc-request-id"]))
    fcemu.drain()
    for task_id, rid in tasks:
        task = fcemu.task("ids", task_id)
        assert task["requestId"] == rid
        assert json.loads(task["returnPayload"]) == {"event": rid, "context": rid}
        assert json.loads(task["taskPayload"])["requestContext"]["requestId"] == rid


def test_disable_url_internet_closes_the_public_url_and_leaves_the_intranet_one(
        fcemu, fcemu_function):
    """FC's disableURLInternet: "accessing the default public URL of the function returns
    error 403"; the VPC address (urlIntranet) is not affected."""
    fcemu_function("inner", echo_event)
    made = fcemu.create_trigger("inner", "h", "http", {
        "authType": "anonymous", "methods": ["GET"], "disableURLInternet": True})
    urls = made["httpTrigger"]
    assert urls["urlIntranet"] != urls["urlInternet"]
    assert urls["urlIntranet"] == fcemu.http_trigger_url("inner", "h", intranet=True)
    status, _, body = open_url(urllib.request.Request(f"{urls['urlInternet']}/a"))
    error = json.loads(body)
    assert (status, error["Code"]) == (403, "AccessDenied")
    assert "internet URL is disabled" in error["Message"]
    status, _, body = open_url(urllib.request.Request(f"{urls['urlIntranet']}/a?b=1"))
    assert status == 201
    event = json.loads(body)
    assert (event["rawPath"], event["queryParameters"]) == ("/a", {"b": "1"})
    fcemu.update_trigger("inner", "h", {"authType": "anonymous", "methods": ["GET"],
                                        "disableURLInternet": False})
    status, _, _ = open_url(urllib.request.Request(urls["urlInternet"]))
    assert status == 201
