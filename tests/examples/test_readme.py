"""The README's Python snippets, executed as written (the endpoint swapped for a live one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fcemu

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(heading: str) -> str:
    """The first ```python block under a README heading."""
    text = README.read_text()
    section = text[text.index(f"## {heading}"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python snippet under {heading!r}"
    return match.group(1)


def test_quick_start(capsys):
    pytest.importorskip("alibabacloud_fc20230330")
    with fcemu.Emulator() as emu:
        code = snippet("Quick start with the official SDK").replace(
            '"127.0.0.1:9000"', repr(emu.host_port))
        exec(compile(code, "README.md quick start", "exec"), {})
        printed = capsys.readouterr().out.strip()
        assert printed in {"Enqueued", "Processed", "Running", "Succeeded"}
        emu.settle()
        [message] = emu.queue("done").json()
        assert message["responsePayload"] == "HI"
        assert emu.task("hello", "job-1")["status"] == "Succeeded"


def test_python_api():
    pytest.importorskip("alibabacloud_fc20230330")
    exec(compile(snippet("Python API"), "README.md Python API", "exec"), {})


def test_smq_section():
    pytest.importorskip("mns")
    exec(compile(snippet("Simple Message Queue (MNS) API"), "README.md SMQ", "exec"), {})


def test_emulator_invoke_sync_and_errors():
    with fcemu.Emulator() as emu:
        emu.register_function("upper", lambda event, context: event.upper())
        emu.register_function("bad", lambda event, context: 1 / 0)
        assert emu.invoke("upper", "abc") == "ABC"
        with pytest.raises(RuntimeError, match=r"UnhandledInvocationError.*ZeroDivisionError"):
            emu.invoke("bad")
        with pytest.raises(fcemu.FcError, match="function 'ghost' does not exist"):
            emu.invoke("ghost")
