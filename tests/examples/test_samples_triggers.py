"""Triggers from deployment files: the nightly-timer sample (fixtures/samples/nightly-timer,
an fc3 ``s.yaml`` timer with a failure destination) run for a week of manual clock through
the CLI; ``fcemu.yaml`` triggers checked at their line, deployed, reloaded by ``--watch``
and listed by ``fcemu triggers``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fcemu
from fcemu.config import ConfigError, load_settings
from fcemu.settings import Settings
from tests.cli.conftest import ROOT, serving_here
from tests.constants import HOUR_MS, T0

SAMPLE = ROOT / "fixtures" / "samples" / "nightly-timer"
DAY_MS = 24 * HOUR_MS

FCEMU_YAML = """\
functions:
  web:
    runtime: python3.10
    handler: index.handler
    code: ./code
    triggers:
      - triggerName: tick
        triggerType: timer
        triggerConfig:
          cronExpression: "{cron}"
          enable: true
          payload: hi
      - triggerName: http
        triggerType: http
        triggerConfig: {{"authType": "anonymous", "methods": ["GET"]}}
"""


def test_nightly_timer_sample_runs_a_week(capsys: pytest.CaptureFixture[str]) -> None:
    with serving_here(capsys, "--clock", "manual", "--config", str(SAMPLE / "s.yaml")) as cli:
        listed = cli("triggers", "nightly-report")
        assert listed.code == 0, listed.err
        assert "nightly" in listed.out and "0 0 2 * * *" in listed.out
        assert "2024-05-01T02:00:00.000Z" in listed.out  # its next fire
        drained = cli("drain", "--until", "2024-05-08T00:00:00Z")
        assert drained.code == 0, drained.err
        emu = cli.service.emulator
        tasks = emu.tasks("nightly-report")
        assert [t["startedTime"] for t in tasks] == [T0 + 2 * HOUR_MS + d * DAY_MS
                                                     for d in range(7)]
        failed = [t for t in tasks if t["status"] == "Failed"]
        assert [t["startedTime"] for t in failed] == [T0 + 2 * HOUR_MS + 4 * DAY_MS]  # Sunday
        assert sum(t["status"] == "Succeeded" for t in tasks) == 6
        (message,) = emu.queue("nightly-failures").json()
        assert message["requestContext"]["condition"] == "InvocationError"
        assert message["requestContext"]["approximateInvokeCount"] == 2
        assert json.loads(message["requestPayload"]) == {
            "triggerTime": "2024-05-05T02:00:00Z", "triggerName": "nightly",
            "payload": '{"report": "daily-sales"}'}
        assert "warehouse is closed" in message["responsePayload"]
        as_json = json.loads(cli("triggers", "--json").out)
        (trigger,) = as_json["triggers"]
        assert trigger["nextFireTime"] == T0 + 2 * HOUR_MS + 7 * DAY_MS


def _project(tmp_path: Path, cron: str) -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "index.py").write_text(
        "def handler(event, context):\n    return event\n")
    path = tmp_path / "fcemu.yaml"
    path.write_text(FCEMU_YAML.format(cron=cron))
    return path


def test_fcemu_yaml_triggers_deploy_and_reload(tmp_path: Path) -> None:
    path = _project(tmp_path, "@every 1h")
    settings = load_settings([path], Settings(port=0, clock="manual")).replace(config=(path,))
    with fcemu.Emulator(settings) as emu:
        names = [t["triggerName"] for t in emu.list_triggers("web")]
        assert names == ["http", "tick"]
        assert emu.next_trigger_fires() == [("web", "tick", T0 + HOUR_MS)]
        assert emu.get_trigger("web", "http")["httpTrigger"]["urlInternet"].startswith(
            emu.endpoint)
        emu.watch_config(interval=None)
        path.write_text(FCEMU_YAML.format(cron="@every 10m").replace(
            "      - triggerName: http\n        triggerType: http\n"
            "        triggerConfig: {\"authType\": \"anonymous\", \"methods\": [\"GET\"]}\n",
            ""))
        assert emu.poll_config()
        assert [t["triggerName"] for t in emu.list_triggers("web")] == ["tick"]
        assert emu.next_trigger_fires() == [("web", "tick", T0 + 10 * 60_000)]
        emu.reset()  # the files are deployed again, triggers with them
        assert emu.next_trigger_fires() == [("web", "tick", T0 + 10 * 60_000)]


def test_a_bad_trigger_in_a_file_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _project(tmp_path, "0 0 25 * * *")
    settings = Settings(port=0, clock="manual").replace(config=(path,))
    with pytest.raises(ConfigError) as info:
        fcemu.Emulator(settings).start()
    text = str(info.value)
    assert "fcemu.yaml" in text and "trigger 'tick'" in text
    assert "hours field '25': 25 is outside 0-23" in text


def test_check_lists_the_triggers() -> None:
    from tests.cli.conftest import fcemu as run

    result = run("check", str(SAMPLE / "s.yaml"))
    assert result.code == 0, result.err
    assert "triggers nightly-report/nightly (timer)" in result.out
    doc = json.loads(run("check", "--json", str(SAMPLE / "s.yaml")).out)
    (trigger,) = doc["functions"]["nightly-report"]["triggers"]
    assert json.loads(trigger["triggerConfig"])["cronExpression"] == "0 0 2 * * *"
