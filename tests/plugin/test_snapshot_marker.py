"""``@pytest.mark.fcemu(snapshot=...)``: the state is built once by the hook, restored per test."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

CONFTEST = '''
import handlers

BUILT = []

def pytest_fcemu_snapshot(name, emulator):
    if name != "five-hundred":
        return None
    BUILT.append(name)
    emulator.register_function("f", handlers.ok)
    emulator.put_async_invoke_config("f", asyncTask=True, on_success="done")
    for i in range(500):
        emulator.invoke("f", b"x", asynchronous=True, delay=0 if i % 2 else 600)
    emulator.clock.advance(1)  # half succeeded, half waiting on their delay
    return True
'''

TESTS = '''
import pytest

from conftest import BUILT

def statuses(fcemu):
    found = {}
    for task in fcemu.tasks("f"):
        found[task["status"]] = found.get(task["status"], 0) + 1
    return found

@pytest.mark.fcemu(snapshot="five-hundred")
def test_first_gets_the_prepared_state_and_changes_it(fcemu):
    assert statuses(fcemu) == {"Succeeded": 250, "Enqueued": 250}
    assert len(fcemu.queue("done").messages()) == 250
    fcemu.drain()
    assert statuses(fcemu) == {"Succeeded": 500}
    NEXT.append(fcemu.invoke("f", b"y", asynchronous=True))

@pytest.mark.fcemu(snapshot="five-hundred")
def test_second_gets_it_again_and_the_same_ids(fcemu):
    assert statuses(fcemu) == {"Succeeded": 250, "Enqueued": 250}
    assert fcemu.invoke("f", b"y", asynchronous=True) == NEXT[0]
    assert BUILT == ["five-hundred"]  # built once

def test_unmarked_tests_start_empty(fcemu):
    assert fcemu.snapshots()[0].snapshot_id == "five-hundred"  # kept, not restored
    assert fcemu.tasks("f") == []

@pytest.mark.fcemu(snapshot="unknown")
def test_a_name_no_hook_builds_is_an_error(fcemu):
    pass

NEXT = []
'''


def test_snapshot_marker_restores_the_hook_built_state(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makeconftest(CONFTEST)
    only_fcemu.makepyfile(TESTS)
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*no pytest_fcemu_snapshot hook builds it*"])


KEYED_CONFTEST = '''
BUILT = []

def pytest_fcemu_snapshot(name, emulator):
    if name != "s":
        return None
    BUILT.append(emulator.region)
    emulator.register_function("f-" + emulator.region, lambda event, context: event)
    return True
'''

KEYED_TESTS = '''
import pytest

from conftest import BUILT

@pytest.mark.fcemu(snapshot="s", region="cn-beijing")
def test_beijing(fcemu):
    assert (fcemu.region, fcemu.function_names()) == ("cn-beijing", ["f-cn-beijing"])

@pytest.mark.fcemu(snapshot="s")
def test_session_region(fcemu):
    assert (fcemu.region, fcemu.function_names()) == ("cn-hangzhou", ["f-cn-hangzhou"])

def test_takes_a_snapshot_itself(fcemu):
    fcemu.register_function("mine", lambda event, context: event)
    fcemu.snapshot("later")

@pytest.mark.fcemu(snapshot="later")
def test_a_snapshot_taken_in_a_test_is_gone_after_it(fcemu):
    pass

def test_built_once_per_settings(fcemu):
    assert sorted(BUILT) == ["cn-beijing", "cn-hangzhou"]
    assert sorted(i.snapshot_id for i in fcemu.snapshots()) == ["s", "s.2"]
'''


@pytest.mark.parametrize("order", ["as written", "reversed"])
def test_a_marker_snapshot_is_built_per_settings_and_test_snapshots_do_not_leak(
        only_fcemu: pytest.Pytester, order: str) -> None:
    only_fcemu.makeconftest(KEYED_CONFTEST)
    only_fcemu.makepyfile(KEYED_TESTS)
    names = ["test_beijing", "test_session_region", "test_takes_a_snapshot_itself",
             "test_a_snapshot_taken_in_a_test_is_gone_after_it"]
    if order == "reversed":
        names[:2] = names[1::-1]
    ids = [f"test_a_marker_snapshot_is_built_per_settings_and_test_snapshots_do_not_leak.py::{n}"
           for n in [*names, "test_built_once_per_settings"]]
    result = only_fcemu.runpytest(*ids, *ONLY_FCEMU)
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*snapshot='later'): no pytest_fcemu_snapshot hook builds it*"])
