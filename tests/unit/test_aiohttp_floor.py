"""The aiohttp this suite runs on is one pyproject.toml admits.

fcemu's front door (:mod:`fcemu.api.protocol`) leans on aiohttp's server: the request
head limits its RequestHandler holds (aiohttp 3.13). On an older aiohttp,
tests/hardening/test_http_limits.py fails for that reason; this test names the cause at
once.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_aiohttp_is_one_pyproject_admits() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = [req for req in map(Requirement, project["dependencies"]) if req.name == "aiohttp"]
    assert len(wanted) == 1, project["dependencies"]
    installed = version("aiohttp")
    assert wanted[0].specifier.contains(installed, prereleases=True), (
        f"aiohttp {installed} is installed; fcemu needs {wanted[0]} (pip install -U aiohttp)")
