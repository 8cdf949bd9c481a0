"""fcemu_function and Emulator.register_function: a code-directory function names its handler
with ``handler="module.function"`` (CreateFunction's field); wrong combinations say what to
pass and deploy nothing (issue 11, failure 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

MAIN = '''
def entry(event, context):
    return "entry:" + event.decode()
'''
INDEX = '''
def handler(event, context):
    return "index:" + event.decode()
'''


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text(MAIN)
    (tmp_path / "index.py").write_text(INDEX)
    return tmp_path


def test_code_function_runs_the_named_handler(fcemu, fcemu_function, code: Path) -> None:
    function = fcemu_function("named", code=code, handler="main.entry", timeout=5)
    assert function.handler == "main.entry"
    assert fcemu.invoke("named", "x") == "entry:x"


def test_code_function_defaults_to_index_handler(fcemu, fcemu_function, code: Path) -> None:
    assert fcemu_function("plain", code=code, timeout=5).handler == "index.handler"
    assert fcemu.invoke("plain", "x") == "index:x"


def test_register_function_takes_the_same_handler_name(fcemu, code: Path) -> None:
    assert fcemu.register_function("direct", "main.entry", code=code).handler == "main.entry"
    assert fcemu.invoke("direct", "y") == "entry:y"
    fcemu.delete_function("direct")


def _echo(event: bytes, context: Any) -> bytes:
    return event


@pytest.mark.parametrize(("arguments", "said"), [
    ({"handler": _echo, "code": "."}, "exactly one of them"),
    ({"handler": "index.handler"}, r"give code=<directory or \.zip> too"),
    ({}, "exactly one of them"),
    ({"handler": 42, "code": "."}, "not 42"),
], ids=["callable-and-code", "name-without-code", "neither", "not-a-handler"])
def test_wrong_combinations_say_what_to_pass(fcemu, fcemu_function, arguments: dict[str, Any],
                                             said: str) -> None:
    with pytest.raises(TypeError, match=said):
        fcemu_function("wrong", **arguments)
    assert "wrong" not in fcemu.function_names()
