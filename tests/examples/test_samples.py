"""Every sample under fixtures/ runs: deployed from its own files, invoked, results checked.

These go through the Python API (``Emulator(config=...)``) and plain HTTP, the
way the samples' READMEs do with the CLI; tests/cli runs the seed demo through
the CLI itself.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu.config import load, load_settings
from fcemu.settings import Settings
from tests.constants import ACCOUNT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEMO = FIXTURES / "stateful-async-invocation"
SAMPLES = FIXTURES / "samples"
T9 = 1_714_554_000_000  # 2024-05-01T09:00:00Z, the delayed-task sample's start


def invoke(emu: fcemu.Emulator, function: str, payload: Any, *, task_id: str | None = None,
           delay: int | None = None) -> str:
    """An async InvokeFunction over HTTP; returns the task ID."""
    headers = {"x-fc-invocation-type": "Async"}
    if task_id:
        headers["x-fc-async-task-id"] = task_id
    if delay is not None:
        headers["x-fc-async-delay"] = str(delay)
    request = urllib.request.Request(
        f"{emu.endpoint}/2023-03-30/functions/{function}/invocations",
        data=json.dumps(payload).encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request) as answer:
        assert answer.status == 202
        return str(answer.headers["x-fc-async-task-id"])


def emulator(*files: Path) -> fcemu.Emulator:
    """An emulator set up as ``fcemu serve --config ...`` would set it up."""
    settings = load_settings(files, Settings(port=0, clock="manual", seed=7))
    return fcemu.Emulator(settings.replace(config=files))


def test_stateful_demo_success_goes_to_myqueue() -> None:
    """The faithful s.yaml (timeout 60): a successful run needs no timeout to pass."""
    with emulator(DEMO / "s.yaml") as emu:
        invoke(emu, "my-fc-job", {"failure": False}, task_id="ok-1")
        emu.drain()
        message = emu.queue("myqueue").last.json()
        assert message["requestContext"]["condition"] == ""
        assert json.loads(message["responsePayload"]) == {"result": "success",
                                                          "event": {"failure": False}}
        assert emu.task("my-fc-job", "ok-1")["status"] == "Succeeded"


def test_stateful_demo_failure_with_fast_overlay() -> None:
    with emulator(DEMO / "s.yaml", DEMO / "fast.fcemu.yaml") as emu:
        invoke(emu, "my-fc-job", {"failure": True}, task_id="fail-1")
        emu.drain()
        message = emu.queue("myqueue").last.json()
        assert message["requestContext"]["approximateInvokeCount"] == 2
        assert message["responseContext"] == {"statusCode": 200,
                                              "functionError": "InvocationError"}
        assert json.loads(message["responsePayload"])["errorMessage"].startswith(
            "Function timed out after 1 seconds (maxMemoryUsage: ")
        assert emu.task("my-fc-job", "fail-1")["status"] == "Failed"


def test_destinations_pair() -> None:
    with emulator(SAMPLES / "destinations" / "fcemu.yaml") as emu:
        invoke(emu, "charge", {"amount": 42}, task_id="good")
        invoke(emu, "charge", {"amount": -1}, task_id="bad")
        emu.drain()
        done, failed = emu.queue("payments-done").json(), emu.queue("payments-failed").json()
        assert [json.loads(m["responsePayload"]) for m in done] == [{"charged": 42}]
        assert len(failed) == 1
        assert failed[0]["requestContext"]["condition"] == "InvocationError"
        assert failed[0]["requestContext"]["approximateInvokeCount"] == 2  # 1 retry
        assert "amount must be positive" in failed[0]["responsePayload"]


def test_function_chain() -> None:
    with emulator(SAMPLES / "function-chain" / "s.yaml") as emu:
        invoke(emu, "resize", {"image": "cat.png"})
        emu.drain()
        message = emu.queue("notifications").last.json()
        assert json.loads(message["responsePayload"]) == {
            "channel": "thumbnails", "thumbnail": "thumb-cat.png",
            "from": f"acs:fc:cn-hangzhou:{ACCOUNT}:functions/resize"}
        assert message["requestContext"]["functionArn"].endswith(":functions/notify")
        assert [t["status"] for t in emu.tasks("notify")] == ["Succeeded"]


def test_delayed_task() -> None:
    settings = load_settings([SAMPLES / "delayed-task" / "fcemu.yaml"], Settings(port=0))
    assert (settings.clock, settings.start_ms, settings.seed) == ("manual", T9, 1)
    with emulator(SAMPLES / "delayed-task" / "fcemu.yaml") as emu:
        invoke(emu, "reminder", {"to": "ana"}, task_id="remind-ana", delay=600)
        emu.settle()
        assert emu.task("reminder", "remind-ana")["status"] == "Enqueued"
        assert len(emu.queue("reminders")) == 0
        emu.clock.advance(599)
        assert emu.task("reminder", "remind-ana")["status"] == "Enqueued"
        emu.clock.advance(1)
        task = emu.task("reminder", "remind-ana")
        assert task["status"] == "Succeeded"
        assert json.loads(emu.queue("reminders").last.json()["responsePayload"]) == {
            "sent": "reminder for ana"}


def test_custom_runtime() -> None:
    """An HTTP server as the function: started from customRuntimeConfig, sent POST /invoke."""
    with emulator(SAMPLES / "custom-runtime" / "fcemu.yaml") as emu:
        assert json.loads(emu.invoke("greeter", b'{"name": "bo"}')) == {"greeting": "hello, bo"}
        invoke(emu, "greeter", {"name": "ana"}, task_id="ana")
        invoke(emu, "greeter", {}, task_id="nameless")
        emu.drain()
        [done] = emu.queue("greetings").json()
        assert json.loads(done["responsePayload"]) == {"greeting": "hello, ana"}
        assert done["requestContext"]["condition"] == ""
        [failed] = emu.queue("greetings-failed").json()
        assert failed["requestContext"]["condition"] == "InvocationError"
        assert failed["requestContext"]["approximateInvokeCount"] == 2  # 1 retry
        assert json.loads(failed["responsePayload"])["errorType"] == "BadEvent"
        assert "greeting ana (request " in emu.task_logs("greeter", "ana")
        instances = emu.instances()  # one or more: the two tasks may run at once
        assert instances
        for instance in instances:  # each has its own port, put in place of 9000 in args
            assert f"listening on 127.0.0.1:{instance['port']}\n" in instance["log"]


def test_readme_fcemu_yaml_example(tmp_path: Path) -> None:
    """docs/deployment-and-cli.md's fcemu.yaml example is a valid file that deploys what it
    says."""
    readme = (FIXTURES.parent / "docs" / "deployment-and-cli.md").read_text()
    section = readme[readme.index("<!-- config:start -->"):readme.index("<!-- config:end -->")]
    [example] = [block for block in re.findall(r"```yaml\n(.*?)```", section, re.S)
                 if "queues:" in block]
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "fcemu.yaml").write_text(example)
    settings = load_settings([tmp_path / "fcemu.yaml"], Settings())
    assert (settings.clock, settings.seed, settings.max_instances) == ("manual", 7, 16)
    deployment = load([tmp_path / "fcemu.yaml"], settings)
    assert set(deployment.queues) == {"done", "audit"}
    assert deployment.topics["alerts"][1] == {"to-audit": (
        "audit", {"notifyContentFormat": "SIMPLIFIED"})}
    with fcemu.Emulator(settings.replace(port=0, config=(tmp_path / "fcemu.yaml",))) as emu:
        invoke(emu, "job", "hello")
        emu.drain()
        assert json.loads(emu.queue("done").last.json()["responsePayload"]) == "hello"


def test_docs_allow_unknown_example(tmp_path: Path) -> None:
    """docs/deployment-and-cli.md's x-fcemu-allow-unknown example deploys its function."""
    page = (FIXTURES.parent / "docs" / "deployment-and-cli.md").read_text()
    [example] = [block for block in re.findall(r"```yaml\n(.*?)```", page, re.S)
                 if "x-fcemu-allow-unknown" in block]
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "fcemu.yaml").write_text(example)
    deployment = load([tmp_path / "fcemu.yaml"], Settings())
    assert set(deployment.functions) == {"job"}


@pytest.mark.parametrize("path", sorted([*FIXTURES.rglob("s.yaml"),
                                         *FIXTURES.rglob("*fcemu.yaml")]),
                         ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_sample_file_loads(path: Path) -> None:
    """No sample file has an error (the CI-wide guard for new samples)."""
    files = [DEMO / "s.yaml", path] if path.name == "fast.fcemu.yaml" else [path]
    if path.parent.name == "local-layer":  # its fcemu.yaml maps the s.yaml's layer
        files = [path.parent / "s.yaml", path.parent / "fcemu.yaml"]
    assert load(files, load_settings(files, Settings())).functions
