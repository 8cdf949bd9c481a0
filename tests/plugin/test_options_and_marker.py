"""The fcemu marker, --fcemu-* options, FCEMU_* variables and fcemu_* ini keys take effect."""

from __future__ import annotations

import pytest

from tests.constants import T0
from tests.plugin.conftest import ONLY_FCEMU

T1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

SESSION_DEFAULTS = '''
def test_defaults(fcemu, fcemu_clock):
    assert fcemu.settings.clock == "manual" and fcemu_clock.mode == "manual"
    assert fcemu_clock.now() == {T0}
    assert fcemu.settings.seed == 0
    assert fcemu.settings.port == 0 and fcemu.port > 0
'''


def test_plugin_defaults_manual_clock_seed_0_free_port(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(SESSION_DEFAULTS.format(T0=T0))
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=1)


MARKED = '''
import pytest

@pytest.mark.fcemu(start="2024-01-01T00:00:00Z", seed=7, region="cn-shanghai")
def test_marker(fcemu, fcemu_clock):
    assert fcemu_clock.now() == {T1}
    assert (fcemu.settings.seed, fcemu.region) == (7, "cn-shanghai")
    fcemu_clock.advance(3600)

def test_next_test_gets_the_session_settings_back(fcemu, fcemu_clock):
    assert fcemu_clock.now() == {T0}
    assert (fcemu.settings.seed, fcemu.region) == (0, "cn-hangzhou")

@pytest.mark.fcemu(clock="real")
def test_real_clock_runs_on_its_own_server(fcemu, fcemu_server, fcemu_clock):
    assert fcemu_clock.mode == "real" and fcemu is not fcemu_server
    with pytest.raises(ValueError, match="needs the manual clock"):
        fcemu_clock.advance(1)

def test_back_on_the_session_server(fcemu, fcemu_server):
    assert fcemu is fcemu_server

@pytest.mark.fcemu(seed=3)
class TestClassMarker:
    @pytest.mark.fcemu(start={T1})
    def test_closest_marker_wins_per_key(self, fcemu, fcemu_clock):
        assert (fcemu.settings.seed, fcemu_clock.now()) == (3, {T1})
'''


def test_marker_takes_effect_and_is_undone_after_the_test(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(MARKED.format(T0=T0, T1=T1))
    result = only_fcemu.runpytest("--strict-markers", *ONLY_FCEMU)
    result.assert_outcomes(passed=5)


def test_marker_errors_say_what_is_allowed(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile('''
import pytest

@pytest.mark.fcemu(colour="blue")
def test_unknown(fcemu): pass

@pytest.mark.fcemu(clock="sundial")
def test_bad_clock(fcemu): pass
''')
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unknown setting 'colour'; use expect_errors, snapshot, "
                                 "start or one of*",
                                 "*fcemu clock must be manual, real or follow, got 'sundial'*"])


OPTIONS = '''
def test_options(fcemu, fcemu_clock):
    assert fcemu_clock.now() == {T1}
    assert (fcemu.settings.seed, fcemu.region, fcemu.account_id) == (5, "cn-beijing", "42")
'''


