"""IMPLEMENTATION_COVERAGE.md is generated from the route tables and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_coverage_table_is_current():
    pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
    spec = importlib.util.spec_from_file_location("coverage_tool", ROOT / "tools" / "coverage.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    committed = (ROOT / "IMPLEMENTATION_COVERAGE.md").read_text()
    assert committed == tool.table(), "run: python tools/coverage.py > IMPLEMENTATION_COVERAGE.md"
