"""Follow mode's edges, with the project's own fixtures: rewinds, refusals, explicit moves."""

from __future__ import annotations

import threading
import urllib.request

import pytest

from fcemu import Emulator, ServerSideError
from fcemu.follow import process_time_ns
from tests.constants import HOUR_MS, T0

freezegun = pytest.importorskip("freezegun", reason="pip install -e '.[test]'")
time_machine = pytest.importorskip("time_machine", reason="pip install -e '.[test]'")


def ok(event, context):
    return event


def invoke_async(emu: Emulator, function: str, task_id: str) -> None:
    request = urllib.request.Request(
        f"{emu.endpoint}/2023-03-30/functions/{function}/invocations", data=b"x", method="POST",
        headers={"x-fc-invocation-type": "Async", "x-fc-async-task-id": task_id})
    urllib.request.urlopen(request).close()


def test_process_time_is_the_frozen_time_on_any_thread() -> None:
    seen: list[int] = []
    with freezegun.freeze_time("2024-05-01T00:00:00.250Z"):
        thread = threading.Thread(target=lambda: seen.append(process_time_ns()))
        thread.start()
        thread.join()
    with time_machine.travel(T0 / 1000, tick=False):
        seen.append(process_time_ns())
    assert seen == [(T0 + 250) * 1_000_000, T0 * 1_000_000]


@pytest.mark.fcemu(clock="follow", expect_errors=True)
def test_backwards_under_work_is_refused_with_what_to_do(fcemu, fcemu_function):
    with time_machine.travel(T0 / 1000, tick=False) as traveller:
        fcemu_function("job", ok, async_config={"asyncTask": True})
        invoke_async(fcemu, "job", "t1")  # its record is retained: a timer is pending
        traveller.move_to((T0 - HOUR_MS) / 1000)
        invoke_async(fcemu, "job", "t2")  # the request path records the refusal
        with pytest.raises(ServerSideError, match="can't go back under work"):
            fcemu.check()
        traveller.move_to((T0 - 2 * HOUR_MS) / 1000)
        with pytest.raises(ValueError, match="freeze time before deploying and invoking, or "
                                             "call reset"):
            fcemu.clock.now()
        assert fcemu.task("job", "t2")["startedTime"] == T0  # the clock stayed where it was
        fcemu.reset()
        assert fcemu.clock.now() == T0 - 2 * HOUR_MS  # a reset anchors it again


@pytest.mark.fcemu(clock="follow")
def test_explicit_moves_run_ahead_until_the_test_catches_up(fcemu, fcemu_clock):
    with time_machine.travel(T0 / 1000, tick=False) as traveller:
        assert fcemu_clock.now() == T0
        fcemu_clock.advance(3600)
        assert fcemu_clock.now() == T0 + HOUR_MS  # ahead of the test's time, and stays
        traveller.shift(1800)
        assert fcemu_clock.now() == T0 + HOUR_MS
        traveller.shift(3600)
        assert fcemu_clock.now() == T0 + HOUR_MS + HOUR_MS // 2


@pytest.mark.fcemu(clock="follow")
def test_idle_emulator_follows_a_later_freeze_backwards(fcemu, fcemu_function):
    fcemu_function("job", ok)  # deployed on real time: nothing scheduled
    with freezegun.freeze_time("2020-01-01"):
        assert fcemu.clock.now() == 1_577_836_800_000
        invoke_async(fcemu, "job", "t1")
        fcemu.settle()
        assert fcemu.task("job", "t1")["startedTime"] == 1_577_836_800_000
