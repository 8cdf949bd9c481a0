"""Packaging: one version (pyproject.toml) seen by fcemu.__version__, `fcemu --version` and the
changelog; the distribution holds every package and every data file the code needs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import fcemu
from fcemu.cli.main import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_the_version_is_pyprojects() -> None:
    assert fcemu.__version__ == PROJECT["project"]["version"]


def test_fcemu_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"fcemu {PROJECT['project']['version']}\n"


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text("utf-8")
    release = re.match(r"\d+\.\d+\.\d+", PROJECT["project"]["version"])
    assert release
    headings = re.findall(r"^## (.+)$", changelog, re.M)
    assert headings[0].startswith("[Unreleased]")
    assert any(release.group() in heading for heading in headings), headings
    for heading in headings[1:]:  # Keep a Changelog: "## [1.2.3] - YYYY-MM-DD"
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading), heading


def test_metadata_for_an_index() -> None:
    project = PROJECT["project"]
    assert project["requires-python"] == ">=3.10"
    assert "Typing :: Typed" in project["classifiers"]
    assert {"Framework :: Pytest", "Topic :: Software Development :: Testing"} <= set(
        project["classifiers"])
    assert project["keywords"]
    assert project["scripts"] == {"fcemu": "fcemu.cli.main:main"}
    assert project["entry-points"]["pytest11"] == {"fcemu": "pytest_fcemu.plugin"}


def test_every_package_is_in_the_distribution() -> None:
    """A folder of modules without __init__.py would silently drop out of the wheel."""
    include = PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    folders = {path.parent for top in ("fcemu", "pytest_fcemu")
               for path in (ROOT / top).rglob("*.py")}
    for folder in folders:  # what setuptools' find_packages takes for a package
        name = str(folder.relative_to(ROOT)).replace("/", ".")
        assert (folder / "__init__.py").is_file(), folder
        assert any(Path(name).match(pattern) for pattern in include), name

def test_every_data_file_is_in_the_distribution() -> None:
    """Files that are not modules (py.typed, ...) ship only when package-data names them."""
    package_data = PROJECT["tool"]["setuptools"]["package-data"]
    for top in ("fcemu", "pytest_fcemu"):
        data = [path for path in (ROOT / top).rglob("*") if path.is_file()
                and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts]
        assert (ROOT / top / "py.typed") in data
        for path in data:
            relative = str(path.relative_to(ROOT / top))
            assert any(Path(relative).match(pattern) for pattern in package_data[top]), path
