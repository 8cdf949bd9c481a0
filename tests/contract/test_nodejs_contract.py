"""Node.js functions end to end: the official FC SDK against a running fcemu, real ``node``
worker processes (issue 16). Skipped, with the reason, where ``node`` is not installed; CI
installs it (.ci/run)."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client

from tests.contract.conftest import zip_code
from tests.contract.test_fc_contract import (
    get_task,
    invoke_async,
    invoke_sync,
    put_config,
    queue_arn,
    statuses,
)
from tests.contract.test_runtimes_contract import fifo, release, running
from tests.unit.test_runtime_worker import boot_ticks, instance_processes

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: "
                                "apt-get install nodejs (CI's .ci/run does)")

CRASH = re.compile(r"Process exited unexpectedly before completing request "
                   r"\(duration: \d+ms, maxMemoryUsage: \d+MB\)")
CALLBACK = """\
exports.handler = (event, context, callback) => {
  console.log('got', event.toString());
  callback(null, {echo: event.toString(), requestId: context.requestId});
};
"""
ASYNC = """\
exports.handler = async (event, context) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return `async ${event}`;
};
"""
ESM = """\
export const handler = async (event, context) => `esm ${event} ${context.function.name}`;
"""
#: Given a FIFO path: writes its instance ID there, then waits for ``<path>.go``.
BLOCKER = """\
const fs = require('fs');
exports.handler = async (event) => {
  const path = event.toString();
  fs.writeFileSync(path, process.env.FC_INSTANCE_ID);
  while (!fs.existsSync(path + '.go')) await new Promise((r) => setTimeout(r, 10));
  return 'released';
};
"""


def create_node_function(client: Client, name: str, source: str, *, filename: str = "index.js",
                         runtime: str = "nodejs18", **fields: object) -> fc.Function:
    body = fc.CreateFunctionInput(function_name=name, runtime=runtime, handler="index.handler",
                                  code=fc.InputCodeLocation(zip_file=zip_code(source, filename)),
                                  **fields)
    return client.create_function(fc.CreateFunctionRequest(body=body)).body


def body_of(response: fc.InvokeFunctionResponse) -> bytes:
    return response.body.read()  # type: ignore[no-any-return]


@pytest.mark.fc_verified
def test_callback_async_and_esm_handlers(fc_client):
    create_node_function(fc_client, "cb", CALLBACK)
    create_node_function(fc_client, "aw", ASYNC, runtime="nodejs16")
    create_node_function(fc_client, "esm", ESM, filename="index.mjs", runtime="nodejs18")
    response = invoke_sync(fc_client, "cb", b"hi")
    assert response.status_code == 200 and "x-fc-error-type" not in response.headers
    assert json.loads(body_of(response)) == {
        "echo": "hi", "requestId": response.headers["x-fc-request-id"]}
    assert body_of(invoke_sync(fc_client, "aw", b"x")) == b"async x"
    assert body_of(invoke_sync(fc_client, "esm", b"y")) == b"esm y esm"


@pytest.mark.fc_verified
def test_get_function_shows_the_nodejs_runtime(fc_client):
    create_node_function(fc_client, "cb", CALLBACK)
    got = fc_client.get_function("cb", fc.GetFunctionRequest()).body
    assert (got.runtime, got.handler) == ("nodejs18", "index.handler")


@pytest.mark.fc_verified
def test_a_thrown_error_has_fcs_nodejs_error_shape(fc_client):
    create_node_function(fc_client, "oops", "exports.handler = async () => {\n"
                         "  throw new Error('oops');\n};\n")
    response = invoke_sync(fc_client, "oops", b"")
    assert (response.status_code, response.headers["x-fc-error-type"]) == (
        200, "UnhandledInvocationError")
    error = json.loads(body_of(response))
    assert (error["errorMessage"], error["errorType"]) == ("oops", "Error")
    assert error["stackTrace"][0] == "Error: oops"
    assert re.search(r"\bat .*index\.js:2:9\)$", error["stackTrace"][1])


@pytest.mark.fc_verified
def test_an_initializer_runs_before_the_first_request(fc_client):
    source = ("let ready = false;\n"
              "exports.initialize = (context, callback) => { ready = true; "
              "console.log('warming'); callback(null, ''); };\n"
              "exports.handler = async () => ({ready});\n")
    create_node_function(fc_client, "init", source,
                         instance_lifecycle_config=fc.InstanceLifecycleConfig(
                             initializer=fc.LifecycleHook(handler="index.initialize", timeout=3)))
    response = invoke_sync(fc_client, "init", b"", log_type="Tail")
    assert json.loads(body_of(response)) == {"ready": True}
    log = base64.b64decode(response.headers["x-fc-log-result"]).decode()
    assert log.startswith("FC Initialize Start RequestId: ")
    assert "[info] warming" in log


@pytest.mark.fc_verified
def test_a_timeout_and_a_crash(fc_client):
    create_node_function(fc_client, "slow", "exports.handler = async () => "
                         "new Promise(() => {});\n", timeout=1)
    create_node_function(fc_client, "exits", "exports.handler = () => process.exit(1);\n")
    slow = invoke_sync(fc_client, "slow", b"")
    assert slow.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert json.loads(body_of(slow))["errorMessage"].startswith(
        "Function timed out after 1 seconds (maxMemoryUsage: ")
    exits = invoke_sync(fc_client, "exits", b"")
    assert exits.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert CRASH.fullmatch(json.loads(body_of(exits))["errorMessage"])


@pytest.mark.fc_verified
def test_tail_logs_frame_what_the_handler_printed(fc_client):
    create_node_function(fc_client, "cb", CALLBACK)
    response = invoke_sync(fc_client, "cb", b"logged", log_type="Tail")
    request_id = response.headers["x-fc-request-id"]
    log = base64.b64decode(response.headers["x-fc-log-result"]).decode()
    lines = log.splitlines()
    assert lines[0] == f"FC Invoke Start RequestId: {request_id}"
    assert re.fullmatch(rf"\S+Z {request_id} \[info\] got logged", lines[1])
    assert lines[-1] == f"FC Invoke End RequestId: {request_id}"


def test_an_async_task_retries_then_goes_to_the_failure_destination(fcemu, fc_client):
    create_node_function(fc_client, "job", "exports.handler = (event, context, callback) => "
                         "callback(new Error('failed: ' + event));\n")
    put_config(fc_client, "job", queue=queue_arn(fcemu, "node-dlq"), retries=2)
    invoke_async(fc_client, "job", b"payload", task_id="t-1")
    fcemu.drain()
    task = get_task(fc_client, "job", "t-1")
    assert (task.status, task.already_retried_times) == ("Failed", 2)
    assert statuses(task)[-2:] == ["Running", "Failed"]
    [message] = fcemu.queue("node-dlq").json()
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestPayload"] == "payload"
    error = json.loads(message["responsePayload"])
    assert (error["errorMessage"], error["errorType"]) == ("failed: payload", "Error")
    assert "failed: payload" in fcemu.task_logs("job", "t-1")


def test_stop_async_task_kills_a_running_nodejs_task(fcemu, fc_client, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FCEMU_SANDBOX_SHARE", str(tmp_path))  # the FIFO, in a bwrap sandbox
    since = boot_ticks()
    create_node_function(fc_client, "work", BLOCKER, timeout=60)
    put_config(fc_client, "work", retries=2)
    gate = fifo(tmp_path, "gate")
    invoke_async(fc_client, "work", str(gate).encode(), task_id="t-1")
    instance = running(gate)
    assert instance_processes(instance, since)
    fc_client.stop_async_task("work", "t-1", fc.StopAsyncTaskRequest())
    release(gate)
    fcemu.settle()
    task = get_task(fc_client, "work", "t-1")
    assert (task.status, task.already_retried_times) == ("Stopped", 0)
    assert not instance_processes(instance, since)


def test_the_pytest_plugin_deploys_nodejs_code(fcemu, fcemu_function, tmp_path: Path):
    (tmp_path / "index.js").write_text(ASYNC)
    fcemu_function("plugged", code=tmp_path, runtime="nodejs18", on_failure="plugged-dlq",
                   async_config={"maxAsyncRetryAttempts": 0})
    assert fcemu.invoke("plugged", b"via plugin") == "async via plugin"
    task_id = fcemu.invoke("plugged", b"queued", asynchronous=True)
    fcemu.drain()
    assert fcemu.task("plugged", task_id)["status"] == "Succeeded"


def test_a_script_scripts_a_nodejs_function_too(fcemu, fc_client):
    create_node_function(fc_client, "scripted", CALLBACK)
    fcemu.script("scripted", [{"outcome": "error", "message": "scripted", "times": 1}, "run"])
    put_config(fc_client, "scripted", retries=1)
    invoke_async(fc_client, "scripted", b"x", task_id="s-1")
    fcemu.drain()
    task = get_task(fc_client, "scripted", "s-1")
    assert (task.status, task.already_retried_times) == ("Succeeded", 1)


@pytest.mark.fcemu(node="/nonexistent/bin/node")
def test_the_fcemu_marker_chooses_the_interpreter(fc_client):
    create_node_function(fc_client, "cb", CALLBACK)
    response = invoke_sync(fc_client, "cb", b"")
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    error = json.loads(body_of(response))
    assert error["errorType"] == "NodeNotAvailable"
    assert "'/nonexistent/bin/node'" in error["errorMessage"]
