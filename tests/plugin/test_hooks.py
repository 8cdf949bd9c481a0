"""Each hook is called with its documented arguments, on the test thread."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

CONFTEST = '''
import threading

import pytest

import handlers
from fcemu import Emulator, Settings

LOG = []

def pytest_fcemu_settings(config, settings):
    assert isinstance(config, pytest.Config) and isinstance(settings, Settings)
    LOG.append(("settings", settings.region, threading.current_thread() is threading.main_thread()))
    return settings.replace(region="cn-shanghai")

def pytest_fcemu_setup(emulator, request):
    assert isinstance(emulator, Emulator) and isinstance(request, pytest.FixtureRequest)
    LOG.append(("setup", request.node.name, emulator.clock.now()))
    emulator.register_function("common", handlers.ok)
    emulator.put_async_invoke_config("common", asyncTask=True, on_success="done")

def pytest_fcemu_task_finished(task, emulator):
    assert isinstance(emulator, Emulator)
    LOG.append(("finished", task["functionName"], task["taskId"], task["status"],
                threading.current_thread() is threading.main_thread()))

@pytest.fixture
def hook_log():
    return LOG
'''

TESTS = '''
import urllib.request

T0 = 1_714_521_600_000

def invoke_async(fcemu, task_id):
    request = urllib.request.Request(
        fcemu.endpoint + "/2023-03-30/functions/common/invocations", data=b"x", method="POST",
        headers={"x-fc-invocation-type": "Async", "x-fc-async-task-id": task_id})
    urllib.request.urlopen(request).close()

def test_settings_hook_ran_once_before_the_server_started(fcemu, hook_log):
    assert hook_log[0] == ("settings", "cn-hangzhou", True)
    assert fcemu.region == "cn-shanghai"

def test_setup_hook_deploys_after_each_reset(fcemu, hook_log):
    assert hook_log[-1] == ("setup", "test_setup_hook_deploys_after_each_reset", T0)
    assert fcemu.queue("done").messages() == []

def test_task_finished_is_delivered_when_drain_returns(fcemu, hook_log):
    invoke_async(fcemu, "t1")
    assert hook_log[-1][0] == "setup"
    fcemu.drain()
    assert hook_log[-1] == ("finished", "common", "t1", "Succeeded", True)

def test_task_finished_is_delivered_at_the_end_of_the_test(fcemu, hook_log):
    invoke_async(fcemu, "t2")

def test_previous_task_was_delivered(hook_log):
    assert ("finished", "common", "t2", "Succeeded", True) in hook_log
    assert sum(1 for entry in hook_log if entry[0] == "settings") == 1
'''


def test_hooks_are_called_with_the_documented_arguments(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makeconftest(CONFTEST)
    only_fcemu.makepyfile(TESTS)
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(passed=5)


def test_first_settings_result_wins(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(other_plugin='''
def pytest_fcemu_settings(settings):
    raise AssertionError("not called: an earlier implementation returned settings")
''')
    only_fcemu.makeconftest('''
import pytest

pytest_plugins = ["other_plugin"]

@pytest.hookimpl(tryfirst=True)
def pytest_fcemu_settings(settings):
    return settings.replace(seed=11)
''')
    only_fcemu.makepyfile("def test_seed(fcemu):\n    assert fcemu.settings.seed == 11\n")
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=1)


def test_a_task_finished_hook_that_raises_loses_no_other_task(
        only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makeconftest('''
SEEN = []

def pytest_fcemu_task_finished(task):
    SEEN.append(task["taskId"])
    if task["taskId"] == "a":
        raise RuntimeError("hook bug")
''')
    only_fcemu.makepyfile('''
import pytest

from conftest import SEEN

def deploy(fcemu):
    fcemu.register_function("f", lambda event, context: event)
    fcemu.put_async_invoke_config("f", async_task=True)
    for task_id in "abc":
        fcemu.invoke("f", b"", asynchronous=True, task_id=task_id)

def test_the_rest_is_delivered_then_the_error_raised(fcemu):
    deploy(fcemu)
    with pytest.raises(RuntimeError, match="hook bug"):
        fcemu.drain()
    fcemu.settle()
    assert sorted(SEEN) == ["a", "b", "c"]

def test_the_test_fails_with_the_hook_error(fcemu):
    SEEN.clear()
    deploy(fcemu)
    fcemu.drain()
''')
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: hook bug*"])
