"""``fcemu serve --config`` start-up, ``fcemu check``, ``config-schema`` and ``--watch``."""

from __future__ import annotations

import json
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.conftest import DEMO, ROOT, fcemu, serving

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
                              "is not supported by fcemu")
    schema = json.loads(fcemu("config-schema").out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "functions" in schema["properties"]


def test_file_settings_and_explicit_options(tmp_path: Path) -> None:
    make_project(tmp_path)
    with serving("--config", "fcemu.yaml", "--region", "cn-shanghai", cwd=tmp_path,
                 log=tmp_path / "serve.log") as server:
        # clock and seed come from the file, the region from the command line
        assert "(clock=manual, region=cn-shanghai, account=1234567890123456)" in server.banner
        functions = json.loads(server("functions", "--json").out)["functions"]
        assert functions[0]["functionArn"] == \
            "acs:fc:cn-shanghai:1234567890123456:functions/job"


def test_instance_idle_seconds_stops_idle_instances(tmp_path: Path) -> None:
    make_project(tmp_path)
    with serving("--config", "fcemu.yaml", "--instance-idle-seconds", "0.2", cwd=tmp_path,
                 log=tmp_path / "serve.log") as server:
        assert server("invoke", "job", "--payload", "a").out.strip() == "v1:a"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 20
        while True:  # the idle timer runs in real time: poll the control API
            with opener.open(f"{server.url}/_fcemu/instances", timeout=30) as answer:
                instances = json.load(answer)
            if instances["live"] == 0:
                break
            assert time.monotonic() < deadline, instances
            time.sleep(0.1)
        assert instances["peak"] == 1


def test_function_error_and_wait_on_a_real_clock(tmp_path: Path) -> None:
    """The destinations sample on a real clock: a sync error exits 1; --wait follows a task."""
    with serving("--config", "fcemu.yaml", cwd=SAMPLES / "destinations",
                 log=tmp_path / "serve.log") as server:
        failed = server("invoke", "charge", "--payload", '{"amount": -1}')
        assert failed.code == 1
        assert json.loads(failed.out)["errorMessage"] == "amount must be positive, got -1"
        assert "fcemu: function error UnhandledInvocationError (request " in failed.err
        waited = server("invoke", "charge", "--async", "--task-id", "t1", "--payload",
                        '{"amount": -2}', "--wait", "60")
        assert waited.code == 0, waited.err
        accepted, ended = waited.out.splitlines()
        assert accepted.startswith("accepted: task t1 (request ")
        assert ended == "task t1 ended Failed: amount must be positive, got -2"
        assert "task t1: Failed" in waited.err


def test_watch_redeploys_code_and_keeps_tasks(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    with serving("--config", "fcemu.yaml", "--watch", cwd=tmp_path,
                 log=tmp_path / "serve.log") as server:
        assert server("invoke", "job", "--payload", "a").out.strip() == "v1:a"
        assert server("invoke", "job", "--async", "--task-id", "before", "--payload", "b").code \
            == 0
        assert server("drain").code == 0
        make_project(tmp_path, PROJECT + "    timeout: 7\n", version="v2")
        deadline = time.monotonic() + 20  # the watcher polls every second, in real time
        while server("invoke", "job", "--payload", "a").out.strip() != "v2:a":
            assert time.monotonic() < deadline, server.stderr()
        functions = json.loads(server("functions", "--json").out)["functions"]
        assert functions[0]["timeout"] == 7
        task = json.loads(server("task", "job", "before", "--json").out)
        assert (task["status"], task["returnPayload"]) == ("Succeeded", "v1:b")
        assert "reloaded fcemu.yaml: job" in server.stderr()
        path.write_text(textwrap.dedent(PROJECT) + "    memorySize: 1\n")
        deadline = time.monotonic() + 20
        while "not reloaded" not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)  # the watcher runs in real time by design: poll its log
        assert "fcemu.yaml:12: functions.job.memorySize" in server.stderr()
        assert server("invoke", "job", "--payload", "c").out.strip() == "v2:c"
