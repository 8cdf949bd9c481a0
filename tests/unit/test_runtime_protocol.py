"""What the server shares with its process entry scripts, and how those scripts stay apart.

The worker (``_worker_main.py``) and the launcher (``_contain_main.py``) are run by
path and import nothing of fcemu: they load the standard-library-only modules they
share with the server (``protocol``, ``handler_api``, ``thread_logs``, ``launcher``) into
a private package. No server module imports an entry script, and no module of
``fcemu.runtime`` imports the package itself.
"""

from __future__ import annotations

import ast
import base64
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from fcemu.runtime.frames import invoke_frame
from fcemu.runtime.invocation import Credentials, Invocation
from fcemu.runtime.launcher import launcher_args, parse_launcher_args
from fcemu.runtime.protocol import FRAME_HEADER, encode_frame, error_body
from tests.unit.test_runtime_worker import call, function, run

FCEMU = Path(__file__).resolve().parents[2] / "fcemu"
RUNTIME = FCEMU / "runtime"
ENTRY_SCRIPTS = ("_worker_main.py", "_contain_main.py")
SHARED = ("protocol.py", "handler_api.py", "thread_logs.py", "launcher.py")


def imports(path: Path) -> list[tuple[str, int]]:
    """``(module, level)`` of every import a module makes at run time (not under
    ``if TYPE_CHECKING:``); ``from x import y`` counts as ``x`` and as ``x.y``."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, 0) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module != "__future__":
                base = child.module or ""
                found.append((base, child.level))
                found.extend((f"{base}.{alias.name}".lstrip("."), child.level)
                             for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def test_the_error_json_has_the_python_runtimes_shape():
    assert error_body("boom") == b'{"errorMessage":"boom"}'
    assert json.loads(error_body("bo\u00f6m", "ValueError", [["File \"a.py\"", "line 1"]])) == {
        "errorMessage": "bo\u00f6m", "errorType": "ValueError",
        "stackTrace": [["File \"a.py\"", "line 1"]]}
    assert error_body("x", "T", []) == b'{"errorMessage":"x","errorType":"T","stackTrace":[]}'


def test_a_frame_is_a_big_endian_length_and_compact_json():
    frame = encode_frame({"type": "hello", "maxrss_kb": 1})
    (size,) = FRAME_HEADER.unpack(frame[:FRAME_HEADER.size])
    assert (size, frame[FRAME_HEADER.size:]) == (len(frame) - 4, b'{"type":"hello","maxrss_kb":1}')


def test_the_launchers_command_line_reads_back():
    args = launcher_args("subreaper", 4321, ["python3", "-c", "--", "x"])
    assert args == ["subreaper", "4321", "--", "python3", "-c", "--", "x"]
    assert parse_launcher_args(args) == ("subreaper", 4321, ["python3", "-c", "--", "x"])


@pytest.mark.parametrize("args", [
    [],
    ["pidns", "1", "--"],  # no command
    ["group", "1", "--", "true"],  # group containment runs no launcher
    ["pidns", "one", "--", "true"],
    ["pidns", "1", "true", "false"],  # no separator
])
def test_a_malformed_launcher_command_line_is_refused(args):
    assert parse_launcher_args(args) is None


@pytest.mark.parametrize("script", ENTRY_SCRIPTS + SHARED)
def test_entry_scripts_and_what_they_share_import_only_the_standard_library(script):
    outside = sorted({name for name, level in imports(RUNTIME / script)
                      if level == 0 and name.split(".")[0] not in sys.stdlib_module_names})
    assert outside == []


def test_no_server_module_imports_an_entry_script_or_the_runtime_package_from_inside():
    offenders = []
    for path in sorted(FCEMU.rglob("*.py")):
        if path.parent == RUNTIME and path.name in ENTRY_SCRIPTS:
            continue
        for name, level in imports(path):
            if level == 0 and name.rpartition(".")[2] in {s[:-3] for s in ENTRY_SCRIPTS}:
                offenders.append(f"{path.relative_to(FCEMU)} imports {name}")
            if (level == 0 and path.parent == RUNTIME and path.name != "__init__.py"
                    and name == "fcemu.runtime"):
                offenders.append(f"{path.relative_to(FCEMU)} imports the fcemu.runtime package")
    assert offenders == []


@pytest.mark.parametrize("concurrency", [1, 2])  # 2: the worker loads thread_logs too
def test_the_worker_imports_nothing_of_fcemu_and_shadows_none_of_the_handlers_modules(
        tmp_path, concurrency):
    names = ("protocol", "handler_api", "thread_logs", "launcher")
    for name in names:
        (tmp_path / f"{name}.py").write_text(f"WHOSE = 'the handler {name}'\n")
    (tmp_path / "index.py").write_text(
        "import sys\n"
        "import handler_api, launcher, protocol, thread_logs\n\n"
        "def handler(event, context):\n"
        "    return {'mine': [m.WHOSE for m in (protocol, handler_api, thread_logs, launcher)],\n"
        "            'fcemu': sorted(m for m in sys.modules if m.split('.')[0] == 'fcemu'),\n"
        "            'threaded': type(sys.stdout).__name__ == 'RequestStream'}\n")
    fn = function("echo", code_dir=tmp_path, instance_concurrency=concurrency)
    outcome = run(lambda rt: rt.invoke(call(fn)))
    assert outcome.kind == "ok", outcome.body
    assert json.loads(outcome.body) == {
        "mine": [f"the handler {name}" for name in names], "fcemu": [],
        "threaded": concurrency > 1}


@pytest.mark.parametrize(("request_id", "payload"), [
    ("r-1", b"{}"), ('quo"te\\ é \u2028\n\x00', bytes(range(256))), ("", b"")])
def test_an_invoke_frame_is_the_request_document_encoded(request_id: str, payload: bytes
                                                          ) -> None:
    """The server builds invoke frames from a head its function version shares: the same
    JSON document, framed, as encoding the request whole."""
    credentials = Credentials("id", 'se"cret', "tok\u00e9n")
    invocation = Invocation(request_id, function("x"), payload, "prod", "cn-x", "123",
                            credentials)
    frame = invoke_frame(invocation)
    (size,) = FRAME_HEADER.unpack_from(frame)
    assert size == len(frame) - FRAME_HEADER.size
    assert frame[FRAME_HEADER.size:].isascii()
    assert json.loads(frame[FRAME_HEADER.size:]) == {
        "type": "invoke", "request_id": request_id, "qualifier": "prod",
        "version_id": invocation.function.version_id,
        "payload": base64.b64encode(payload).decode(), "credentials": asdict(credentials)}
