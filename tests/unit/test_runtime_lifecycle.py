"""Worker instances: instanceConcurrency, idle reaping, initializers, context per runtime.

Real worker processes running the handlers in fixtures/functions.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable

import pytest

from fcemu.models import Function
from tests.unit.test_runtime_worker import (
    ACCOUNT,
    CRASH,
    FIXTURES,
    REGION,
    call,
    error,
    function,
    handler_running,
    instance_processes,
    run,
    seen_code,
)

INIT = "InitializationError"


def body(outcome) -> dict:
    return json.loads(outcome.body)


# -- instanceConcurrency -------------------------------------------------------------------


def test_concurrent_requests_share_one_instance_with_separate_logs():
    fn = function("concurrent", instance_concurrency=3)

    async def scenario(rt):
        return await asyncio.gather(*(rt.invoke(call(fn, b"3", f"r-{i}")) for i in range(3)))

    outcomes = run(scenario)
    assert [o.kind for o in outcomes] == ["ok"] * 3  # the barrier of 3 passed: all at once
    assert len({body(o)["pid"] for o in outcomes}) == 1
    assert len({body(o)["thread"] for o in outcomes}) == 3
    assert len({o.instance_id for o in outcomes}) == 1
    for i, outcome in enumerate(outcomes):
        lines = outcome.logs.splitlines()
        assert lines[:3] == [f"FC Invoke Start RequestId: r-{i}", f"before r-{i}", f"after r-{i}"]
        assert re.fullmatch(rf".* r-{i} \[INFO\] logged r-{i}", lines[3])
        assert lines[4:] == [f"FC Invoke End RequestId: r-{i}"]


def test_requests_beyond_instance_concurrency_start_another_instance():
    fn = function("concurrent", instance_concurrency=2)

    async def scenario(rt):
        outcomes = await asyncio.gather(*(rt.invoke(call(fn, b"2", f"r-{i}")) for i in range(4)))
        return outcomes, rt.usage().peak

    outcomes, peak = run(scenario)
    assert [o.kind for o in outcomes] == ["ok"] * 4
    ids = [o.instance_id for o in outcomes]  # one process each (PID 2 of its namespace)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert peak == 2


def test_fd_level_output_of_a_threaded_instance_is_the_instance_log():
    fn = function("printer", instance_concurrency=2)
    outcome = run(lambda rt: rt.invoke(call(fn, b"req-a", "req-a")))
    lines = outcome.logs.splitlines()
    assert lines[:3] == ["FC Invoke Start RequestId: req-a", "print req-a", "stderr line"]
    assert re.fullmatch(r".* req-a \[INFO\] logging line", lines[3])
    assert lines[4:] == ["FC Invoke End RequestId: req-a"]  # fd 1 and 2 writes: not a request's


def test_stop_on_a_shared_instance_ends_the_requests_on_it(tmp_path):
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    fn = function("sleeper", timeout=60, instance_concurrency=2,
                  environment_variables={"READY_FIFO": str(fifo)})
    other = function("sleeper", name="other")

    async def scenario(rt):
        stopped = asyncio.create_task(rt.invoke(call(fn, b"30", "r-stop")))
        await handler_running(fifo)
        neighbour = asyncio.create_task(rt.invoke(call(fn, b"30", "r-neighbour")))
        await handler_running(fifo)
        elsewhere = await rt.invoke(call(other, b"0", "r-elsewhere"))
        await rt.stop("r-stop")
        return await stopped, await neighbour, elsewhere

    stopped, neighbour, elsewhere = run(scenario)
    assert (stopped.kind, neighbour.kind, elsewhere.kind) == ("stopped", "crash", "ok")
    assert CRASH.fullmatch(error(neighbour)["errorMessage"])
    assert stopped.instance_id == neighbour.instance_id != elsewhere.instance_id
    assert not instance_processes(stopped.instance_id)


class IdleTimers:
    """Idle timers that fire only when the test fires them (the pool's ``idle_timer``)."""

    def __init__(self) -> None:
        self.started: list[tuple[float, Callable[[], None], Handle]] = []

    def __call__(self, seconds: float, callback: Callable[[], None]) -> Handle:
        handle = Handle()
        self.started.append((seconds, callback, handle))
        return handle


class Handle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_an_idle_instance_is_stopped_when_its_idle_timer_fires():
    timers = IdleTimers()

    async def scenario(rt):
        outcome = await rt.invoke(call(function("echo", "index.counter")))
        warm = [i["instanceId"] for i in rt.instances()]
        [(seconds, expire, handle)] = timers.started
        expire()  # idle_seconds have passed
        await rt.pool.reaped()
        return outcome.instance_id, warm, (seconds, handle.cancelled), rt.instances()

    instance_id, warm, timer, after = run(scenario, idle_seconds=300, idle_timer=timers)
    assert warm == [instance_id]
    assert timer == (300, False)
    assert after == []
    assert not instance_processes(instance_id)


def test_a_reused_instance_cancels_its_idle_timer():
    timers = IdleTimers()

    async def scenario(rt):
        fn = function("echo", "index.counter")
        first, second = [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]
        [(_, _, old), (_, _, new)] = timers.started
        return first.instance_id == second.instance_id, old.cancelled, new.cancelled

    warm, old_cancelled, new_cancelled = run(scenario, idle_timer=timers)
    assert warm  # the second request ran on the idle instance
    assert (old_cancelled, new_cancelled) == (True, False)


def test_idle_instances_are_stopped_after_the_idle_time():
    """End to end, in real time: the loop's own timer stops the instance."""
    fired = asyncio.Event()

    def loop_timer(seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        def expire() -> None:
            callback()
            fired.set()

        return asyncio.get_running_loop().call_later(seconds, expire)

    async def scenario(rt):
        outcome = await rt.invoke(call(function("echo", "index.counter")))
        await asyncio.wait_for(fired.wait(), 10)
        await rt.pool.reaped()
        return outcome.instance_id, rt.instances()

    instance_id, after = run(scenario, idle_seconds=0.1, idle_timer=loop_timer)
    assert after == []
    assert not instance_processes(instance_id)


# -- initializers ----------------------------------------------------------------------------


def initialized(handler: str = "index.initialize", timeout: int | None = None,
                **fields) -> Function:
    init: dict = {"handler": handler}
    if timeout is not None:
        init["timeout"] = timeout
    return function("initializer", instance_lifecycle_config={"initializer": init}, **fields)


def test_the_initializer_runs_once_per_instance_before_the_first_request():
    fn = initialized(timeout=5)

    async def scenario(rt):
        return [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]

    first, second = run(scenario)
    assert body(first) == body(second) == {"initialized": ["r-0"], "pid": body(first)["pid"]}
    assert first.logs == ("FC Initialize Start RequestId: r-0\ninitializing for r-0\n"
                          "FC Initialize End RequestId: r-0\n"
                          "FC Invoke Start RequestId: r-0\nhandling\n"
                          "FC Invoke End RequestId: r-0\n")
    assert second.logs == "FC Invoke Start RequestId: r-1\nhandling\nFC Invoke End RequestId: r-1\n"


def test_requests_arriving_while_an_instance_starts_wait_for_one_initializer():
    fn = initialized(instance_concurrency=3)

    async def scenario(rt):
        return await asyncio.gather(*(rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(3)))

    outcomes = run(scenario)
    assert [body(o)["initialized"] for o in outcomes] == [["r-0"]] * 3
    assert "FC Initialize" not in outcomes[1].logs + outcomes[2].logs


def test_a_failing_initializer_fails_the_request_and_the_instance_is_destroyed():
    fn = initialized("index.broken_initialize")

    async def scenario(rt):
        return [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]

    first, second = run(scenario)
    for outcome in (first, second):  # FC runs it again on a new instance next time
        assert (outcome.kind, outcome.error_type) == ("error", INIT)
        assert error(outcome)["errorMessage"] == "cannot connect to the database"
    assert first.instance_id != second.instance_id
    source = FIXTURES / "initializer" / "index.py"
    raise_line = 'raise RuntimeError("cannot connect to the database")'
    line = [s.strip() for s in source.read_text().splitlines()].index(raise_line) + 1
    assert error(first)["errorType"] == "RuntimeError"
    assert error(first)["stackTrace"] == [
        [f'File "{seen_code(source.parent) / source.name}"', f"line {line}",
         "in broken_initialize", raise_line]]
    assert first.logs.startswith("FC Initialize Start RequestId: r-0\nabout to fail\n")
    assert first.logs.endswith("RuntimeError: cannot connect to the database\n"
                               "FC Initialize End RequestId: r-0\n")


def test_an_initializer_that_times_out_is_killed():
    fn = initialized("index.slow_initialize", timeout=1)
    outcome = run(lambda rt: rt.invoke(call(fn)))
    assert (outcome.kind, outcome.error_type) == ("timeout", INIT)
    assert re.fullmatch(r"Function initialization timed out after 1 seconds "
                        r"\(maxMemoryUsage: [1-9]\d*MB\)", error(outcome)["errorMessage"])
    assert 1000 <= outcome.duration_ms < 10_000
    assert re.search(r"^pid=(\d+)$", outcome.logs, re.M)
    assert not instance_processes(outcome.instance_id)
    assert outcome.logs.endswith("FC Initialize End RequestId: r-1\n")


def test_a_missing_initializer_is_an_initialization_error():
    outcome = run(lambda rt: rt.invoke(call(initialized("index.nope"))))
    assert (outcome.kind, outcome.error_type) == ("error", INIT)
    assert error(outcome) == {"errorMessage": "Handler 'nope' is missing on module 'index'",
                              "errorType": "HandlerNotFound", "stackTrace": []}


# -- the context by runtime version (spec §12.1) ---------------------------------------------


LOG_CONFIG = {"logConfig": {"project": "proj", "logstore": "store"}}


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10"])
def test_the_python3_10_context_has_credentials_and_service(runtime):
    fn = function("echo", "index.context_shape", runtime=runtime, extra=LOG_CONFIG)
    outcome = run(lambda rt: rt.invoke(call(fn, request_id="r-ctx")))
    shape = body(outcome)
    assert shape["fields"] == ["account_id", "credentials", "function", "getLogger", "region",
                               "request_id", "service", "stop_requested"]
    assert shape["function"] == {"name": "echo", "handler": "index.context_shape",
                                 "memory": 128, "timeout": 3}
    assert shape["service"] == {"name": "", "log_project": "proj", "log_store": "store",
                                "qualifier": "LATEST", "version_id": ""}
    assert set(shape["credentials"]) == {"access_key_id", "access_key_secret", "security_token"}
    assert (shape["request_id"], shape["region"], shape["account_id"]) == (
        "r-ctx", REGION, ACCOUNT)
    # context.getLogger() (FC's Python logging page): the root logger, at INFO, FC's format
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-ctx \[INFO\] via getLogger$",
                     outcome.logs, re.M)


def test_the_python3_12_context_has_a_logger_and_no_credentials():
    fn = function("echo", "index.context_shape", runtime="python3.12", extra=LOG_CONFIG)
    outcome = run(lambda rt: rt.invoke(call(fn, request_id="r-ctx")))
    shape = body(outcome)
    assert shape["fields"] == ["account_id", "function", "getLogger", "log_project", "log_store",
                               "logger", "region", "request_id", "stop_requested"]
    assert shape["function"] == {"name": "echo", "handler": "index.context_shape", "memory": 128,
                                 "timeout": 3, "version_id": "", "qualifier": "LATEST"}
    assert (shape["log_project"], shape["log_store"]) == ("proj", "store")
    assert shape["logger_is_context_logger"] is True
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-ctx \[INFO\] via getLogger$",
                     outcome.logs, re.M)


def test_the_instance_log_keeps_what_belongs_to_no_request():
    fn = function("printer", instance_concurrency=2)

    async def scenario(rt):
        await rt.invoke(call(fn, b"req-a", "req-a"))
        [log] = [i.log for i in rt.pool.instances()]  # stderr is a pipe of its own: wait for it
        await log.wait_until(lambda: b"fd2" in log.instance_log, 10)
        return rt.instances()

    [instance] = run(scenario)
    assert instance["log"] == "fd1 line\nfd2 line\n"
