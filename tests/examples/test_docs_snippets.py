"""Every ```python block of README.md and docs/*.md runs as pasted, verbatim from the page.

A block is run by what it is: a ``# conftest.py`` block becomes a downstream project's
conftest (with a companion test below), a block defining ``test_*`` functions becomes a
downstream test file, both run by pytest with only fcemu's plugin (pytester); a
``# test_*.py`` block right after a ``# conftest.py`` block of the same page runs with that
conftest (a pair: the page's own test of its hooks); any other block is a script, executed
on its own. A block that cannot run so is listed in
``ELSEWHERE`` with where it is run (or why it cannot be): a new block that is neither fails
:func:`test_every_block_is_run_or_listed`.
"""

from __future__ import annotations

import gc
import itertools
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: A substring of the block -> where it runs instead (or why it cannot run alone).
ELSEWHERE = {
    'endpoint="127.0.0.1:9000"': "the quick start needs a `fcemu serve`: "
                                 "tests/examples/test_readme.py runs it twice against one",
}

#: The test a conftest block's hooks are checked with (a downstream test file).
CONFTEST_COMPANION = '''
import urllib.request

from conftest import FINISHED

def test_every_test_has_the_thumbnail_function(fcemu):
    request = urllib.request.Request(
        fcemu.endpoint + "/2023-03-30/functions/thumbnail/invocations", data=b"0123456789",
        method="POST", headers={"x-fc-invocation-type": "Async"})
    urllib.request.urlopen(request).close()
    fcemu.drain()
    assert fcemu.region == "cn-shanghai"
    assert fcemu.queue("thumbs").last.json()["responsePayload"] == "01234567"
    assert FINISHED == [("thumbnail", "Succeeded")]
'''


def python_blocks() -> list[tuple[str, str]]:
    """(``page:line``, code) for every ```python block of the pages."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = python_blocks()


def _paired() -> dict[str, str]:
    """A ``# test_*.py`` block -> the ``# conftest.py`` block just before it on its page."""
    pairs = {}
    for (where, code), (next_where, next_code) in itertools.pairwise(BLOCKS):
        if (where.split(":")[0] == next_where.split(":")[0]
                and code.startswith("# conftest.py") and next_code.startswith("# test_")):
            pairs[next_code] = code
    return pairs


PAIRS = _paired()


def kind(code: str) -> str:
    if any(marker in code for marker in ELSEWHERE):
        return "elsewhere"
    if code in PAIRS.values():
        return "paired-conftest"  # run with the test file after it
    if code.startswith("# conftest.py"):
        return "conftest"
    if re.search(r"^def test_", code, re.M):
        return "pytest"
    return "script"


def run_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only fcemu's plugin, as listed
    return pytester.runpytest("-p", "pytest_fcemu.plugin", "-p", "no:cacheprovider")


def test_every_block_is_run_or_listed() -> None:
    """Each block is a script, a test file, a conftest, or listed in ELSEWHERE; every
    ELSEWHERE entry still names a block (no stale exemptions)."""
    assert len(BLOCKS) >= 9
    assert {kind(code) for _, code in BLOCKS} <= {"script", "pytest", "conftest", "elsewhere",
                                                  "paired-conftest"}
    for marker in ELSEWHERE:
        assert any(marker in code for _, code in BLOCKS), f"no block contains {marker!r}"


@pytest.mark.parametrize(("where", "code"), [b for b in BLOCKS if kind(b[1]) == "script"],
                         ids=[w for w, c in BLOCKS if kind(c) == "script"])
def test_script_block_runs(where: str, code: str) -> None:
    pytest.importorskip("alibabacloud_fc20230330")
    namespace = {"__name__": "__main__"}
    exec(compile(code, where, "exec"), namespace)
    # The MNS SDK keeps its HTTP connection in a reference cycle and has no close(): what
    # a block leaves is collected here, its unclosed client socket quietly, not by a
    # collection that happens to run in a later test (whose failure it then became).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
        namespace.clear()
        gc.collect()


@pytest.mark.parametrize(("where", "code"), [b for b in BLOCKS if kind(b[1]) == "pytest"],
                         ids=[w for w, c in BLOCKS if kind(c) == "pytest"])
def test_test_block_passes_in_a_downstream_project(
        where: str, code: str, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if code in PAIRS:
        pytester.makeconftest(PAIRS[code])
    pytester.makepyfile(test_snippet=code)
    result = run_pytest(pytester, monkeypatch)
    tests = len(re.findall(r"^def test_", code, re.M))
    result.assert_outcomes(passed=tests)


@pytest.mark.parametrize(("where", "code"), [b for b in BLOCKS if kind(b[1]) == "conftest"],
                         ids=[w for w, c in BLOCKS if kind(c) == "conftest"])
def test_conftest_block_works_in_a_downstream_project(
        where: str, code: str, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(code)
    pytester.makepyfile(CONFTEST_COMPANION)
    run_pytest(pytester, monkeypatch).assert_outcomes(passed=1)
