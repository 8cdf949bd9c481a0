"""s.yaml as Serverless Devs reads it: fc3 defaults, templates, js-yaml dialect, ``${...}``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcemu.config import ConfigError, ConfigErrors, load
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


TEMPLATE = """
    edition: 3.0.0
    name: '{{ projectName }}'
    access: '{{ access }}'
    resources:
      r:
        component: fc3
        props:
          region: {{ region }}
          functionName: fn-{{functionName}}
          runtime: python3
          handler: index.handler
          code: ./code
    """


def test_an_uninitialised_template_names_each_placeholder_and_its_line(tmp_path: Path) -> None:
    path = project(tmp_path, {"s.yaml": TEMPLATE}) / "s.yaml"
    with pytest.raises(ConfigError) as caught:
        load([path], Settings())
    errors = ConfigErrors.each(caught.value)
    assert [(e.where.line, e.field, e.message) for e in errors] == [  # type: ignore[union-attr]
        (2, "name", "this is a template: run `s init` or fill in {{ projectName }}"),
        (3, "access", "this is a template: run `s init` or fill in {{ access }}"),
        (8, "resources.r.props.region",
         "this is a template: run `s init` or fill in {{ region }}"),
        (9, "resources.r.props.functionName",
         "this is a template: run `s init` or fill in {{ functionName }}"),
    ]
    assert str(errors[0]).startswith(f"{path}:2: name: this is a template")


def test_braces_only_in_environment_values_are_the_apps_own_text(tmp_path: Path) -> None:
    text = HEAD + ("      runtime: python3\n      handler: index.handler\n      code: ./code\n"
                   "      environmentVariables:\n        GREETING: 'Hello {{ name }}'\n")
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    env = load([path], Settings()).functions["job"].doc["environmentVariables"]
    assert env == {"GREETING": "Hello {{ name }}"}


def test_a_template_resource_name_is_a_template_error(tmp_path: Path) -> None:
    text = HEAD.replace("  r:\n", "  {{ resourceName }}:\n") + "      runtime: python3\n"
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    with pytest.raises(ConfigError) as caught:
        load([path], Settings())
    assert (caught.value.where.line, caught.value.field) == (4, "resources")  # type: ignore[union-attr]
    assert caught.value.message == ("this is a template: run `s init` or fill in "
                                    "{{ resourceName }}")
