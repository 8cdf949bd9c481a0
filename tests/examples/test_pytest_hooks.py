"""README "pytest plugin": hooks in a downstream conftest.py (run with pytester)."""

from __future__ import annotations

import pytest

CONFTEST = '''
# -- snippet: hooks -------------------------------------------------------------------
# conftest.py
def pytest_fcemu_settings(config, settings):
    return settings.replace(region="cn-shanghai")  # before the session's emulator starts

def pytest_fcemu_setup(emulator):  # after each reset: what every test needs
    emulator.register_function("thumbnail", lambda event, context: event[:8])
    emulator.put_async_invoke_config("thumbnail", asyncTask=True, on_success="thumbs")

FINISHED = []

def pytest_fcemu_task_finished(task):  # on the test thread, when settle()/drain() returns
    FINISHED.append((task["functionName"], task["status"]))
# -- end ------------------------------------------------------------------------------
'''

TEST = '''
import urllib.request

from conftest import FINISHED

def test_every_test_has_the_thumbnail_function(fcemu):
    request = urllib.request.Request(
        fcemu.endpoint + "/2023-03-30/functions/thumbnail/invocations", data=b"0123456789",
        method="POST", headers={"x-fc-invocation-type": "Async"})
    urllib.request.urlopen(request).close()
    fcemu.drain()
    assert fcemu.region == "cn-shanghai"
    assert fcemu.queue("thumbs").last.json()["responsePayload"] == "01234567"
    assert FINISHED == [("thumbnail", "Succeeded")]
'''


def test_hooks_example(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-p", "pytest_fcemu.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
