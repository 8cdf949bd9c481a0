"""``fcemu serve --config`` start-up, ``fcemu check``, ``config-schema`` and ``--watch``.

``fcemu serve`` runs in this process here (:func:`serving_here`), and ``--watch`` looks at
the files when the test says so (``poll()``), so nothing waits on real time; one
end-to-end smoke test runs ``fcemu serve --watch --instance-idle-seconds`` as a real
subprocess, whose watcher and idle timer run in real time.
"""

from __future__ import annotations

import json
import logging
import os
import select
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fcemu.cli.main import build_parser
from fcemu.cli.serve import settings_from
from tests.cli.conftest import DEMO, ROOT, fcemu, serving, serving_here

SAMPLES = ROOT / "fixtures" / "samples"

PROJECT = """\
settings:
  clock: manual
  region: cn-beijing
  seed: 3
functions:
  job:
    runtime: python3
    handler: index.handler
    code: ./code
    asyncInvokeConfig:
      asyncTask: true
"""


def make_project(root: Path, text: str = PROJECT, version: str = "v1") -> Path:
    (root / "code").mkdir(exist_ok=True)
    (root / "code" / "index.py").write_text(
        f"def handler(event, context):\n    return b'{version}:' + event\n")
    (root / "fcemu.yaml").write_text(text)
    return root / "fcemu.yaml"


