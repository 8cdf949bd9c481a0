"""A server-side error fails the test that caused it, with the server's traceback."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

CONFTEST = '''
import pytest

@pytest.fixture
def break_the_emulator(fcemu):
    """What a bug inside fcemu looks like: background work on its loop fails."""
    def run():
        async def spawn(engine):
            async def broken_delivery():
                raise RuntimeError("emulator bug in broken_delivery")
            engine.scheduler.spawn(broken_delivery(), name="broken delivery")
        fcemu.call(spawn)
    return run
'''

TESTS = '''
import pytest

def test_caused_an_error(fcemu, break_the_emulator):
    break_the_emulator()

def test_after_it_is_clean(fcemu):
    pass

@pytest.mark.fcemu(expect_errors=True)
def test_expected_errors_pass(fcemu, break_the_emulator):
    break_the_emulator()

def test_failing_test_shows_them_too(fcemu, break_the_emulator):
    break_the_emulator()
    assert 1 == 2, "the test's own failure"
'''


def test_server_side_errors_fail_the_test_that_caused_them(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makeconftest(CONFTEST)
    only_fcemu.makepyfile(TESTS)
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_caused_an_error _*",
        "*ServerSideError: 1 server-side error(s) in fcemu:*",
        "*--- broken delivery ---*",
        "*in broken_delivery*",
        "*RuntimeError: emulator bug in broken_delivery*",
        "*_ test_failing_test_shows_them_too _*",
        "*the test's own failure*",
        "*- Captured fcemu server-side errors call -*",
        "*RuntimeError: emulator bug in broken_delivery*",
    ])
    result.stdout.fnmatch_lines(["FAILED *::test_caused_an_error*"])
