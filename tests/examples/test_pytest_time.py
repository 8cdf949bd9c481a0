"""docs/pytest-plugin.md "Frozen time": the emulator keeps serving under freezegun (the
follow-clock example is run verbatim from the page by test_docs_snippets.py)."""

# ruff: noqa: E402  (each snippet carries its own imports, as the README shows it)

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("freezegun", reason="pip install -e '.[test]'")
pytest.importorskip("time_machine", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions


def invoke_async(fc_client, function, task_id, body=b""):
    return fc_client.invoke_function_with_options(
        function, fc.InvokeFunctionRequest(body=body),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())


def ok(event, context):
    return event


# -- snippet: frozen ------------------------------------------------------------------
from freezegun import freeze_time


def test_emulator_keeps_serving_under_freezegun(fcemu, fc_client, fcemu_function):
    with freeze_time("2020-01-01"):
        fcemu_function("job", ok, async_config={"asyncTask": True})
        invoke_async(fc_client, "job", "t1")
        fcemu.drain()
        assert fcemu.task("job", "t1")["status"] == "Succeeded"
# -- end ------------------------------------------------------------------------------

