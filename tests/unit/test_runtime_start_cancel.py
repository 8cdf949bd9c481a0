"""Issue 12, gap 9: a stop, a reset or a shutdown cancels an instance's start at once.

The custom server here (:data:`SLOW_SERVER`) reports through a FIFO that it
runs, then takes 30 s before it would listen. Whatever ends the instance
while fcemu waits for its port (a stop of the request, ``Runtimes.close``,
``Emulator.stop``, a reset, SIGTERM or SIGKILL of ``fcemu serve``) ends the
start within about a second and leaves no process. Processes are found by a
marker in their command line; waits are a FIFO handshake and pidfds. A
Python worker whose initializer is still running (:data:`SLOW_INITIALIZER`)
is a start in progress too.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import fcemu
from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import Runtimes
from tests.api.conftest import zip_b64
from tests.cli.conftest import environment
from tests.constants import ACCOUNT, T0
from tests.constants import RUNTIME_REGION as REGION
from tests.hardening.processes import (
    available_modes,
    linux_only,
    make_fifo,
    processes_with,
    serving_one_async_task,
    wait_gone,
    wait_ready,
)
from tests.unit.test_runtime_worker import boot_ticks, call, function, instance_processes

pytestmark = linux_only

#: How long after the stop/reset/shutdown the start may end (the issue: about a second).
LATE_S = 1.0

#: A custom server that says it runs (READY_FIFO), then takes 30 s before listening.
SLOW_SERVER = """\
import os, time
with open(os.environ["READY_FIFO"], "w") as fifo:
    fifo.write("ready")
time.sleep(30)
"""


#: A Python function whose initializer says it runs (READY_FIFO), then takes 30 s.
SLOW_INITIALIZER = """\
import os, time


def init(context):
    with open(os.environ["READY_FIFO"], "w") as fifo:
        fifo.write("ready")
    time.sleep(30)


def handler(event, context):
    return event
"""


@pytest.fixture
def slow(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(SLOW_SERVER)
    return code


def config(marker: str) -> dict[str, object]:
    return {"command": [sys.executable, "index.py", marker], "port": 9000}


def slow_function(code: Path, marker: str, fifo: Path) -> Function:
    return Function(name="slow", runtime="custom.debian10", handler="index.handler",
                    arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/slow", function_id="fid",
                    created_ms=0, modified_ms=0, timeout=60, code_dir=code,
                    custom_runtime_config=config(marker),
                    environment_variables={"READY_FIFO": str(fifo)})


@pytest.mark.parametrize("how", ["stop", "close"])
def test_a_stop_or_close_ends_the_start_at_once(slow, tmp_path, how):
    marker = str(tmp_path / f"runtime-{how}")
    fifo = make_fifo(tmp_path / "ready")
    fn = slow_function(slow, marker, fifo)

    async def main():
        rt = Runtimes(IdGenerator(7))
        try:
            invocation = asyncio.ensure_future(rt.invoke(call(fn, b"{}", "r-start")))
            await asyncio.to_thread(wait_ready, fifo)
            assert processes_with(marker) != []
            started = time.monotonic()
            if how == "stop":
                assert await rt.stop("r-start")
            else:
                await rt.close()
            assert invocation.done() or how == "stop"  # close returns after the start ended
            outcome = await asyncio.wait_for(invocation, 5)
            return outcome, time.monotonic() - started
        finally:
            await rt.close()

    outcome, took = asyncio.run(main())
    assert took < LATE_S
    assert outcome.kind == ("stopped" if how == "stop" else "crash")
    assert processes_with(marker) == []


def test_close_ends_a_worker_start_in_its_initializer(tmp_path):
    code = tmp_path / "worker"
    code.mkdir()
    (code / "index.py").write_text(SLOW_INITIALIZER)
    fifo, since = make_fifo(tmp_path / "ready"), boot_ticks()
    fn = function("slowinit", code_dir=code, timeout=60,
                  instance_lifecycle_config={"initializer": {"handler": "index.init",
                                                             "timeout": 60}},
                  environment_variables={"READY_FIFO": str(fifo)})

    async def main():
        rt = Runtimes(IdGenerator(7))
        try:
            invocation = asyncio.ensure_future(rt.invoke(call(fn, b"{}", "r-init")))
            await asyncio.to_thread(wait_ready, fifo)
            [instance] = rt.instances()
            assert instance_processes(instance["instanceId"], since) != []
            started = time.monotonic()
            await rt.close()
            took = time.monotonic() - started
            assert invocation.done()  # close returns after the start ended
            return instance["instanceId"], invocation.result(), took
        finally:
            await rt.close()

    instance_id, outcome, took = asyncio.run(main())
    assert took < LATE_S
    assert outcome.kind == "crash"
    assert instance_processes(instance_id, since) == []


@pytest.mark.parametrize("how", ["reset", "shutdown"])
def test_reset_and_shutdown_during_a_start(slow, tmp_path, how):
    marker = str(tmp_path / f"emulator-{how}")
    fifo = make_fifo(tmp_path / "ready")
    with fcemu.Emulator(clock="manual", start=T0, seed=7) as emu:
        emu.register_function("slow", code=slow, runtime="custom.debian10", timeout=60,
                              customRuntimeConfig=config(marker),
                              environmentVariables={"READY_FIFO": str(fifo)})
        emu.invoke("slow", b"{}", asynchronous=True)
        wait_ready(fifo)
        children = processes_with(marker)
        assert children != []
        started = time.monotonic()
        if how == "reset":
            reset = urllib.request.Request(f"{emu.endpoint}/_fcemu/reset", data=b"",
                                           method="POST")
            urllib.request.urlopen(reset, timeout=30).close()
            assert emu.instances() == []
        else:
            emu.stop()
        took = time.monotonic() - started
        assert wait_gone(children) == []
    assert took < LATE_S
    assert processes_with(marker) == []


SERVER_CASES = [(mode, how) for mode in available_modes()
                for how in (signal.SIGTERM, signal.SIGKILL)]


@pytest.mark.parametrize(("mode", "how"), SERVER_CASES,
                         ids=[f"{mode}-{how.name}" for mode, how in SERVER_CASES])
def test_the_server_signalled_during_a_start_leaves_no_process(slow, tmp_path, mode, how):
    marker = str(tmp_path / f"serve-{mode}-{how.name}")
    fifo = make_fifo(tmp_path / "ready")
    create = {"functionName": "slow", "runtime": "custom.debian10", "timeout": 60,
              "handler": "index.handler", "customRuntimeConfig": config(marker),
              "code": {"zipFile": zip_b64(SLOW_SERVER)},
              "environmentVariables": {"READY_FIFO": str(fifo)}}
    with serving_one_async_task(mode, create, b"{}", environment()) as server:
        wait_ready(fifo)
        children = processes_with(marker)
        assert children != []
        started = time.monotonic()
        server.send_signal(how)
        server.wait(timeout=30)
        took = time.monotonic() - started
        assert wait_gone(children) == []
        assert server.stderr is not None
        errors = server.stderr.read()
    assert processes_with(marker) == []
    if how == signal.SIGTERM:  # a clean, prompt shutdown: no start left behind
        assert server.returncode == 0
        assert took < 2 * LATE_S  # the interpreter's own exit included
        assert "Task was destroyed but it is pending" not in errors
