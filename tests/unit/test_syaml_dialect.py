"""s.yaml as Serverless Devs reads it: fc3 defaults, templates, js-yaml dialect, ``${...}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fcemu.config import ConfigError, ConfigErrors, load, load_yaml
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


# -- the YAML dialect: js-yaml 4 (Serverless Devs' parser), not PyYAML --------------------
# Every expected value below is what js-yaml 4.3.2's yaml.load() returns for the text.

JS_YAML = [
    # (difference, text, what js-yaml reads)
    ("tab at the end of a line", "a: b\t\nc: d\n", {"a": "b", "c": "d"}),
    ("tab after a key with no value", "a:\t\n  b: 1\n", {"a": {"b": 1}}),
    ("tab-only blank line", "a: 1\n\t\nb: 2\n", {"a": 1, "b": 2}),
    ("tab before a comment", "a: b\t# note\n", {"a": "b"}),
    ("tab separating key and value", "a:\tb\n", {"a": "b"}),
    ("tab before the colon", "a\t: b\n", {"a": "b"}),
    ("tab after a list dash", "-\ta\n- b\t\n", ["a", "b"]),
    ("tabs in flow collections", "k:\t[a,\tb ,\tc]\t# c\nm: {x: 1,\ty: 2}\n",
     {"k": ["a", "b", "c"], "m": {"x": 1, "y": 2}}),
    ("tab after a quoted scalar", "a: 'it''s'\t\nb: \"x\n  y\t\" \t\n",
     {"a": "it's", "b": "x y\t"}),
    ("tab inside a plain scalar is text", "a: b\tc\n", {"a": "b\tc"}),
    ("tab after a block scalar header", "a: |\t\n  x\n", {"a": "x\n"}),
    ("tabs in block scalar content are text", "a: |\n  x\ty\t\n  z\nb: 1\t\n",
     {"a": "x\ty\t\nz\n", "b": 1}),
    ("block scalar in a list", "- |\n  x\t\n- b\t\n", ["x\t\n", "b"]),
    ("yes/no/on/off are strings", "on: yes\noff: no\nY: n\n",
     {"on": "yes", "off": "no", "Y": "n"}),
    ("booleans and nulls", "a: True\nb: FALSE\nc: ~\nd: Null\ne:\n",
     {"a": True, "b": False, "c": None, "d": None, "e": None}),
    ("integers are YAML 1.2", "a: 010\nb: 0o10\nc: 0x1F\nd: 0b11\ne: -0o7\nf: +12\n",
     {"a": 10, "b": 8, "c": 31, "d": 3, "e": -7, "f": 12}),
    ("no underscores or sexagesimals", "a: 1_000\nb: 1:30\nc: 12:30:00\nd: 1_0.5\n",
     {"a": "1_000", "b": "1:30", "c": "12:30:00", "d": "1_0.5"}),
    ("floats", "a: 1.5\nb: 1e3\nc: .5\nd: -.5\ne: 0.\n",
     {"a": 1.5, "b": 1000.0, "c": 0.5, "d": "-.5", "e": 0.0}),
    ("= is a string", "a: =\n", {"a": "="}),
    ("merge keys", "b: &x {p: 1}\nc:\n  <<: *x\n  q: 2\n", {"b": {"p": 1}, "c": {"p": 1, "q": 2}}),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in JS_YAML],
                         ids=[case[0] for case in JS_YAML])
def test_yaml_is_read_as_js_yaml_reads_it(tmp_path: Path, text: str, expected: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert load_yaml(path) == expected


def test_a_trailing_tab_keeps_every_line_number(tmp_path: Path) -> None:
    text = HEAD + "      runtime: python3\t\n      handler: index.handler\t\n      code: ./code\n" \
                  "      timeout: 0\t\n"
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    with pytest.raises(ConfigError) as caught:
        load([path], Settings())
    assert caught.value.where.line == 11  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["a:\n\tb: 1\n", "a: |\n  x\n\ty\n"])
def test_a_tab_in_the_indentation_is_an_error_in_both(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="a tab in the indentation"):
        load_yaml(path)


# -- ${...} expressions, as Serverless Devs 3 evaluates them ------------------------------

EXPR_HEAD = ("edition: 3.0.0\nname: app\nvars:\n  a: web\n  b: 2\nresources:\n  r:\n"
             "    component: fc3\n    props:\n      functionName: job\n      runtime: python3\n"
             "      handler: index.handler\n")  # 12 lines


def _expr_project(tmp_path: Path, props: str) -> Path:
    path = project(tmp_path, {"s.yaml": EXPR_HEAD + props}) / "s.yaml"
    (tmp_path / "desc.txt").write_text("from a file")
    (tmp_path / "env.json").write_text('{"MODE": "json", "LEVEL": 3}')
    return path


def test_expression_functions_resolve_offline(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FCEMU_G1_UNSET", raising=False)
    monkeypatch.setenv("FCEMU_G1_EMPTY", "")
    path = _expr_project(tmp_path, (
        "      code: ${env('FCEMU_G1_UNSET', path('./code'))}\n"
        "      description: ${file('./desc.txt')}\n"
        "      environmentVariables: ${json(file('./env.json'))}\n"))
    spec = load([path], Settings()).functions["job"]
    assert spec.code_path == tmp_path.resolve() / "code"
    assert spec.doc["description"] == "from a file"
    assert spec.doc["environmentVariables"] == {"MODE": "json", "LEVEL": "3"}


@pytest.mark.parametrize(("expression", "expected"), [
    ("${vars.a + '-' + vars.b}", "web-2"),
    ("${vars.nope || 'fallback'}", "fallback"),
    ("${env('FCEMU_G1_EMPTY', 'empty takes the default')}", "empty takes the default"),
    ("${env.FCEMU_G1_UNSET || vars.a}", "web"),
    ("${env.FCEMU_G1_SET}", "set"),
    ("${config('AccountID')}", "1234567890"),
    ("${str(vars.b) + 'x'}", "2x"),
    ("${this.name}-${this.props.functionName}", "r-job"),
    ("${vars.a && 'both'}", "both"),
])
def test_expressions_compute_as_javascript_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                expression: str, expected: str) -> None:
    monkeypatch.delenv("FCEMU_G1_UNSET", raising=False)
    monkeypatch.setenv("FCEMU_G1_EMPTY", "")
    monkeypatch.setenv("FCEMU_G1_SET", "set")
    path = _expr_project(tmp_path, f"      code: ./code\n      description: \"{expression}\"\n")
    spec = load([path], Settings(account_id="1234567890")).functions["job"]
    assert spec.doc["description"] == expected


BAD_EXPRESSIONS = [
    # (expression, words in the message)
    ("${path('./nowhere')}", "path(): "),
    ("${env('FCEMU_G1_UNSET', path('./nowhere'))}", "does not exist"),
    ("${file('./nowhere.txt')}", "file(): cannot read"),
    ("${json('{not json')}", "json(): not valid JSON"),
    ("${config('AccessKeyID')}", "only config('AccountID')"),
    ("${resources.r.output.url}", "output exists only once `s deploy` has run it"),
    ("${regex('deploy')}", "unsupported function regex()"),
    ("${vars.}", "cannot read it"),
    ("${vars.a ? 1 : 2}", "cannot read it"),
    ("${vars.nope}", "vars.nope is not defined"),
    ("${env('FCEMU_G1_UNSET')}", "environment variable FCEMU_G1_UNSET is not set"),
]


@pytest.mark.parametrize(("expression", "words"), BAD_EXPRESSIONS,
                         ids=[case[0] for case in BAD_EXPRESSIONS])
def test_bad_expressions_name_file_line_and_expression(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str, words: str) -> None:
    monkeypatch.delenv("FCEMU_G1_UNSET", raising=False)
    path = _expr_project(tmp_path, f"      code: ./code\n      description: \"{expression}\"\n")
    with pytest.raises(ConfigError) as caught:
        load([path], Settings())
    error = caught.value
    assert (error.where.path, error.where.line) == (path, 14)  # type: ignore[union-attr]
    assert error.field == "resources.r.props.description"
    assert words in error.message
    if "is not set" not in words:
        assert expression in error.message
