"""README "pytest plugin": mock mode, for code that builds its own clients."""

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("responses", reason="pip install -e '.[test]'")

# -- snippet: mock --------------------------------------------------------------------
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions


def submit_report_job(report_id):  # the code under test: the real endpoint, over HTTPS
    client = Client(Config(access_key_id="AK", access_key_secret="SK", region_id="cn-hangzhou"))
    client.invoke_function_with_options(
        "report", fc.InvokeFunctionRequest(body=report_id.encode()),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=report_id),
        RuntimeOptions())


def test_report_job_in_mock_mode(fcemu_mock, fcemu_function):
    fcemu_function("report", lambda event, context: b"done", on_success="reports")
    submit_report_job("r-1")
    fcemu_mock.drain()
    assert fcemu_mock.queue("reports").last.json()["responsePayload"] == "done"
# -- end ------------------------------------------------------------------------------
