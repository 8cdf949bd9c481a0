"""s.yaml as Serverless Devs reads it: fc3 defaults, templates, js-yaml dialect, ``${...}``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcemu.config import ConfigError, load
from fcemu.settings import Settings
from tests.unit.test_config import project

HEAD = ("edition: 3.0.0\nname: app\nresources:\n  r:\n    component: fc3\n    props:\n"
        "      functionName: job\n")


@pytest.mark.parametrize("runtime", ["custom", "custom.debian10", "custom.debian11",
                                     "custom.debian12"])
def test_custom_runtime_without_handler_gets_the_fc3_default(tmp_path: Path,
                                                             runtime: str) -> None:
    text = HEAD + (f"      runtime: {runtime}\n      code: ./code\n      customRuntimeConfig:\n"
                   "        command: [python3, index.py]\n")
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    assert load([path], Settings()).functions["job"].doc["handler"] == "index.handler"


def test_python_runtime_without_handler_is_still_an_error(tmp_path: Path) -> None:
    path = project(tmp_path, {"s.yaml": HEAD + "      runtime: python3\n      code: ./code\n"})
    with pytest.raises(ConfigError, match="is required"):
        load([path / "s.yaml"], Settings())
