"""Every snippet of the README's pytest section is a test in tests/examples/test_pytest_*.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"


def section_snippets() -> list[str]:
    text = README.read_text()
    section = text[text.index("<!-- pytest:start -->"):text.index("<!-- pytest:end -->")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def example_snippets() -> list[str]:
    found = []
    for path in sorted(HERE.glob("test_pytest_*.py")):
        found += re.findall(r"# -- snippet: \w+ -+\n(.*?)# -- end -+\n", path.read_text(), re.S)
    return [snippet.rstrip() + "\n" for snippet in found]


@pytest.mark.parametrize("snippet", section_snippets(), ids=lambda s: s.splitlines()[0][:40])
def test_readme_snippet_is_an_executed_example(snippet: str) -> None:
    assert snippet in example_snippets(), (
        "this README snippet is not (verbatim) between '# -- snippet:' and '# -- end' "
        f"markers in tests/examples/test_pytest_*.py:\n{snippet}")


def test_the_section_has_snippets() -> None:
    assert len(section_snippets()) >= 4
