"""Versions and aliases in the CLI: ``fcemu functions`` lists them, ``fcemu invoke
--qualifier`` runs through an alias (one ``fcemu serve`` of a project that declares them)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from fcemu.cli.format import alias, functions_table
from tests.cli.conftest import serving

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
          x-fcemu-versions:
            - description: first
            - description: second
          x-fcemu-aliases:
            - aliasName: prod
              versionId: 1
              additionalVersionWeight: {"2": 0.1}
"""


def test_functions_shows_versions_and_aliases_and_invoke_takes_a_qualifier(
        tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text(
        "def handler(event, context):\n    return context.function.qualifier\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(S_YAML).lstrip())
    with serving("--clock", "manual", "--config", "s.yaml", cwd=tmp_path,
                 log=tmp_path / "serve.log") as server:
        table = server("functions")
        assert table.code == 0, table.err
        header, row = table.out.splitlines()[:2]
        assert header.split()[-2:] == ["VERSIONS", "ALIASES"]
        assert row.split()[-2:] == ["1,2", "prod=1+2:10%"]
        doc = json.loads(server("functions", "--json").out)["functions"][0]
        assert [v["versionId"] for v in doc["versions"]] == ["1", "2"]
        assert doc["aliases"][0]["aliasName"] == "prod"
        invoked = server("invoke", "job", "--qualifier", "prod")
        assert (invoked.code, invoked.out.strip()) == (0, "prod")


def test_the_table_leaves_out_the_columns_when_nothing_is_published() -> None:
    table = functions_table([{"functionName": "f", "versions": [], "aliases": []}])
    assert "VERSIONS" not in table
    assert alias({"aliasName": "a", "versionId": "3"}) == "a=3"
