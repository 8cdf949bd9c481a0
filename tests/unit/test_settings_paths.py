"""Paths in :class:`fcemu.settings.Settings`: a relative ``data_dir`` (``fcemu serve
--data-dir dd``, ``Emulator(data_dir="dd")``) is made absolute once, when the settings are
made, so the code directories made in it reach sandboxed handler processes (which do not
run in the server's directory) by a path that still names them."""

from __future__ import annotations

from pathlib import Path

import pytest

import fcemu
from fcemu.settings import Settings


def test_a_relative_data_dir_is_made_absolute_against_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("dd"))
    assert settings.data_dir == tmp_path / "dd"
    assert Settings(data_dir="dd").data_dir == tmp_path / "dd"  # type: ignore[arg-type]
    monkeypatch.chdir("/")
    assert settings.replace(durability="relaxed").data_dir == tmp_path / "dd"
    assert Settings().data_dir is None


def test_code_runs_with_a_relative_data_dir(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text("def handler(event, context):\n    return 'ran'\n")
    monkeypatch.chdir(tmp_path)
    with fcemu.Emulator(clock="manual", data_dir="dd") as emu:
        emu.register_function("f", code=code)
        assert emu.invoke("f", b"") == "ran"
