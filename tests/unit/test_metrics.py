"""Metrics (fcemu.metrics) from the engine's task events, on a manual clock, no browser:
``emu.metrics()`` and ``GET /_fcemu/metrics`` (Prometheus text and JSON) agree."""

from __future__ import annotations

import threading
import urllib.request

import pytest

import fcemu
from fcemu.engine import Engine
from fcemu.metrics import BUCKET_MS
from fcemu.prometheus import prometheus_text


def _get(emu: fcemu.Emulator, path: str) -> tuple[str, str]:
    with urllib.request.urlopen(f"{emu.endpoint}{path}", timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def _row(snapshot: dict, function: str) -> dict:
    [row] = [f for f in snapshot["functions"] if f["functionName"] == function]
    return row


def test_counts_latencies_and_backlog_follow_the_tasks() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        script = iter([RuntimeError("boom"), "ok", "ok", "ok"])

        def handler(event: bytes, context: object) -> bytes:
            step = next(script)
            if isinstance(step, Exception):
                raise step
            return b"done"

        emu.register_function("job", handler)
        emu.put_async_invoke_config("job", asyncTask=True, maxAsyncRetryAttempts=1,
                                    on_success="done")
        emu.invoke("job", b"1", asynchronous=True, task_id="t-1")
        emu.invoke("job", b"2", asynchronous=True, task_id="t-2", delay=30)
        emu.settle()  # the accepted task's first attempt has run (it runs on the loop)
        # t-1 ran at once and failed: it waits to retry, as t-2 waits for its delay
        waiting = _row(emu.metrics(), "job")
        assert (waiting["enqueued"], waiting["backlog"], waiting["dequeued"]) == (2, 2, 1)
        assert waiting["inProcess"] == 0
        emu.drain()
        done = emu.metrics()
        row = _row(done, "job")
        assert row["enqueued"] == 2 and row["dequeued"] == 2
        assert row["backlog"] == 0 and row["inProcess"] == 0
        assert row["byStatus"]["Succeeded"] == 2 and row["byStatus"]["Failed"] == 0
        assert row["destinations"] == {"Succeeded": 2, "Failed": 0}
        # t-1 starts at once and succeeds after one retry (0.5 s backoff); t-2 starts at 30 s
        start, end = row["latencyMs"]["start"], row["latencyMs"]["end"]
        assert start["count"] == 2 and start["sumMs"] == 30_000
        assert start["p50"] == 0 and start["p99"] == 30_000
        assert end["count"] == 2 and end["p50"] == 500
        assert sum(p["enqueued"] for p in done["series"]) == 2
        assert sum(p["byStatus"]["Succeeded"] for p in done["series"]) == 2
        assert {q["name"]: q["total"] for q in done["queues"]} == {"done": 2}


def test_throttles_of_sync_invocations_and_async_attempts_are_counted() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        release = threading.Event()
        entered = threading.Event()

        def slow(event: bytes, context: object) -> bytes:
            entered.set()
            release.wait(10)  # a handler may block; the test never sleeps
            return b"ok"

        emu.register_function("one", slow)
        emu.call(_limit_to_one)
        worker = threading.Thread(target=emu.invoke, args=("one", b"a"))
        worker.start()
        assert entered.wait(10)
        with pytest.raises(fcemu.FcError):
            emu.invoke("one", b"b")
        emu.invoke("one", b"c", asynchronous=True, task_id="later")  # throttled attempt
        release.set()
        worker.join(10)
        emu.drain()
        row = _row(emu.metrics(), "one")
        assert row["throttles"] >= 2
        assert row["byStatus"]["Succeeded"] == 1


async def _limit_to_one(engine: Engine) -> None:
    engine.put_concurrency_config("one", 1)


def test_prometheus_endpoint_serves_the_same_numbers_with_labels() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.register_function("job", lambda event, context: b"ok")
        emu.put_async_invoke_config("job", on_failure="dlq")
        emu.invoke("job", b"1", asynchronous=True)
        emu.drain()
        emu.call(_make_queue)
        kind, text = _get(emu, "/_fcemu/metrics")
        assert kind.startswith("text/plain") and "version=0.0.4" in kind
        assert "# TYPE fcemu_async_tasks_total counter" in text
        assert 'fcemu_async_tasks_total{function="job",qualifier="LATEST",status="Succeeded"} 1' \
            in text
        assert 'fcemu_async_events_enqueued_total{function="job",qualifier="LATEST"} 1' in text
        assert 'fcemu_smq_queue_messages{queue="q",state="active"} 1' in text
        assert 'fcemu_async_latency_end_seconds_count{function="job",qualifier="LATEST"} 1' \
            in text
        _, doc = _get(emu, "/_fcemu/metrics?format=json")
        assert '"enqueued":1' in doc.replace(" ", "")
        assert prometheus_text(emu.metrics()) == text


async def _make_queue(engine: Engine) -> None:
    engine.create_queue("q")
    engine.send_queue_message("q", "hello")


def test_reset_starts_the_metrics_over() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.register_function("job", lambda event, context: b"ok")
        emu.invoke("job", b"1", asynchronous=True)
        emu.drain()
        assert emu.metrics()["functions"]
        emu.reset()
        assert emu.metrics()["functions"] == []


def test_the_window_is_the_last_hour_of_emulator_time() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.register_function("job", _fails)
        emu.put_async_invoke_config("job", maxAsyncRetryAttempts=0)
        for _ in range(90):  # a failing task a minute for 90 minutes
            emu.invoke("job", b"1", asynchronous=True)
            emu.clock.advance(60)
        snapshot = emu.metrics()
    # a point for each minute of the last hour that saw an event: the 59 before now
    assert [p["time"] for p in snapshot["series"]] == [
        snapshot["now"] - k * BUCKET_MS for k in range(59, 0, -1)]
    assert [p["byStatus"]["Failed"] for p in snapshot["series"]] == [1] * 59
    [row] = snapshot["functions"]
    assert row["enqueued"] == 90 and row["byStatus"]["Failed"] == 90
    assert row["latencyMs"]["end"]["windowCount"] == 59
    assert row["latencyMs"]["end"]["count"] == 90


def _fails(event: bytes, context: object) -> bytes:
    raise ValueError("no")


def test_label_values_are_escaped() -> None:
    text = prometheus_text({"functions": [], "instances": {}, "queues": [
        {"name": 'a"b\\c', "active": 1, "inactive": 0, "delayed": 0}]})
    assert 'fcemu_smq_queue_messages{queue="a\\"b\\\\c",state="active"} 1' in text


@pytest.mark.parametrize("kind", ["pool", "usage", "neither"])
def test_a_task_end_samples_the_instances_alive(kind: str) -> None:
    """The bucket's ``instances`` is the runner's count as each task ends: read off its
    pool's kept ``live`` (an attribute, issue 13), else its ``usage()``, else 0."""
    import asyncio
    from types import SimpleNamespace

    from fcemu.clock import ManualClock, new_event_loop
    from fcemu.ids import IdGenerator
    from fcemu.runtime import Outcome
    from fcemu.settings import Settings
    from fcemu.specs import AsyncConfigSpec, FunctionSpec
    from tests.constants import T0

    alive = SimpleNamespace(live=0)

    class Runner:
        async def invoke(self, invocation: object) -> Outcome:
            alive.live += 2  # one more instance per attempt, two counted
            return Outcome("ok", b"", duration_ms=1, instance_id="c-1")

        async def stop(self, request_id: str) -> bool:
            return False

        async def close(self) -> None:
            pass

    runner: object = Runner()
    if kind == "pool":
        runner.pool = alive
    elif kind == "usage":
        runner.usage = lambda: alive

    async def main() -> list[int]:
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(7),
                        runtimes=lambda settings, ids: runner)
        try:
            engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                                handler="index.handler"),
                                   handler=lambda event, context: event)
            engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
            seen = []
            for _ in range(3):
                await engine.invoke_function("f", b"{}", asynchronous=True)
                await engine.scheduler.drain()
                seen.append(engine.task_metrics.snapshot()["series"][-1]["instances"])
                await asyncio.sleep(0)
            return seen
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        seen = loop.run_until_complete(main())
    finally:
        loop.close()
    assert seen == ([0, 0, 0] if kind == "neither" else [2, 4, 6])
