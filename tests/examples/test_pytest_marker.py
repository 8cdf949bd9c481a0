"""README "pytest plugin": the marker and the clock fixture."""

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import ClientException

from tests.examples.test_pytest_quickstart import invoke_async


def ok(event, context):
    return event


# -- snippet: marker ------------------------------------------------------------------
@pytest.mark.fcemu(start="2024-05-01T00:00:00Z", seed=7)
def test_task_records_are_kept_for_seven_days(fcemu_clock, fc_client, fcemu_function):
    fcemu_function("job", ok, async_config={"asyncTask": True})
    invoke_async(fc_client, "job", "t1")

    fcemu_clock.advance(7 * 24 * 3600)  # fires every timer due on the way; no sleeping

    with pytest.raises(ClientException, match="AsyncTaskNotFound"):
        fc_client.get_async_task("job", "t1", fc.GetAsyncTaskRequest())
# -- end ------------------------------------------------------------------------------
