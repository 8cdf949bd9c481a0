"""The EventBridge log (fcemu.eventbus): what bus destinations received, read over HTTP
(``GET /_fcemu/eventbus``, the task detail route), from Python (``emu.eventbus()``), and
kept only as long as the task records (7 days after each task's submission), on the
manual clock: in the engine, its snapshots and its durable store."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import fcemu
from fcemu.engine import Engine
from fcemu.eventbus import EventBusLog
from fcemu.models import TASK_RETENTION_MS
from tests.constants import T0

DAY_S = 86_400


def _bus(emu: fcemu.Emulator, name: str) -> str:
    return f"acs:eventbridge:{emu.region}:{emu.account_id}:eventbus/{name}"


def _get(emu: fcemu.Emulator, path: str) -> Any:
    with urllib.request.urlopen(f"{emu.endpoint}/_fcemu{path}", timeout=10) as response:
        return json.loads(response.read())


async def _raw_log(engine: Engine) -> list[dict[str, Any]]:
    return list(engine.eventbus_log)


async def _captured_log(engine: Engine) -> list[dict[str, Any]]:
    return list(engine.capture_state()["eventbus_log"])


def _deploy(emu: fcemu.Emulator) -> None:
    emu.register_function("j", lambda event, context: b"ok")
    emu.put_async_invoke_config("j", asyncTask=True, on_success=_bus(emu, "orders"))
    emu.register_function("k", lambda event, context: b"ok")
    emu.put_async_invoke_config("k", asyncTask=True, on_success=_bus(emu, "audit"))


def test_the_bus_events_are_listed_filtered_and_shown_with_their_task() -> None:
    with fcemu.Emulator(clock="manual", seed=1) as emu:
        _deploy(emu)
        emu.invoke("j", b"1", asynchronous=True, task_id="t1")
        emu.invoke("k", b"2", asynchronous=True, task_id="t2")
        emu.drain()
        events = _get(emu, "/eventbus")["events"]
        assert [(e["eventBus"], e["functionName"], e["taskId"]) for e in events] == [
            ("orders", "j", "t1"), ("audit", "k", "t2")]  # in delivery order
        first = events[0]
        assert first["destination"] == _bus(emu, "orders") and first["qualifier"] == "LATEST"
        assert first["timestamp"] == T0 and first["expireTime"] == T0 + TASK_RETENTION_MS
        assert first["data"]["requestPayload"] == "1"
        assert first["data"]["requestContext"]["requestId"] == emu.task("j", "t1")["requestId"]
        assert [e["taskId"] for e in _get(emu, "/eventbus?bus=audit")["events"]] == ["t2"]
        assert [e["taskId"] for e in _get(emu, "/eventbus?function=j")["events"]] == ["t1"]
        assert _get(emu, "/eventbus?bus=orders&function=k")["events"] == []
        assert emu.eventbus() == events
        assert emu.eventbus(bus="orders") == [first]
        assert emu.eventbus(function="k") == events[1:]
        detail = _get(emu, "/functions/j/async-tasks/t1")["destination"]
        assert detail == {"arn": _bus(emu, "orders"), "kind": "eventbus", "name": "orders",
                          "message": first}


def test_an_entry_goes_with_its_tasks_record_after_7_days() -> None:
    with fcemu.Emulator(clock="manual", seed=1) as emu:
        _deploy(emu)
        emu.invoke("j", b"1", asynchronous=True, task_id="t1")
        emu.drain()
        emu.clock.advance(2 * DAY_S)
        emu.invoke("k", b"2", asynchronous=True, task_id="t2")
        emu.drain()
        emu.clock.advance(6 * DAY_S)  # 8 days after t1, 6 after t2
        assert [t["taskId"] for t in emu.tasks("j") + emu.tasks("k")] == ["t2"]
        # t1's entry went with its record (the retention sweep), not only when read
        assert [e["taskId"] for e in emu.call(_raw_log)] == ["t2"]
        assert [e["taskId"] for e in emu.call(_captured_log)] == ["t2"]  # snapshots too
        assert [e["taskId"] for e in _get(emu, "/eventbus")["events"]] == ["t2"]
        emu.clock.advance(2 * DAY_S)
        assert emu.call(_raw_log) == [] and emu.tasks("k") == []
        assert emu.call(_captured_log) == []


def test_a_durable_restart_keeps_only_the_entries_of_kept_tasks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with fcemu.Emulator(clock="manual", seed=5, data_dir=data) as emu:
        _deploy(emu)
        emu.invoke("j", b"1", asynchronous=True, task_id="t1")
        emu.drain()
        emu.clock.advance(2 * DAY_S)
        emu.invoke("k", b"2", asynchronous=True, task_id="t2")
        emu.drain()
    with fcemu.Emulator(clock="manual", seed=5, data_dir=data) as emu:
        assert [e["taskId"] for e in emu.eventbus()] == ["t1", "t2"]
        emu.clock.advance(6 * DAY_S)
        assert [e["taskId"] for e in emu.call(_raw_log)] == ["t2"]
    with fcemu.Emulator(clock="manual", seed=5, data_dir=data) as emu:
        assert [e["taskId"] for e in emu.call(_raw_log)] == ["t2"]


def test_an_entry_saved_before_entries_named_their_task_expires_by_its_delivery() -> None:
    now = [T0]
    log = EventBusLog(lambda: now[0])
    old = {"eventBus": "b", "destination": "arn", "timestamp": T0,
           "data": {"requestContext": {"requestId": "req-1"}}}
    log.load([old])
    assert log.select(bus="b") == [old] and log.select(function="f") == []

    class Task:
        task_id, function_name, request_id = "t", "f", "req-1"

    assert log.of_task(Task()) is old  # type: ignore[arg-type]
    now[0] = T0 + TASK_RETENTION_MS - 1
    assert log.select() == [old]
    now[0] = T0 + TASK_RETENTION_MS
    assert log.select() == [] and not log
