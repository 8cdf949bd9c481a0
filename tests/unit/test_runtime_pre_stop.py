"""The PreStop hook of Python workers and custom runtimes (FC's lifecycle-hook pages: Python's
``pre_stop(context)``, a custom runtime's ``GET /pre-stop``), as Node.js workers run it:
before the pool's kill of a started, idle instance, within the hook's timeout; not after a
timeout. Real processes; the hooks write marker files in a directory shared with the
sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fcemu.models import Function
from fcemu.runtime import Outcome, Runtimes
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION
from tests.unit.test_runtime_worker import call, function, run

LIFECYCLE = {"preStop": {"handler": "index.pre_stop", "timeout": 3}}


@pytest.fixture
def shared(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory the handlers may write to, in a sandbox too (not below the code's)."""
    directory = tmp_path_factory.mktemp("shared")
    monkeypatch.setenv("FCEMU_SANDBOX_SHARE", str(directory))
    return directory


def python_function(tmp_path: Path, marker: Path, **fields: object) -> Function:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(f"""
import time
served = 0

def handler(event, context):
    global served
    served += 1
    if event == b"hang":
        time.sleep(30)
    return str(served)

def pre_stop(context):
    print("stopping", context.request_id)
    with open({json.dumps(str(marker))}, "w") as out:
        out.write(f"served {{served}} {{context.request_id}} {{context.service.qualifier}}")
""")
    return function("prestop", code_dir=code, instance_lifecycle_config=LIFECYCLE, **fields)


def close_after_one(fn: Function, payload: bytes = b"") -> tuple[Outcome, bool | None]:
    async def body(runtimes: Runtimes) -> tuple[Outcome, bool | None]:
        outcome = await runtimes.invoke(call(fn, payload, request_id="r-0"))
        instances = runtimes.pool.instances()
        await runtimes.close()  # shutdown retires the idle instance: PreStop, then the kill
        return outcome, getattr(instances[0], "pre_stopped", None) if instances else None

    return run(body)  # type: ignore[no-any-return]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_python_workers_pre_stop_runs_when_its_idle_instance_is_retired(
        tmp_path: Path, shared: Path, concurrency: int) -> None:
    marker = shared / "stopped.txt"
    fn = python_function(tmp_path, marker, instance_concurrency=concurrency)
    outcome, pre_stopped = close_after_one(fn)
    assert outcome.body == b"1" and pre_stopped is True
    assert marker.read_text() == f"served 1 {outcome.instance_id}-prestop LATEST"


def test_no_pre_stop_after_a_python_timeout(tmp_path: Path, shared: Path) -> None:
    marker = shared / "stopped.txt"
    fn = python_function(tmp_path, marker, timeout=1)
    outcome, pre_stopped = close_after_one(fn, b"hang")
    assert outcome.kind == "timeout" and pre_stopped is None and not marker.exists()


def test_a_failing_python_pre_stop_still_ends_the_instance(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(
        "def handler(event, context):\n    return 'ok'\n"
        "def pre_stop(context):\n    raise RuntimeError('cannot stop')\n")
    fn = function("prestop", code_dir=code, instance_lifecycle_config=LIFECYCLE)
    outcome, pre_stopped = close_after_one(fn)
    assert outcome.body == b"ok" and pre_stopped is False


SERVER = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "w") as out:
            json.dump({"path": self.path, "headers": {k.lower(): v for k, v in
                       self.headers.items() if k.lower().startswith("x-fc-")}}, out)
        print("pre-stop", self.headers["x-fc-request-id"], flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

HTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
"""


def test_a_custom_runtime_gets_get_pre_stop_with_the_common_headers(
        tmp_path: Path, shared: Path) -> None:
    marker = shared / "pre-stop.json"
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(SERVER)
    fn = Function(name="web", runtime="custom.debian10", handler="index.handler",
                  arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/web", function_id="fid",
                  created_ms=0, modified_ms=0, timeout=3, code_dir=code,
                  custom_runtime_config={"command": [sys.executable, "app.py", str(marker)],
                                         "port": 9000},
                  instance_lifecycle_config={"preStop": {"handler": "stop", "timeout": 2}})
    outcome, pre_stopped = close_after_one(fn)
    assert outcome.body == b"ok" and pre_stopped is True
    seen = json.loads(marker.read_text())
    assert seen["path"] == "/pre-stop"
    headers = seen["headers"]
    assert headers["x-fc-request-id"] == f"{outcome.instance_id}-prestop"
    assert (headers["x-fc-function-name"], headers["x-fc-qualifier"]) == ("web", "LATEST")
    assert headers["x-fc-instance-lifecycle-pre-stop-handler"] == "stop"
