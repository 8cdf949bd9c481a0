"""Runtimes end to end: a real fcemu server, the official FC SDK, the control API over HTTP,
and real handler processes (Python workers and a custom-runtime server).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from alibabacloud_fc20230330 import models as fc

from fcemu import Emulator
from tests.constants import T0
from tests.contract.conftest import create_function
from tests.contract.test_fc_contract import (
    client_error,
    get_task,
    invoke_async,
    invoke_sync,
    put_config,
    queue_arn,
)
from tests.unit.test_runtime_worker import alive, boot_ticks, instance_processes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

#: A handler that, given a FIFO path as its event, writes its instance ID there and then waits
#: for ``<fifo>.go`` to exist; given nothing, it answers at once.
BLOCKER = """\
import os, time

def handler(event, context):
    path = event.decode()
    print(f"pid={os.getpid()}", flush=True)
    if not path:
        return "quick"
    with open(path, "w") as fifo:
        fifo.write(os.environ["FC_INSTANCE_ID"])
    while not os.path.exists(path + ".go"):
        time.sleep(0.01)
    return "released"
"""
PRINTER = """\
import logging

def handler(event, context):
    print("printed", event.decode())
    logging.getLogger("user").info("logged")
    return "ok"
"""


def control(emu: Emulator, method: str, path: str, body: object = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emu.endpoint}/_fcemu{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def running(path: Path) -> str:
    """Block until the handler given ``path`` is running; its instance ID."""
    return path.read_text()


def release(path: Path) -> None:
    Path(f"{path}.go").touch()


def tree(pid: int) -> list[int]:
    from fcemu.runtime.procfs import tree_pids

    return tree_pids(pid)


# -- logs -------------------------------------------------------------------------------------


def test_tail_logs_of_worker_and_in_process_handlers(fcemu, fc_client):
    create_function(fc_client, "printer", PRINTER)
    fcemu.register_function("inline", lambda event, context: print("inline", event.decode()))
    for name, needle in (("printer", "printed ev"), ("inline", "inline ev")):
        response = invoke_sync(fc_client, name, b"ev", log_type="Tail")
        request_id = response.headers["x-fc-request-id"]
        log = base64.b64decode(response.headers["x-fc-log-result"]).decode()
        assert log.startswith(f"FC Invoke Start RequestId: {request_id}\n")
        assert f"\n{needle}\n" in log
        assert log.endswith(f"FC Invoke End RequestId: {request_id}\n")


def test_task_logs_from_the_python_api_and_the_control_api(fcemu, fc_client):
    create_function(fc_client, "printer", PRINTER)
    put_config(fc_client, "printer", retries=0)
    invoke_async(fc_client, "printer", b"job", task_id="job-1")
    fcemu.drain()
    logs = fcemu.task_logs("printer", "job-1")
    status, doc = control(fcemu, "GET", "/functions/printer/async-tasks/job-1/logs")
    assert status == 200
    assert doc["logs"] == logs and "printed job" in logs
    [attempt] = doc["attempts"]
    assert (attempt["attempt"], attempt["outcome"], attempt["logs"]) == (1, "ok", logs)
    assert attempt["instanceId"] == get_task(fc_client, "printer", "job-1").instance_id


@pytest.mark.fc_verified
def test_a_failing_initializer_answers_initialization_error(fc_client):
    source = PRINTER + "\n\ndef initialize(context):\n    raise OSError('no database')\n"
    create_function(fc_client, "init", source, instance_lifecycle_config=fc.InstanceLifecycleConfig(
        initializer=fc.LifecycleHook(handler="index.initialize", timeout=3)))
    response = invoke_sync(fc_client, "init", b"x", log_type="Tail")
    assert (response.status_code, response.headers["x-fc-error-type"]) == (
        200, "InitializationError")
    assert json.loads(response.body.read())["errorMessage"] == "no database"
    log = base64.b64decode(response.headers["x-fc-log-result"]).decode()
    assert log.startswith("FC Initialize Start RequestId: ")


# -- scripted outcomes over the control API ------------------------------------------------------


def test_a_script_drives_retries_and_shows_in_the_events(fcemu, fc_client):
    create_function(fc_client, "job", PRINTER)
    put_config(fc_client, "job", retries=2, queue=queue_arn(fcemu, "out"))
    status, doc = control(fcemu, "POST", "/functions/job/script",
                          [{"outcome": "error", "message": "flaky", "times": 2}, "run"])
    assert status == 200
    assert [s["outcome"] for s in doc["steps"]] == ["error", "run"]
    invoke_async(fc_client, "job", b"x", task_id="t-1")
    fcemu.drain()
    task = get_task(fc_client, "job", "t-1")
    assert task.status == "Succeeded" and task.already_retried_times == 2
    assert [json.loads(e.event_detail or "{}").get("Scripted") for e in task.events] == [
        None, None, "error", "error", "error", "error", "run", "run"]
    assert control(fcemu, "GET", "/functions/job/script") == (
        200, {"functionName": "job", "steps": []})
    assert fcemu.queue("out").json()[0]["requestContext"]["approximateInvokeCount"] == 3


def test_scripted_throttle_is_a_429_and_a_script_can_be_cleared(fcemu, fc_client):
    create_function(fc_client, "job", PRINTER)
    control(fcemu, "POST", "/functions/job/script", {"steps": ["throttle", "crash"]})
    error = client_error(lambda: invoke_sync(fc_client, "job", b"1"))
    assert (error.status_code, error.code) == (429, "ResourceThrottled")
    assert control(fcemu, "DELETE", "/functions/job/script")[0] == 204
    assert invoke_sync(fc_client, "job", b"1").body.read() == b"ok"
    status, doc = control(fcemu, "POST", "/functions/job/script", [{"outcome": "nope"}])
    assert (status, doc["Code"]) == (400, "InvalidArgument")
    assert control(fcemu, "POST", "/functions/missing/script", [])[0] == 404


def test_a_destination_fault_fails_delivery(fcemu, fc_client):
    create_function(fc_client, "job", PRINTER)
    put_config(fc_client, "job", queue=queue_arn(fcemu, "out"))
    status, doc = control(fcemu, "POST", "/destinations/faults", {"destination": "out", "times": 2})
    assert (status, doc) == (200, {"faults": [{"kind": "queue", "name": "out", "remaining": 2}]})
    invoke_async(fc_client, "job", b"1", task_id="t-1")
    fcemu.drain()
    assert get_task(fc_client, "job", "t-1").destination_status == "Failed"
    assert len(fcemu.queue("out")) == 0
    assert control(fcemu, "DELETE", "/destinations/faults")[0] == 204
    fcemu.fail_destination(queue_arn(fcemu, "out"), times=0)  # the Python API, an ARN, a no-op
    invoke_async(fc_client, "job", b"2", task_id="t-2")
    fcemu.drain()
    assert get_task(fc_client, "job", "t-2").destination_status == "Succeeded"


def test_the_python_api_scripts_functions_too(fcemu):
    fcemu.register_function("inline", lambda event, context: "real")
    fcemu.script("inline", [{"outcome": "ok", "value": {"fake": True}}])
    first = fcemu.call(lambda e: e.invoke_function("inline", b""))
    second = fcemu.call(lambda e: e.invoke_function("inline", b""))
    assert (first.outcome.body, second.outcome.body) == (b'{"fake":true}', b"real")
    fcemu.script("inline", ["crash"])
    fcemu.clear_script()
    assert fcemu.call(lambda e: e.invoke_function("inline", b"")).outcome.body == b"real"


# -- throttling and stops with real processes ----------------------------------------------------


def test_reserved_concurrency_throttles_sync_and_delays_async(fcemu, fc_client, tmp_path):
    create_function(fc_client, "one", BLOCKER)
    put_config(fc_client, "one", retries=0)
    fc_client.put_concurrency_config("one", fc.PutConcurrencyConfigRequest(
        body=fc.PutConcurrencyInput(reserved_concurrency=1)))
    gate = fifo(tmp_path, "busy")
    holder = threading.Thread(target=invoke_sync, args=(fc_client, "one", str(gate).encode()))
    holder.start()
    running(gate)
    error = client_error(lambda: invoke_sync(fc_client, "one", b""))
    assert (error.status_code, error.code) == (429, "ResourceThrottled")
    invoke_async(fc_client, "one", b"", task_id="later")
    fcemu.settle()
    assert get_task(fc_client, "one", "later").status == "Enqueued"  # throttled, not an attempt
    release(gate)
    holder.join(30)
    fcemu.drain()
    task = get_task(fc_client, "one", "later")
    assert (task.status, task.already_retried_times) == ("Succeeded", 0)
    assert [(e.status, e.timestamp - T0) for e in task.events][:2] == [
        ("Enqueued", 0), ("Processed", 500)]


def test_stop_one_attempt_among_several_running(fcemu, fc_client, tmp_path):
    since = boot_ticks()
    create_function(fc_client, "work", BLOCKER, timeout=60)
    put_config(fc_client, "work", retries=0)
    gates = [fifo(tmp_path, f"g{i}") for i in range(3)]
    for i, gate in enumerate(gates):
        invoke_async(fc_client, "work", str(gate).encode(), task_id=f"t-{i}")
    ids = [running(gate) for gate in gates]
    assert len(set(ids)) == 3  # three instances
    fc_client.stop_async_task("work", "t-1", fc.StopAsyncTaskRequest())
    release(gates[0])
    release(gates[2])
    fcemu.settle()
    tasks = [get_task(fc_client, "work", f"t-{i}") for i in range(3)]
    assert [t.status for t in tasks] == ["Succeeded", "Stopped", "Succeeded"]
    assert [bool(instance_processes(i, since)) for i in ids] == [True, False, True]


# -- the instance cap and orphans, on emulators of their own -------------------------------------


def test_a_burst_of_2000_tasks_stays_under_the_instance_cap():
    count = 2000
    finished: list[str] = []
    with Emulator(clock="manual", start=T0, seed=7, max_instances=2) as emu:
        emu.task_listeners.append(lambda task: finished.append(task["taskId"]))
        for name in ("tiny-a", "tiny-b"):
            emu.register_function(name, code=FIXTURES / "functions" / "echo")
            emu.put_async_invoke_config(name, asyncTask=True, maxAsyncRetryAttempts=0)

        async def burst(engine):
            for i in range(count):  # one function after the other: the cap makes them queue
                name = "tiny-a" if i < count // 2 else "tiny-b"
                await engine.invoke_function(name, str(i).encode(), asynchronous=True,
                                             task_id=f"t-{i}")

        emu.call(burst)
        emu.drain(timeout=120)
        tasks = emu.tasks("tiny-a") + emu.tasks("tiny-b")
        status, instances = control(emu, "GET", "/instances")
    assert status == 200 and instances["maxInstances"] == 2
    assert 1 <= instances["peak"] <= 2  # sampled by the pool at every instance start
    assert len(tasks) == count
    assert {t["status"] for t in tasks} == {"Succeeded"}
    terminal = [sum(e["status"] == "Succeeded" for e in t["events"]) for t in tasks]
    assert terminal == [1] * count
    assert sorted(finished) == sorted(f"t-{i}" for i in range(count))  # each finished once
    assert sorted(t["returnPayload"] for t in tasks) == sorted(str(i) for i in range(count))


def test_no_handler_process_survives_a_reset_or_the_shutdown(tmp_path):
    code = tmp_path / "web"
    shutil.copytree(FIXTURES / "custom" / "http-server", code)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "index.py").write_text(BLOCKER)
    with Emulator(clock="manual", start=T0, seed=7) as emu:
        def deploy(gate: Path) -> list[int]:
            emu.register_function("py", code=FIXTURES / "functions" / "echo")
            emu.register_function(
                "web", code=code, runtime="custom.debian12",
                customRuntimeConfig={"command": ["sh", "-c"],
                                     "args": [f"{sys.executable} -u server.py"]})
            emu.register_function("busy", code=blocker, timeout=60)
            emu.put_async_invoke_config("busy", asyncTask=True)
            for name in ("py", "web"):
                assert emu.call(lambda e, n=name: e.invoke_function(n, b"x")).outcome.ok
            emu.call(lambda e: e.invoke_function("busy", str(gate).encode(), asynchronous=True))
            running(gate)  # the blocker is inside its handler, never released
            pids = [p for i in emu.instances() for p in tree(i["pid"])]
            assert len(pids) >= 4 and all(alive(p) for p in pids)  # sh and its server: two
            return pids

        pids = deploy(fifo(tmp_path, "first"))
        emu.reset()
        assert not any(alive(p) for p in pids) and emu.instances() == []
        pids = deploy(fifo(tmp_path, "second"))
    assert not any(alive(p) for p in pids)


def test_the_readme_runtimes_snippet_runs_as_written():
    section = (FIXTURES.parent / "docs" / "runtimes.md").read_text()
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    exec(compile(code, "docs/runtimes.md", "exec"), {})
