"""freezegun and time-machine: the emulator keeps serving; follow mode agrees with them."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

COMMON = '''
import time
from datetime import datetime, timezone

import pytest
from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions

import handlers

T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
FROZEN = "2020-01-01T00:00:00Z"
FROZEN_MS = 1_577_836_800_000

def invoke_async(client, task_id, body=b"x"):
    client.invoke_function_with_options(
        "job", fc.InvokeFunctionRequest(body=body),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())

def status(client, task_id):
    return client.get_async_task("job", task_id, fc.GetAsyncTaskRequest()).body.status
'''

KEEPS_SERVING = COMMON + '''
from {module} import {freeze}

def test_manual_clock(fcemu, fc_client, fcemu_function):
    with {freeze}(FROZEN{extra}):
        fcemu_function("job", handlers.ok, async_config={{"asyncTask": True}})
        invoke_async(fc_client, "t1")
        fcemu.drain()
        assert status(fc_client, "t1") == "Succeeded"
        assert fcemu.clock.now() == T0  # the emulator's own clock is untouched

@pytest.mark.fcemu(clock="real")
def test_real_clock(fcemu, fc_client, fcemu_function):
    with {freeze}(FROZEN{extra}):
        fcemu_function("job", handlers.ok, async_config={{"asyncTask": True}})
        invoke_async(fc_client, "t1")
        fcemu.settle()
        assert status(fc_client, "t1") == "Succeeded"
        assert time.time() * 1000 < fcemu.clock.now()  # real time, not the frozen one

def test_worker_process_handler(fcemu, fc_client, fcemu_function, tmp_path):
    (tmp_path / "index.py").write_text("def handler(event, context):\\n    return event\\n")
    with {freeze}(FROZEN{extra}):
        fcemu_function("job", code=tmp_path, async_config={{"asyncTask": True}}, timeout=5)
        invoke_async(fc_client, "t1")
        fcemu.drain()
        assert status(fc_client, "t1") == "Succeeded"
'''


@pytest.mark.parametrize(("module", "freeze", "extra"), [
    ("freezegun", "freeze_time", ""),
    ("time_machine", "travel", ", tick=False"),
])
def test_emulator_keeps_serving_under_frozen_time(only_fcemu: pytest.Pytester, module: str,
                                                  freeze: str, extra: str) -> None:
    pytest.importorskip(module, reason="pip install -e '.[test]'")
    only_fcemu.makepyfile(KEEPS_SERVING.format(module=module, freeze=freeze, extra=extra))
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=3)


FOLLOW_FREEZEGUN = COMMON + '''
from freezegun import freeze_time

pytestmark = pytest.mark.fcemu(clock="follow")

def test_backoff_follows_frozen_time(fcemu, fc_client, fcemu_function):
    with freeze_time(FROZEN) as frozen:
        fcemu_function("job", handlers.fail, on_failure="dlq",
                       async_config={"asyncTask": True, "maxAsyncRetryAttempts": 2})
        assert fcemu.clock.now() == int(time.time() * 1000) == FROZEN_MS
        invoke_async(fc_client, "t1")
        fcemu.settle()
        assert status(fc_client, "t1") == "Retrying"  # first retry due at +0.5 s
        frozen.tick(0.5)
        assert status(fc_client, "t1") == "Retrying"  # the request itself fired the retry
        frozen.tick(1)
        assert status(fc_client, "t1") == "Failed"
        message = fcemu.queue("dlq").last.json()
        assert message["requestContext"]["approximateInvokeCount"] == 3
        assert message["timestamp"] == FROZEN_MS + 1500

def test_task_times_are_the_test_s_time(fcemu, fc_client, fcemu_function):
    with freeze_time(FROZEN):
        fcemu_function("job", handlers.ok, async_config={"asyncTask": True})
        invoke_async(fc_client, "t1")
        fcemu.settle()
        task = fcemu.task("job", "t1")
        assert task["startedTime"] == task["endTime"] == FROZEN_MS
'''

FOLLOW_TIME_MACHINE = COMMON + '''
import time_machine

@pytest.mark.fcemu(clock="follow")
def test_event_age_follows_travelled_time(fcemu, fc_client, fcemu_function):
    with time_machine.travel(FROZEN, tick=False) as traveller:
        fcemu_function("job", handlers.fail, on_failure="dlq", async_config={
            "asyncTask": True, "maxAsyncRetryAttempts": 3, "maxAsyncEventAgeInSeconds": 1})
        invoke_async(fc_client, "t1")
        traveller.shift(0.5)   # retry 1 runs
        traveller.shift(1.0)   # retry 2 is due at age 1.5 s > 1 s
        fcemu.settle()
        # it ran and failed: Failed with its last error, not Expired (docs/fidelity.md)
        assert status(fc_client, "t1") == "Failed"
        condition = fcemu.queue("dlq").last.json()["requestContext"]["condition"]
        assert condition == "InvocationError"
'''


def test_follow_mode_with_freezegun(only_fcemu: pytest.Pytester) -> None:
    pytest.importorskip("freezegun", reason="pip install -e '.[test]'")
    only_fcemu.makepyfile(FOLLOW_FREEZEGUN)
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=2)


def test_follow_mode_with_time_machine(only_fcemu: pytest.Pytester) -> None:
    pytest.importorskip("time_machine", reason="pip install -e '.[test]'")
    only_fcemu.makepyfile(FOLLOW_TIME_MACHINE)
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=1)
