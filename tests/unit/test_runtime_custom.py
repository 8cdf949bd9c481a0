"""The custom runtime: fixtures/custom/http-server (a stdlib HTTP server) as a function.

Real server processes, started from a Python command, from a shell command
and from the default ``bootstrap``, spoken to over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

import fcemu.runtime.custom as custom
from fcemu.models import Function
from fcemu.runtime import UNHANDLED
from fcemu.runtime.procfs import tree_pids
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION
from tests.unit.test_runtime_worker import CRASH, alive, call, error, run, seen_code

SERVER = Path(__file__).resolve().parents[2] / "fixtures" / "custom" / "http-server"
PYTHON = [sys.executable, "-u", "server.py"]
SHELL = ["sh", "-c", f"exec {shlex.quote(sys.executable)} -u server.py --port 9000"]


def server(argv: list[str] | None = PYTHON, *, name: str = "web", timeout: int = 3,
           code_dir: Path = SERVER, runtime: str = "custom.debian10", **fields) -> Function:
    config = {} if argv is None else {"command": argv[:1], "args": argv[1:], "port": 9000}
    return Function(name=name, runtime=runtime, handler="index.handler",
                    arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/{name}", function_id="fid",
                    created_ms=0, modified_ms=0, timeout=timeout, code_dir=code_dir,
                    custom_runtime_config=config, **fields)


def framed(request_id: str, *lines: str) -> str:
    return "".join(f"{line}\n" for line in (f"FC Invoke Start RequestId: {request_id}", *lines,
                                             f"FC Invoke End RequestId: {request_id}"))


@pytest.mark.parametrize("argv", [PYTHON, SHELL], ids=["python", "shell"])
def test_invoke_carries_the_fc_headers_and_environment(argv):
    fn = server(argv, memory_size=256, environment_variables={"GREETING": "hi"},
                instance_lifecycle_config={"preStop": {"handler": "stop", "timeout": 2}})

    async def scenario(rt):
        outcome = await rt.invoke(call(fn, b"headers", "r-h"))
        return outcome, rt.instances()

    outcome, [instance] = run(scenario)
    assert outcome.kind == "ok"
    seen = json.loads(outcome.body)
    port = str(instance["port"])
    assert seen["headers"] == {
        "x-fc-request-id": "r-h", "x-fc-access-key-id": "STS.fcemu-local-access-key",
        "x-fc-access-key-secret": "fcemu-local-access-key-secret",
        "x-fc-security-token": "fcemu-local-security-token", "x-fc-function-name": "web",
        "x-fc-function-handler": "index.handler", "x-fc-function-memory": "256",
        "x-fc-function-timeout": "3", "x-fc-region": REGION, "x-fc-account-id": ACCOUNT,
        "x-fc-qualifier": "LATEST", "x-fc-instance-lifecycle-pre-stop-handler": "stop"}
    env = seen["env"]
    assert env["FC_SERVER_PORT"] == env["FC_CUSTOM_LISTEN_PORT"] == port
    assert (env["FC_FUNCTION_NAME"], env["FC_REGION"], env["GREETING"]) == ("web", REGION, "hi")
    assert env["FC_INSTANCE_ID"] == outcome.instance_id
    assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == "STS.fcemu-local-access-key"
    assert seen["cwd"] == str(seen_code(SERVER))
    if argv is SHELL:  # the configured port in args became the instance's own
        assert seen["argv"][1:] == ["--port", port]
    assert outcome.max_memory_mb > 0


def test_the_default_bootstrap_starts_even_without_its_mode_bits(tmp_path):
    code = tmp_path / "code"
    shutil.copytree(SERVER, code)
    (code / "bootstrap").chmod(0o644)  # as a zip unpacks it
    fn = server(None, code_dir=code, runtime="custom",
                environment_variables={"PYTHON": sys.executable})
    outcome = run(lambda rt: rt.invoke(call(fn, b"hello")))
    assert (outcome.kind, outcome.body) == ("ok", b"HELLO")


def test_requests_reuse_the_warm_server_and_logs_are_framed_once():
    async def scenario(rt):
        return [await rt.invoke(call(server(), b"state", f"r-{i}")) for i in range(2)]

    first, second = run(scenario)
    assert json.loads(second.body)["invocations"] == 2
    assert first.instance_id == second.instance_id
    assert first.logs == framed("r-0", "handling state")  # its own markers are not doubled
    assert "listening" not in first.logs  # start-up output is the instance's, not a request's


@pytest.mark.parametrize(("event", "message"), [
    (b"fail", '{"errorMessage":"the handler failed","errorType":"Failure"}'),
    (b"fcstatus", '{"errorMessage":"x-fc-status says failed"}'),
])
def test_404_or_x_fc_status_404_is_a_function_error_with_the_body(event, message):
    outcome = run(lambda rt: rt.invoke(call(server(), event)))
    assert (outcome.kind, outcome.error_type, outcome.body) == ("error", UNHANDLED,
                                                                message.encode())


def test_a_timeout_kills_the_server_and_the_next_request_gets_a_new_one():
    fn = server(SHELL, timeout=1)

    async def scenario(rt):
        await rt.invoke(call(fn, b"hello", "r-0"))
        pids = tree_pids(rt.instances()[0]["pid"])
        timed_out = await rt.invoke(call(fn, b"sleep:30", "r-1"))
        return pids, timed_out, await rt.invoke(call(fn, b"hello", "r-2"))

    pids, outcome, after = run(scenario)
    assert (outcome.kind, outcome.error_type) == ("timeout", UNHANDLED)
    assert re.fullmatch(r"Function timed out after 1 seconds \(maxMemoryUsage: [1-9]\d*MB\)",
                        error(outcome)["errorMessage"])
    assert outcome.logs == framed("r-1", "handling sleep:30")
    assert not any(alive(pid) for pid in pids)
    assert after.kind == "ok" and after.instance_id != outcome.instance_id


def test_a_server_that_dies_mid_request_is_a_crash():
    outcome = run(lambda rt: rt.invoke(call(server(), b"exit")))
    assert (outcome.kind, outcome.error_type) == ("crash", UNHANDLED)
    assert CRASH.fullmatch(error(outcome)["errorMessage"])
    assert outcome.logs == framed("r-1", "handling exit", "exiting now")


def test_stop_kills_one_request_while_another_instance_goes_on():
    fn = server()

    async def scenario(rt):
        stopped = asyncio.create_task(rt.invoke(call(fn, b"sleep:30", "r-stop")))
        other = asyncio.create_task(rt.invoke(call(fn, b"sleep:0.3", "r-other")))
        while len(rt.instances()) < 2:
            await asyncio.sleep(0)
        await rt.stop("r-stop")
        return await stopped, await other

    stopped, other = run(scenario)
    assert (stopped.kind, other.kind, other.body) == ("stopped", "ok", b"slept")
    assert CRASH.fullmatch(error(stopped)["errorMessage"])


def test_instance_concurrency_shares_one_server():
    fn = server(instance_concurrency=2)

    async def scenario(rt):
        return await asyncio.gather(rt.invoke(call(fn, b"sleep:0.3", "r-a")),
                                    rt.invoke(call(fn, b"sleep:0.3", "r-b")))

    first, second = run(scenario)
    assert first.instance_id == second.instance_id
    for outcome, request_id in ((first, "r-a"), (second, "r-b")):  # cut at the server's lines
        assert outcome.logs.startswith(f"FC Invoke Start RequestId: {request_id}\n")
        assert outcome.logs.endswith(f"FC Invoke End RequestId: {request_id}\n")
        assert "handling sleep:0.3" in outcome.logs


def test_the_initializer_is_posted_once_per_instance():
    fn = server(instance_lifecycle_config={"initializer": {"handler": "init", "timeout": 3}})

    async def scenario(rt):
        return [await rt.invoke(call(fn, b"state", f"r-{i}")) for i in range(2)]

    first, second = run(scenario)
    assert json.loads(second.body)["initializations"] == 1
    assert first.logs == ("FC Initialize Start RequestId: r-0\ninitializing\n"
                          "FC Initialize End RequestId: r-0\n" + framed("r-0", "handling state"))
    assert second.logs == framed("r-1", "handling state")


@pytest.mark.parametrize(("env", "kind", "message"), [
    ({"INIT_FAIL": "1"}, "error", "initializer failed"),
    ({"INIT_SLEEP": "30"}, "timeout", "Function initialization timed out after 1 seconds"),
])
def test_a_failing_initializer_is_an_initialization_error(env, kind, message):
    fn = server(environment_variables=env,
                instance_lifecycle_config={"initializer": {"handler": "init", "timeout": 1}})
    outcome = run(lambda rt: rt.invoke(call(fn, b"hello")))
    assert (outcome.kind, outcome.error_type) == (kind, "InitializationError")
    assert error(outcome)["errorMessage"].startswith(message)
    assert outcome.logs.startswith("FC Initialize Start RequestId: r-1\ninitializing\n")


def test_a_start_command_that_exits_is_function_not_started():
    outcome = run(lambda rt: rt.invoke(call(server(["sh", "-c", "echo no server here; exit 3"]))))
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    assert error(outcome)["errorType"] == "FunctionNotStarted"
    assert "exited with code 3" in error(outcome)["errorMessage"]
    assert "no server here" in outcome.logs


def test_a_server_that_never_listens_fails_the_health_check(monkeypatch):
    monkeypatch.setattr(custom, "START_TIMEOUT_S", 0.3)

    async def scenario(rt):
        task = asyncio.create_task(rt.invoke(call(server(["sh", "-c", "exec sleep 30"]))))
        while not rt.instances() or rt.instances()[0]["pid"] is None:
            await asyncio.sleep(0)
        pid = rt.instances()[0]["pid"]
        return pid, await task

    pid, outcome = run(scenario)
    assert error(outcome)["errorType"] == "FunctionNotStarted"
    assert "health check failed on port" in error(outcome)["errorMessage"]
    assert not alive(pid)


def test_a_bad_config_is_refused_before_starting_anything():
    fn = server()
    fn.custom_runtime_config = {"command": "python server.py"}
    outcome = run(lambda rt: rt.invoke(call(fn)))
    assert error(outcome) == {"errorMessage": "customRuntimeConfig.command must be a list of "
                                              "strings, got 'python server.py'",
                              "errorType": "FunctionNotStarted"}


def test_close_leaves_no_server_behind():
    shell_child = server(["sh", "-c", f"{shlex.quote(sys.executable)} -u server.py"],
                         name="forked")  # sh waits for its python: two processes

    async def scenario(rt):
        await asyncio.gather(rt.invoke(call(server(), b"hello", "r-1")),
                             rt.invoke(call(shell_child, b"hello", "r-2")))
        pids = [p for i in rt.instances() for p in tree_pids(i["pid"])]
        await rt.close()
        return pids

    pids = run(scenario)
    assert len(pids) == 3
    assert not any(alive(pid) for pid in pids)
