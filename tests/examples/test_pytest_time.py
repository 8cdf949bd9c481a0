"""README "pytest plugin": frozen time, and the follow clock."""

# ruff: noqa: E402  (each snippet carries its own imports, as the README shows it)

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("freezegun", reason="pip install -e '.[test]'")
pytest.importorskip("time_machine", reason="pip install -e '.[test]'")

from tests.examples.test_pytest_quickstart import invoke_async


def ok(event, context):
    return event


def flaky(event, context):
    raise RuntimeError("try again later")


# -- snippet: frozen ------------------------------------------------------------------
from freezegun import freeze_time


def test_emulator_keeps_serving_under_freezegun(fcemu, fc_client, fcemu_function):
    with freeze_time("2020-01-01"):
        fcemu_function("job", ok, async_config={"asyncTask": True})
        invoke_async(fc_client, "job", "t1")
        fcemu.drain()
        assert fcemu.task("job", "t1")["status"] == "Succeeded"
# -- end ------------------------------------------------------------------------------


# -- snippet: follow ------------------------------------------------------------------
import time_machine


@pytest.mark.fcemu(clock="follow")
def test_retries_follow_the_test_s_time(fcemu, fc_client, fcemu_function):
    with time_machine.travel("2024-05-01T00:00:00Z", tick=False) as traveller:
        fcemu_function("job", flaky, async_config={"asyncTask": True, "maxAsyncRetryAttempts": 1})
        invoke_async(fc_client, "job", "t1")
        fcemu.settle()
        assert fcemu.task("job", "t1")["status"] == "Retrying"  # the retry is due at +0.5 s
        traveller.shift(0.5)  # the next call or request fires it first
        assert fcemu.task("job", "t1")["status"] == "Failed"
# -- end ------------------------------------------------------------------------------
