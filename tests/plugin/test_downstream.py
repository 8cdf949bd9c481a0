"""A fresh downstream project with only the plugin installed: the one-line promise."""

from __future__ import annotations

import os

import pytest

from tests.plugin.conftest import ONLY_FCEMU

END_TO_END = '''
import asyncio

from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions

import handlers

def invoke_async(client, function, body, task_id):
    return client.invoke_function_with_options(
        function, fc.InvokeFunctionRequest(body=body),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())

def test_failed_job_reaches_dead_letter_queue(fcemu, fc_client, fcemu_function):
    fcemu_function("job", handlers.fail, on_failure="dlq",
                   async_config={"asyncTask": True, "maxAsyncRetryAttempts": 1})
    assert invoke_async(fc_client, "job", b"boom", "job-1").status_code == 202

    fcemu.drain()

    task = fc_client.get_async_task("job", "job-1", fc.GetAsyncTaskRequest()).body
    assert task.status == "Failed"
    answer = asyncio.run(fc_client.get_async_task_async("job", "job-1", fc.GetAsyncTaskRequest()))
    assert answer.body.status == "Failed"  # the SDK's aiohttp path reaches the emulator too
    assert [e.status for e in task.events][-1] == "Failed"
    message = fcemu.queue("dlq").last.json()
    assert message["requestContext"]["condition"] == "InvocationError"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert "bad event: boom" in message["responsePayload"]

def test_succeeded_job_reaches_done_queue_and_mns(fcemu, fc_client, mns_account,
                                                  fcemu_function):
    fcemu_function("job", handlers.ok, on_success="done", async_config={"asyncTask": True})
    invoke_async(fc_client, "job", b"hi", "job-2")
    fcemu.drain()
    assert fcemu.task("job", "job-2")["returnPayload"] == "ok:hi"
    queue = mns_account.get_queue("done")
    queue.set_encoding(False)
    received = queue.receive_message()
    assert '"responsePayload":"ok:hi"' in received.message_body.replace(" ", "")

def test_each_test_starts_from_a_reset_emulator(fcemu, fc_client):
    assert fcemu.queue("dlq").messages() == []
    assert fc_client.list_functions(fc.ListFunctionsRequest()).body.functions == []
'''

CODE_DIR = '''
from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions

def test_handler_code_runs_in_a_worker_process(fcemu, fc_client, fcemu_function):
    fcemu_function("echo", code="code/echo", async_config={"asyncTask": True},
                   on_success="done", timeout=5)
    fc_client.invoke_function_with_options(
        "echo", fc.InvokeFunctionRequest(body=b"x"),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id="t"),
        RuntimeOptions())
    fcemu.drain()
    assert fcemu.queue("done").last.json()["responsePayload"] == "pid-differs"

def test_deployed_functions_are_removed_at_teardown(fcemu):
    assert fcemu.tasks("echo") == []
'''

ECHO = '''
import os

def handler(event, context):
    return "pid-differs" if os.getpid() != int(os.environ["TEST_PID"]) else "same-pid"
'''


def test_end_to_end_with_fc_client_drain_task_and_queue(downstream: pytest.Pytester) -> None:
    downstream.makepyfile(test_end_to_end=END_TO_END)
    # pytest-benchmark, where installed, turns an outer xdist run into a warning (an error
    # under this project's filterwarnings); it is no part of the downstream project.
    result = downstream.runpytest("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(passed=3)


def test_code_directory_deploys_to_a_worker_process(only_fcemu: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PID", str(os.getpid()))  # handlers get it through --pass-env only
    (only_fcemu.path / "code" / "echo").mkdir(parents=True)
    (only_fcemu.path / "code" / "echo" / "index.py").write_text(ECHO)
    only_fcemu.makepyfile(test_code=CODE_DIR)
    result = only_fcemu.runpytest("--fcemu-pass-env", "TEST_PID", *ONLY_FCEMU)
    result.assert_outcomes(passed=2)


def test_sdk_fixtures_skip_with_the_extra_to_install(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makeconftest('''
import sys
sys.modules["alibabacloud_fc20230330"] = None  # as if the SDK were not installed
sys.modules["alibabacloud_fc20230330.client"] = None
sys.modules["mns"] = None
sys.modules["mns.account"] = None
sys.modules["responses"] = None
''')
    only_fcemu.makepyfile('''
def test_fc(fc_client): pass
def test_mns(mns_account): pass
def test_mock(fcemu_mock): pass
''')
    result = only_fcemu.runpytest("-rs", *ONLY_FCEMU)
    result.assert_outcomes(skipped=3)
    output = result.stdout.str()
    assert "fc_client needs the official FC SDK: pip install fcemu[sdk]" in output
    assert "mns_account needs the MNS SDK: pip install fcemu[sdk]" in output
    assert "fcemu_mock needs responses: pip install responses" in output
