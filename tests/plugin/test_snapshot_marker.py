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
