"""Tasks of a function without task mode (no ``asyncTask: true``): FC's task APIs refuse
them, but the emulator keeps them, and the CLI shows them through the control API
(audit 20, point 1). ``fcemu invoke --async --wait`` always reports the accepted task."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.conftest import ROOT, Local, serving_here

SAMPLE = ROOT / "fixtures" / "samples" / "path-expr"  # function `where`, no asyncTask
INVOKE = ("invoke", "where", "--async")


@pytest.fixture
def manual(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Local]:
    monkeypatch.chdir(SAMPLE)
    with serving_here(capsys, "--clock", "manual", "--config", "s.yaml") as server:
        yield server


def test_wait_follows_a_task_without_task_mode(manual: Local) -> None:
    done = manual(*INVOKE, "--task-id", "t1", "--wait", "30")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("accepted: task t1 (request ")
    assert lines[1] == "task t1 ended Succeeded"
    assert done.err == "task t1: Succeeded\n"


def test_a_wait_that_fails_still_reports_the_accepted_task(manual: Local) -> None:
    later = manual(*INVOKE, "--task-id", "t2", "--delay", "60", "--wait", "30")
    assert later.code == 1
    assert later.out.startswith("accepted: task t2 (request ")
    assert later.err.splitlines()[-1].startswith("fcemu: task t2 is Enqueued, waiting for the "
                                                 "emulator's manual clock")
    as_json = manual("--json", *INVOKE, "--task-id", "t3", "--delay", "60", "--wait", "30")
    assert as_json.code == 1
    assert json.loads(as_json.out)["taskId"] == "t3"


def test_task_and_tasks_show_tasks_without_task_mode(manual: Local) -> None:
    assert manual(*INVOKE, "--task-id", "t1").code == 0
    assert manual(*INVOKE, "--task-id", "t2", "--delay", "60").code == 0
    assert manual("settle").code == 0
    shown = manual("task", "where", "t1")
    assert shown.code == 0, shown.err
    assert "status       Succeeded" in shown.out
    record = json.loads(manual("task", "where", "t2", "--json").out)
    assert (record["taskId"], record["status"]) == ("t2", "Enqueued")
    listed = json.loads(manual("tasks", "where", "--json").out)["tasks"]
    everyone = json.loads(manual("tasks", "--json").out)["tasks"]
    assert sorted(t["taskId"] for t in listed) == sorted(t["taskId"] for t in everyone) == [
        "t1", "t2"]
    only = json.loads(manual("tasks", "where", "--status", "Enqueued", "--json").out)["tasks"]
    assert [t["taskId"] for t in only] == ["t2"]
    latest = json.loads(manual("tasks", "where", "--qualifier", "LATEST", "--limit", "1",
                               "--json").out)["tasks"]
    assert len(latest) == 1
    unknown = manual("tasks", "where", "--qualifier", "prod")
    assert unknown.code == 1 and "AliasNotFound" in unknown.err  # FC's answer stands
    missing = manual("task", "where", "nope")
    assert missing.code == 1 and "AsyncTaskNotFound" in missing.err
