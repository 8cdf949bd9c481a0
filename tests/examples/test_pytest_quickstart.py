"""README "pytest plugin": a downstream test, one fixture away from the emulator."""

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")

# -- snippet: quickstart --------------------------------------------------------------
from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions


def invoke_async(fc_client, function, task_id, body=b""):
    return fc_client.invoke_function_with_options(
        function, fc.InvokeFunctionRequest(body=body),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())


def resize(event, context):
    raise ValueError("not an image")


def test_failed_job_reaches_dead_letter_queue(fcemu, fc_client, fcemu_function):
    fcemu_function("resize", resize, on_failure="dlq",
                   async_config={"asyncTask": True, "maxAsyncRetryAttempts": 1})
    invoke_async(fc_client, "resize", "job-1", b"cat.txt")

    fcemu.drain()  # the manual clock jumps through both attempts and the retry backoff

    task = fc_client.get_async_task("resize", "job-1", fc.GetAsyncTaskRequest()).body
    assert task.status == "Failed"
    assert fcemu.queue("dlq").last.json()["requestContext"]["approximateInvokeCount"] == 2
# -- end ------------------------------------------------------------------------------
