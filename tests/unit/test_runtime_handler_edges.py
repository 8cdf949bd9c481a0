"""Python handlers at the edges of FC's docs: ``context.getLogger()`` on python3.9/3.10, the
function version's variable, errors fcemu cannot format, log times and lines without a
newline. Worker processes (both concurrency modes), in-process handlers, Node.js workers."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fcemu.models import Function
from fcemu.runtime import UNHANDLED, Invocation, Outcome
from fcemu.runtime.environ import handler_environment, version_variable
from tests.unit import test_runtime_inprocess as inprocess
from tests.unit.test_runtime_nodejs import needs_node, node_function
from tests.unit.test_runtime_worker import call, function, run

CODE = """
import json, os, sys

class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("str broke")

def unprintable(event, context):
    raise Unprintable()

def deep(event, context):
    value = []
    for _ in range(100000):
        value = [value]
    return value

def get_logger(event, context):
    context.getLogger().info("hello world")
    return "done"

def no_newline(event, context):
    print("no newline here", end="")
    return "x"

def log_line(event, context):
    import logging
    logging.getLogger().info("hello world")
    return "done"

def initialize(context):
    print("initializing", end="")

def environment(event, context):
    return {k: v for k, v in os.environ.items() if k in ("FC_VER_ID", "FC_FUNCTION_VERSION")}