def test_command_line_options(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(OPTIONS.format(T1=T1))
    result = only_fcemu.runpytest("--fcemu-start", "2024-01-01T00:00:00Z", "--fcemu-seed", "5",
                                "--fcemu-region", "cn-beijing", "--fcemu-account-id", "42",
                                *ONLY_FCEMU)
    result.assert_outcomes(passed=1)


def test_ini_keys_environment_and_options_in_order_of_precedence(
        only_fcemu: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    only_fcemu.makeini('''
[pytest]
fcemu_start = 2024-01-01T00:00:00Z
fcemu_seed = 9
fcemu_region = cn-beijing
fcemu_account_id = 1
''')
    monkeypatch.setenv("FCEMU_SEED", "5")
    monkeypatch.setenv("FCEMU_ACCOUNT_ID", "2")
    only_fcemu.makepyfile(OPTIONS.format(T1=T1))
    result = only_fcemu.runpytest("--strict-config", "--fcemu-account-id", "42",
                                *ONLY_FCEMU)
    result.assert_outcomes(passed=1)


CONFIGURED = '''
import pytest

def test_session_config_deploys_after_each_reset(fcemu):
    assert [f["functionName"] for f in functions(fcemu)] == ["from-ini"]

@pytest.mark.fcemu(config="marker.fcemu.yaml")
def test_marker_config_replaces_it(fcemu):
    assert [f["functionName"] for f in functions(fcemu)] == ["from-marker"]

def functions(fcemu):
    import json, urllib.request
    with urllib.request.urlopen(fcemu.endpoint + "/2023-03-30/functions") as answer:
        return json.load(answer)["functions"]
'''

DEPLOYMENT = '''
functions:
  {name}:
    runtime: python3.10
    handler: index.handler
    code: code
'''


def test_config_files_from_ini_and_marker(only_fcemu: pytest.Pytester) -> None:
    (only_fcemu.path / "code").mkdir()
    (only_fcemu.path / "code" / "index.py").write_text("def handler(e, c):\n    return e\n")
    (only_fcemu.path / "ini.fcemu.yaml").write_text(DEPLOYMENT.format(name="from-ini"))
    (only_fcemu.path / "marker.fcemu.yaml").write_text(DEPLOYMENT.format(name="from-marker"))
    only_fcemu.makeini("[pytest]\nfcemu_config = ini.fcemu.yaml\n")
    only_fcemu.makepyfile(CONFIGURED)
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(passed=2)


def test_settings_of_the_session_config_file_under_explicit_options(
        only_fcemu: pytest.Pytester) -> None:
    (only_fcemu.path / "fcemu.yaml").write_text(
        "settings: {start: 2024-01-01T00:00:00Z, seed: 3, region: cn-beijing, port: 9000}\n")
    only_fcemu.makepyfile(f'''
def test_settings(fcemu, fcemu_clock):
    assert fcemu_clock.now() == {T1}
    assert (fcemu.settings.seed, fcemu.region, fcemu.settings.port) == (4, "cn-beijing", 0)
''')
    result = only_fcemu.runpytest("--fcemu-config", "fcemu.yaml", "--fcemu-seed", "4",
                                  *ONLY_FCEMU)
    result.assert_outcomes(passed=1)


def test_marker_refuses_what_only_the_session_sets(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile('''
import pytest

@pytest.mark.fcemu(data_dir="data")
def test_data_dir(fcemu): pass

@pytest.mark.fcemu(durability="relaxed")
def test_durability(fcemu): pass
''')
    result = only_fcemu.runpytest(*ONLY_FCEMU)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*fcemu cannot set 'data_dir': the session's emulator starts with it*set it for "
        "the session with the settings: block of a --fcemu-config / fcemu_config file*",
        "*fcemu cannot set 'durability'*"])
    assert not (only_fcemu.path / "data").exists()


@pytest.mark.parametrize(("args", "env", "error"), [
    (("--fcemu-seed=abc",), {}, "fcemu seed must be a whole number, got 'abc'"),
    (("--fcemu-seed=1.5",), {}, "fcemu seed must be a whole number, got '1.5'"),
    ((), {"FCEMU_SEED": "abc"}, "fcemu seed must be a whole number, got 'abc'"),
    (("--fcemu-start=notadate",), {}, "fcemu start must be ISO 8601 or epoch milliseconds, "
                                      "got 'notadate'*"),
    ((), {"FCEMU_START": "yesterday"}, "fcemu start must be ISO 8601*got 'yesterday'*"),
    (("--fcemu-clock=sundial",), {}, "fcemu clock must be manual, real or follow*"),
])
def test_a_bad_option_is_a_usage_error(only_fcemu: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                       args: tuple[str, ...], env: dict[str, str],
                                       error: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    only_fcemu.makepyfile("def test_nothing(): pass\n")
    result = only_fcemu.runpytest(*args, *ONLY_FCEMU)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {error}"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
