"""``fcemu snapshot save|restore|list|delete`` against a running ``fcemu serve``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import serving_here

S_YAML = """
    edition: 3.0.0
    resources:
      job:
        component: fc3
        props:
          functionName: job
          runtime: python3.12
          handler: index.handler
          code: ./code
"""


def test_save_list_restore_by_name_and_by_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(S_YAML).lstrip())
    monkeypatch.chdir(tmp_path)
    saved = tmp_path / "base.fcemu"
    with serving_here(capsys, "--clock", "manual", "--config", "s.yaml") as local:
        assert local("invoke", "job", "--async", "--delay", "60", "--task-id", "t1").code == 0
        result = local("snapshot", "save", "base", "--file", str(saved))
        assert result.code == 0, result.err
        assert result.out.startswith("saved base: 1 functions, 1 tasks, 0 queues at ")
        assert saved.read_bytes().startswith(b"fcemu-snapshot\n")
        listed = json.loads(local("snapshot", "list", "--json").out)
        assert [s["snapshotId"] for s in listed["snapshots"]] == ["base"]
        assert "base" in local("snapshot", "list").out
        assert local("invoke", "job", "--async", "--task-id", "t2").code == 0
        restored = local("snapshot", "restore", "base")
        assert restored.code == 0, restored.err
        tasks = json.loads(local("tasks", "--json").out)["tasks"]
        assert [t["taskId"] for t in tasks] == ["t1"]
        assert local("snapshot", "delete", "base").code == 0
        from_file = local("snapshot", "restore", "--file", str(saved))
        assert from_file.code == 0, from_file.err
        tasks = json.loads(local("tasks", "--json").out)["tasks"]
        assert [t["taskId"] for t in tasks] == ["t1"]
        neither = local("snapshot", "restore")
        assert neither.code == 2 and "NAME of a kept snapshot or --file PATH" in neither.err
        missing = local("snapshot", "restore", "nope")
        assert missing.code == 1 and "SnapshotNotFound" in missing.err


def test_save_to_a_path_that_cannot_be_written_saves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit 20, point 5: a bad --file is a usage error before the snapshot is taken."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(S_YAML).lstrip())
    monkeypatch.chdir(tmp_path)
    with serving_here(capsys, "--clock", "manual", "--config", "s.yaml") as local:
        for path, reason in ((tmp_path / "no" / "such" / "x", "No such file or directory"),
                             (tmp_path, "Is a directory")):
            result = local("snapshot", "save", "p", "--file", str(path))
            assert (result.code, result.out) == (2, "")
            assert result.err == f"fcemu: cannot write {path}: {reason} (nothing saved)\n"
        assert json.loads(local("snapshot", "list", "--json").out)["snapshots"] == []
        refused = local("snapshot", "save", "bad/name", "--file", str(tmp_path / "x"))
        assert refused.code == 1
        assert not (tmp_path / "x").exists()  # the file it opened first is gone again