"""


def worker(tmp_path: Path, handler: str, **fields: object) -> Function:
    code = tmp_path / "code"
    if not code.exists():
        code.mkdir()
        (code / "index.py").write_text(CODE)
    return function("edges", f"index.{handler}", code_dir=code, **fields)


def invoke(fn: Function, request_id: str = "r-1") -> Outcome:
    return run(lambda rt: rt.invoke(call(fn, b"", request_id)))  # type: ignore[no-any-return]


def error(outcome: Outcome) -> dict[str, object]:
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    return json.loads(outcome.body)  # type: ignore[no-any-return]


# -- context.getLogger() on python3.9/3.10 -----------------------------------------------------


def test_get_logger_of_an_in_process_python3_10_handler_logs_at_info() -> None:
    def handler(event: bytes, context: object) -> str:
        context.getLogger().info("hello %s", "world")  # type: ignore[attr-defined]
        return "done"

    outcome = inprocess.invoke_once(handler, runtime="python3.10")
    assert outcome.body == b"done"
    assert re.search(r"^\S+Z r-1 \[INFO\] hello world$", outcome.logs, re.M)


# -- FC_FUNCTION_VERSION / FC_VER_ID -------------------------------------------------------------


@pytest.mark.parametrize(("runtime", "name"), [
    ("python3.9", "FC_VER_ID"), ("python3.10", "FC_VER_ID"), ("nodejs20", "FC_VER_ID"),
    ("custom", "FC_VER_ID"), ("custom.debian10", "FC_VER_ID"),
    ("python3.12", "FC_FUNCTION_VERSION"), ("custom.debian11", "FC_FUNCTION_VERSION"),
    ("custom.debian12", "FC_FUNCTION_VERSION")])
def test_the_version_variable_follows_the_runtimes_debian(runtime: str, name: str) -> None:
    assert version_variable(runtime) == name


@pytest.mark.parametrize(("version_id", "value"), [("", "0"), ("3", "3")])
def test_an_instance_gets_its_function_version(tmp_path: Path, version_id: str,
                                               value: str) -> None:
    fn = worker(tmp_path, "environment", runtime="python3.10", version_id=version_id)
    env = handler_environment(Invocation("r-1", fn, b"", "LATEST", "r", "a"), "i-1",
                              server_env={})
    assert (env["FC_VER_ID"], "FC_FUNCTION_VERSION" in env) == (value, False)
    outcome = invoke(worker(tmp_path, "environment", runtime="python3.12",
                            version_id=version_id))
    assert json.loads(outcome.body) == {"FC_FUNCTION_VERSION": value}


# -- errors fcemu cannot format ---------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 2])
def test_an_unprintable_exception_is_a_function_error(tmp_path: Path, concurrency: int) -> None:
    outcome = invoke(worker(tmp_path, "unprintable", instance_concurrency=concurrency))
    body = error(outcome)
    assert (body["errorMessage"], body["errorType"]) == ("<unprintable Unprintable object>",
                                                        "Unprintable")
    assert "raise Unprintable()" in outcome.logs and "str broke" not in outcome.logs
    assert outcome.logs.endswith("FC Invoke End RequestId: r-1\n")


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_result_too_deep_to_encode_is_a_function_error(tmp_path: Path,
                                                         concurrency: int) -> None:
    outcome = invoke(worker(tmp_path, "deep", instance_concurrency=concurrency))
    body = error(outcome)
    assert body["errorType"] == "RecursionError"
    assert "RecursionError: maximum recursion depth exceeded" in outcome.logs
    assert "Traceback" not in outcome.logs  # fcemu's own frames stay out of the user's log


def test_in_process_errors_fcemu_cannot_format_are_function_errors() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str broke")

    def unprintable(event: bytes, context: object) -> None:
        raise Unprintable()

    def deep(event: bytes, context: object) -> list[object]:
        value: list[object] = []
        for _ in range(100000):
            value = [value]
        return value

    body = error(inprocess.invoke_once(unprintable))
    assert (body["errorMessage"], body["errorType"]) == ("<unprintable Unprintable object>",
                                                        "Unprintable")
    outcome = inprocess.invoke_once(deep)
    assert error(outcome)["errorType"] == "RecursionError"
    assert "RecursionError: maximum recursion depth exceeded" in outcome.logs


# -- log lines ------------------------------------------------------------------------------


def test_python_log_lines_carry_utc_iso_times_whatever_the_time_zone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")  # the worker's environment takes TZ (UTC+8)
    outcome = invoke(worker(tmp_path, "log_line"))
    match = re.search(r"^(\S+) r-1 \[INFO\] hello world$", outcome.logs, re.M)
    assert match, outcome.logs
    logged = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs((now - logged).total_seconds()) < 3600  # UTC: not 8 hours off


@pytest.mark.parametrize("concurrency", [1, 2])
def test_the_end_line_follows_output_without_a_newline_on_a_line_of_its_own(
        tmp_path: Path, concurrency: int) -> None:
    fn = worker(tmp_path, "no_newline", instance_concurrency=concurrency)

    async def twice(rt: object) -> list[Outcome]:
        return [await rt.invoke(call(fn, b"", f"r-{i}")) for i in range(2)]  # type: ignore

    for i, outcome in enumerate(run(twice)):
        assert outcome.logs == (f"FC Invoke Start RequestId: r-{i}\nno newline here\n"
                                f"FC Invoke End RequestId: r-{i}\n")


def test_an_initializers_end_line_is_on_a_line_of_its_own_too(tmp_path: Path) -> None:
    fn = worker(tmp_path, "no_newline", instance_lifecycle_config={
        "initializer": {"handler": "index.initialize", "timeout": 3}})
    assert invoke(fn).logs == (
        "FC Initialize Start RequestId: r-1\ninitializing\nFC Initialize End RequestId: r-1\n"
        "FC Invoke Start RequestId: r-1\nno newline here\nFC Invoke End RequestId: r-1\n")


@needs_node
@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_nodejs_end_line_follows_output_without_a_newline_on_a_line_of_its_own(
        tmp_path: Path, concurrency: int) -> None:
    fn = node_function(tmp_path, {"index.js": """
exports.handler = async () => { process.stdout.write("partial"); return "x"; };
"""}, instance_concurrency=concurrency)
    outcome = invoke(fn)
    assert outcome.logs == ("FC Invoke Start RequestId: r-1\npartial\n"
                            "FC Invoke End RequestId: r-1\n")