@pytest.mark.parametrize(("text", "where"), [
    (PROJECT + "    timeout: forever\n", "fcemu.yaml:12: functions.job.timeout: must be an "
                                         "integer, got 'forever'"),
    (PROJECT.replace("asyncTask: true", "asyncTask: true\n      maxAsyncRetryAttempts: 10"),
     "fcemu.yaml:12: functions.job.asyncInvokeConfig.maxAsyncRetryAttempts: must be between "
     "0 and 8, got 10"),
    (PROJECT.replace("clock: manual", "clock: frozen"),
     "fcemu.yaml:2: settings.clock: must be one of 'real', 'manual'; got 'frozen'"),
], ids=["type", "range", "enum"])
def test_serve_fails_fast_on_a_bad_file(tmp_path: Path, text: str, where: str) -> None:
    make_project(tmp_path, text)
    result = fcemu("serve", "--port", "0", "--config", "fcemu.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.out == ""  # never listened
    assert result.err.strip() == f"fcemu: {where}"


def test_check_and_config_schema(tmp_path: Path) -> None:
    good = fcemu("check", "s.yaml", "fast.fcemu.yaml", cwd=DEMO)
    assert (good.code, good.out.strip()) == (0, "ok: functions my-fc-job; queues myqueue")
    doc = json.loads(fcemu("check", "s.yaml", "--json", cwd=DEMO).out)
    assert doc["functions"]["my-fc-job"]["function"]["timeout"] == 60
    assert doc["settings"] == {"region": "cn-hangzhou"}
    make_project(tmp_path, PROJECT.replace("runtime: python3", "runtime: java11"))
    bad = fcemu("check", "fcemu.yaml", cwd=tmp_path)
    assert bad.code == 2
    assert bad.err.startswith("fcemu: fcemu.yaml:7: functions.job.runtime: runtime 'java11' "
                              "is not supported by fcemu: use python3 or any python3.N, "
                              "e.g. python3.10 or python3.12")
    schema = json.loads(fcemu("config-schema").out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "functions" in schema["properties"]


def test_check_reports_every_error(tmp_path: Path) -> None:
    make_project(tmp_path, PROJECT.replace("clock: manual", "clock: frozen")
                 + "    timout: 5\n    memorySize: 100\n")
    for command in (("check", "fcemu.yaml"), ("serve", "--port", "0", "--config", "fcemu.yaml")):
        result = fcemu(*command, cwd=tmp_path)
        assert (result.code, result.out) == (2, "")
        assert result.err.splitlines() == [
            "fcemu: 3 errors in the deployment files:",
            "  fcemu.yaml:2: settings.clock: must be one of 'real', 'manual'; got 'frozen'",
            "  fcemu.yaml:12: functions.job.timout: unknown field (did you mean 'timeout'?)",
            "  fcemu.yaml:13: functions.job.memorySize: must be between 128 and 32768, got 100",
        ]


def test_file_settings_and_explicit_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    with serving_here(capsys, "--config", "fcemu.yaml", "--region", "cn-shanghai") as server:
        # clock and seed come from the file, the region from the command line
        assert "(clock=manual, region=cn-shanghai, account=1234567890123456)" in server.banner
        functions = json.loads(server("functions", "--json").out)["functions"]
        assert functions[0]["functionArn"] == \
            "acs:fc:cn-shanghai:1234567890123456:functions/job"


@pytest.mark.parametrize(("value", "seconds"), [("0.2", 0.2), ("0", 0.0), ("300", 300.0)])
def test_instance_idle_seconds_option(value: str, seconds: float) -> None:
    args = build_parser().parse_args(["serve", "--instance-idle-seconds", value])
    assert settings_from(args).instance_idle_seconds == seconds


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_instance_idle_seconds_refuses_bad_values(value: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--instance-idle-seconds", value])
    assert "--instance-idle-seconds" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (("--port", "99999"), "--port: must be between 0 and 65535, got 99999"),
    (("--port", "-1"), "--port: must be between 0 and 65535, got -1"),
    (("--port", "nine"), "--port: expected a whole number, got 'nine'"),
    (("--max-instances", "0"), "--max-instances: must be at least 1, got 0"),
    (("--allow-host", ""), "--allow-host: must not be empty"),
    (("--retry-base-ms", "-5"), "--retry-base-ms: must be at least 0, got -5"),
    (("--region", ""), "--region: '' does not match ^[a-z0-9-]+$"),
    (("--region", "bad region"), "--region: 'bad region' does not match ^[a-z0-9-]+$"),
    (("--account-id", "12ab"), "--account-id: '12ab' does not match ^[0-9]+$"),
    (("--node", ""), "--node: must not be empty"),
    (("--start-time", "garbage"), "--start-time: cannot read 'garbage' as a time"),
])
def test_serve_options_are_checked_as_the_settings_file_is(
        args: tuple[str, ...], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Audit 20, point 4: a bad option is a usage error (exit 2) naming it, never exit 70,
    exit 1 or silence; the checks are fcemu.yaml's (its JSON Schema)."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", *args])
    assert exit_.value.code == 2
    assert f"fcemu serve: error: argument {says}" in capsys.readouterr().err


def test_good_serve_options_still_make_settings() -> None:
    args = build_parser().parse_args([
        "serve", "--port", "0", "--max-instances", "1", "--retry-base-ms", "0", "--region",
        "cn-beijing", "--account-id", "42", "--allow-host", "Box.Test", "--start-time",
        "2024-05-01T00:00:00Z"])
    settings = settings_from(args)
    assert (settings.port, settings.max_instances, settings.retry_base_ms, settings.region,
            settings.account_id, settings.allow_hosts, settings.start_ms) == (
        0, 1, 0, "cn-beijing", "42", ("box.test",), 1714521600000)


def test_function_error_and_wait_on_a_real_clock(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The destinations sample on a real clock: a sync error exits 1; --wait follows a task."""
    monkeypatch.chdir(SAMPLES / "destinations")
    with serving_here(capsys, "--config", "fcemu.yaml") as server:
        failed = server("invoke", "charge", "--payload", '{"amount": -1}')
        assert failed.code == 1
        assert json.loads(failed.out)["errorMessage"] == "amount must be positive, got -1"
        assert "fcemu: function error UnhandledInvocationError (request " in failed.err
        waited = server("invoke", "charge", "--async", "--task-id", "t1", "--payload",
                        '{"amount": -2}', "--wait", "60")
        assert waited.code == 0, waited.err
        accepted, ended = waited.out.splitlines()
        assert accepted.startswith("accepted: task t1 (request ")
        assert ended == "task t1 ended Failed: UnhandledInvocationError"  # taskErrorMessage
        assert "task t1: Failed" in waited.err


def test_watch_redeploys_code_and_keeps_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    path = make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="fcemu.config.watch")
    with serving_here(capsys, "--config", "fcemu.yaml", "--watch") as server:
        assert server("invoke", "job", "--payload", "a").out.strip() == "v1:a"
        assert server("invoke", "job", "--async", "--task-id", "before", "--payload", "b").code \
            == 0
        assert server("drain").code == 0
        assert not server.poll()  # nothing changed yet
        make_project(tmp_path, PROJECT + "    timeout: 7\n", version="v2")
        assert server.poll()
        assert server("invoke", "job", "--payload", "a").out.strip() == "v2:a"
        functions = json.loads(server("functions", "--json").out)["functions"]
        assert functions[0]["timeout"] == 7
        task = json.loads(server("task", "job", "before", "--json").out)
        assert (task["status"], task["returnPayload"]) == ("Succeeded", "v1:b")
        reloaded = [r for r in caplog.records if r.getMessage() == "reloaded fcemu.yaml: job"]
        assert [r.levelname for r in reloaded] == ["INFO"]  # news, not a warning (issue 11)
        path.write_text(textwrap.dedent(PROJECT) + "    memorySize: 1\n")
        assert not server.poll()
        assert "not reloaded" in caplog.text
        assert "fcemu.yaml:12: functions.job.memorySize" in caplog.text
        assert server("invoke", "job", "--payload", "c").out.strip() == "v2:c"


def test_serve_watch_and_idle_instances_end_to_end(tmp_path: Path) -> None:
    """The smoke test: a real ``fcemu serve`` subprocess whose idle timer and ``--watch``
    poller run in real time (waited for on the instance's exit and on the stderr pipe)."""
    make_project(tmp_path)
    with serving("--config", "fcemu.yaml", "--watch", "--instance-idle-seconds", "0.2",
                 cwd=tmp_path, log=tmp_path / "serve.log", stderr_pipe=True) as server:
        assert server("invoke", "job", "--payload", "a").out.strip() == "v1:a"
        for instance in instances(server.url)["instances"]:
            wait_for_exit(instance["pid"], timeout=20)
        deadline = time.monotonic() + 20
        while (doc := instances(server.url))["live"]:  # the instance's output is drained
            assert time.monotonic() < deadline, doc
        assert doc["peak"] == 1
        make_project(tmp_path, PROJECT + "    timeout: 7\n", version="v2")
        server.wait_for("reloaded fcemu.yaml: job", timeout=20)
        assert server("invoke", "job", "--payload", "a").out.strip() == "v2:a"


def instances(url: str) -> dict[str, Any]:
    """``GET /_fcemu/instances``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/_fcemu/instances", timeout=30) as answer:
        doc: dict[str, Any] = json.load(answer)
    return doc


def wait_for_exit(pid: int, timeout: float) -> None:
    """Block until process ``pid`` ends, at most ``timeout`` real seconds (a pidfd where the
    platform has one: woken by the exit itself; elsewhere the caller's bounded loop waits)."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone already
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"instance process {pid} still alive after {timeout:g}s"
    finally:
        os.close(fd)
