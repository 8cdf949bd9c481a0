"""The sandbox samples (issue 12, gaps 2 and 3) load unchanged through ``fcemu check`` and
``fcemu serve --config`` and run through the official FC SDK: fixtures/samples/flask-port-9000
(Flask on a hard-coded port 9000), gunicorn-bind (gunicorn bound to 0.0.0.0:9000 by its config
file) and pythonpath-vendored (``PYTHONPATH=/code/python``, a literal ``/code/...`` open).

They need the bubblewrap sandbox (``bwrap``; .ci/run installs it); without it, the Flask
sample shows the fallback's message, which says what to change.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions

from fcemu.runtime.contain import containment
from tests.cli.conftest import ROOT, fcemu, serving

SAMPLES = ROOT / "fixtures" / "samples"
SANDBOX_SAMPLES = {"flask-port-9000": "flask-app", "gunicorn-bind": "wsgi-app",
                   "pythonpath-vendored": "vendored"}

needs_bwrap = pytest.mark.skipif(
    containment("bwrap").mode != "bwrap",
    reason="needs a working bubblewrap: apt-get install bubblewrap (.ci/run does)")


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fcemu serve`` runs instances in the sandbox, whatever FCEMU_CONTAINMENT says here."""
    monkeypatch.setenv("FCEMU_CONTAINMENT", "bwrap")


def client_for(url: str) -> Client:
    return Client(Config(access_key_id="AKID", access_key_secret="SECRET",
                         endpoint=url.removeprefix("http://"), protocol="http",
                         region_id="cn-hangzhou"))


def invoke(client: Client, name: str, payload: dict[str, Any]) -> Any:
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Sync")
    request = fc.InvokeFunctionRequest(body=io.BytesIO(json.dumps(payload).encode()))
    answer = client.invoke_function_with_options(name, request, headers, RuntimeOptions())
    return json.loads(answer.body.read())


@pytest.mark.parametrize("sample", sorted(SANDBOX_SAMPLES))
def test_check_loads_the_sample(sample: str) -> None:
    result = fcemu("check", "s.yaml", cwd=SAMPLES / sample)
    assert (result.code, result.out.strip()) == (
        0, f"ok: functions {SANDBOX_SAMPLES[sample]}; queues none"), result.err


@needs_bwrap
@pytest.mark.fc_verified("a custom runtime listens on its configured port, 9000 by default: "
                         "https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/"
                         "user-guide/overview-10-2")
def test_flask_on_a_hard_coded_port_9000(tmp_path: Path, sandboxed: None) -> None:
    with serving("--config", "s.yaml", cwd=SAMPLES / "flask-port-9000",
                 log=tmp_path / "serve.log") as server:
        client = client_for(server.url)
        with ThreadPoolExecutor(2) as pool:  # two instances at once, each on its own 9000
            answers = list(pool.map(lambda n: invoke(client, "flask-app", {"name": n}),
                                    ["one", "two"]))
    assert [a["greeting"] for a in answers] == ["Hello, one!", "Hello, two!"]
    assert {(a["port"], a["serverPort"]) for a in answers} == {("9000", "9000")}


@needs_bwrap
@pytest.mark.fc_verified("gunicorn bound to the configured port answers FC's POST /invoke: "
                         "https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/"
                         "user-guide/overview-10-2")
def test_gunicorn_bound_by_its_config_file(tmp_path: Path, sandboxed: None) -> None:
    with serving("--config", "s.yaml", cwd=SAMPLES / "gunicorn-bind",
                 log=tmp_path / "serve.log") as server:
        answer = invoke(client_for(server.url), "wsgi-app", {"name": "gunicorn"})
    assert answer["greeting"] == "Hello, gunicorn!"
    assert (answer["path"], answer["bound"]) == ("/invoke", "9000")


@needs_bwrap
@pytest.mark.fc_verified("the code is at /code, and PYTHONPATH=/code/python finds what "
                         "s build installed there: https://www.alibabacloud.com/help/en/"
                         "functioncompute/fc-3-0/user-guide/environment-variables")
def test_vendored_package_on_pythonpath_and_a_literal_code_path(tmp_path: Path,
                                                                sandboxed: None) -> None:
    with serving("--config", str(SAMPLES / "pythonpath-vendored" / "s.yaml"),
                 log=tmp_path / "serve.log") as server:
        answer = invoke(client_for(server.url), "vendored", {"name": "vendored"})
    assert answer == {"greeting": "Hello, vendored, from a vendored package!",
                      "firstWord": "alpha", "words": 3,
                      "greetlib": "/code/python/greetlib/__init__.py"}


def test_without_a_sandbox_a_hard_coded_port_fails_at_once_saying_what_to_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCEMU_CONTAINMENT", "subreaper")  # the fallback, wherever this runs
    with serving("--config", "s.yaml", cwd=SAMPLES / "flask-port-9000",
                 log=tmp_path / "serve.log") as server:
        answer = invoke(client_for(server.url), "flask-app", {"name": "fallback"})
    message = answer["errorMessage"]
    assert message.startswith("The function cannot be started."), message
    # it listens on 9000 instead of its own port, or (9000 taken here) exits: either way
    # the message names the port and what to change
    assert "port 9000" in message, message
    assert "on $FC_SERVER_PORT" in message and "install bubblewrap" in message
