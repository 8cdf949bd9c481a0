"""Durable mode's guarantees at their edges: one server per data directory, a damaged
snapshot file refused whole, an EventBridge delivery and a timer trigger's next fire
committed with their task, IDs never handed out twice across restarts, old code zips
removed, and start-up errors that say what is wrong with the directory.

Manual clocks, or a real clock read but never waited on; the ``kill -9`` and
second-server tests of ``fcemu serve`` are in tests/cli/test_data_dir_lock.py.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu.code import zip_code_base64
from fcemu.engine import Engine
from fcemu.engine.state import FILE_TYPES
from fcemu.errors import InvalidArgument
from fcemu.ids import IdGenerator
from fcemu.specs import FunctionSpec
from fcemu.store import StoreError, decode_state, encode_state
from fcemu.store.lock import DirectoryInUse
from fcemu.store.sqlite import Batch
from fcemu.taskstate import TASK_STATE_FIELDS

EVENTBUS = "acs:eventbridge:cn-hangzhou:1234567890123456:eventbus/bus1"
_STATUS_AT = TASK_STATE_FIELDS.index("status")


def code_dir(tmp_path: Path, body: str = "return event", name: str = "code") -> Path:
    code = tmp_path / name
    code.mkdir(exist_ok=True)
    (code / "index.py").write_text(f"def handler(event, context):\n    {body}\n")
    return code


def emulator(data: Path, **settings: Any) -> fcemu.Emulator:
    return fcemu.Emulator(clock="manual", seed=5, data_dir=data, **settings)


def spy_batches(emu: fcemu.Emulator) -> list[Batch]:
    """Every batch the emulator's committer hands its writer from now on."""
    batches: list[Batch] = []

    async def install(engine: Engine) -> None:
        committer = engine._committer
        assert committer is not None
        writer = committer._writer
        submit = writer.submit

        def spying(batch: Batch, done: Any) -> None:
            batches.append(batch)
            submit(batch, done)

        writer.submit = spying  # type: ignore[method-assign]

    emu.call(install)
    return batches


# -- 1. one server per data directory ----------------------------------------------------


def test_a_second_emulator_on_a_data_directory_in_use_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as first:
        first.register_function("g", code=code_dir(tmp_path))
        unpacked = sorted(p.name for p in data.glob("fcemu-code-*"))
        second = emulator(data)
        with pytest.raises(DirectoryInUse) as refused:
            second.start()
        assert str(data) in str(refused.value) and str(os.getpid()) in str(refused.value)
        assert not second.running
        # the refused one touched nothing: the first one's unpacked code is there, it runs
        assert sorted(p.name for p in data.glob("fcemu-code-*")) == unpacked
        assert first.invoke("g", b'"x"') == '"x"'
    with emulator(data) as again:  # released at stop
        assert again.function_names() == ["g"]


# -- 2. a damaged snapshot file ------------------------------------------------------------


def test_a_damaged_snapshot_file_is_refused_whole_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.put_async_invoke_config("g", async_task=True)
        waiting = sorted(emu.invoke("g", b"x", asynchronous=True, delay=100) for _ in range(3))
        snapshot = emu.snapshot("good")
        document = decode_state(emu.call(_file(snapshot)), FILE_TYPES)
        document["state"]["tasks"]["tasks"] = [("garbage",)]
        damaged = encode_state(document, FILE_TYPES)
        emu.register_function("h", lambda event, context: event)  # after the snapshot
        with pytest.raises(InvalidArgument, match=r"damaged.*nothing was changed"):
            emu.restore(damaged)
        assert sorted(t["taskId"] for t in emu.tasks("g")) == waiting
        assert emu.function_names() == ["g", "h"]
        assert [s.snapshot_id for s in emu.snapshots()] == ["good"]  # the bad one is gone
    with emulator(data) as emu:  # and nothing half restored was committed
        assert sorted(t["taskId"] for t in emu.tasks("g")) == waiting


def _file(snapshot_id: str) -> Any:
    async def read(engine: Engine) -> bytes:
        return engine.snapshot_file(snapshot_id)
    return read


# -- 3. and 4. what the emulator changes by itself, committed with its task ----------------


def test_an_eventbridge_delivery_is_committed_with_the_tasks_terminal_state(
        tmp_path: Path) -> None:
    with emulator(tmp_path / "data") as emu:
        emu.register_function("g", lambda event, context: "ok")
        emu.put_async_invoke_config("g", async_task=True, on_success=EVENTBUS)
        batches = spy_batches(emu)
        task_id = emu.invoke("g", b"x", asynchronous=True)
        emu.settle()
        assert emu.task("g", task_id)["destinationStatus"] == "Succeeded"
    ended = [b for b in batches
             if any(row[0][_STATUS_AT] == "Succeeded" for _, row in b.tasks)]
    assert len(ended) == 1 and ended[0].records is not None
    log = decode_state(ended[0].records, FILE_TYPES)["eventbus_log"]
    assert [entry["eventBus"] for entry in log] == ["bus1"]


def test_a_timer_fire_commits_the_triggers_next_fire_with_its_task(tmp_path: Path) -> None:
    with emulator(tmp_path / "data") as emu:
        emu.register_function("g", lambda event, context: event)
        emu.create_trigger("g", "tick", "timer", {"cronExpression": "@every 10s",
                                                  "enable": True})
        (_, _, first), = emu.next_trigger_fires()
        batches = spy_batches(emu)
        emu.clock.advance(10)
        emu.settle()
        (_, _, second), = emu.next_trigger_fires()
    assert second == first + 10_000
    fired = [b for b in batches if b.tasks and b.records is not None]
    assert fired, "no batch held the fire's task with the records"
    fires = decode_state(fired[0].records, FILE_TYPES)["trigger_fires"]
    assert [tuple(f) for f in fires] == [("g", "tick", second)]


def test_timer_slots_missed_while_down_are_not_made_up(tmp_path: Path) -> None:
    """A real clock restored to a state whose next fire is long past (a restart after
    downtime): the schedule goes on from now, with no burst of fires."""
    hour = 3_600_000
    with fcemu.Emulator(clock="real") as emu:
        emu.register_function("g", lambda event, context: event)
        emu.create_trigger("g", "tick", "timer", {"cronExpression": "@every 1h",
                                                  "enable": True})
        emu.snapshot("then")

        async def hours_ago(engine: Engine) -> int:  # three slots missed, the 4th to come
            state, shift = engine._snapshots["then"].state, 3 * hour + hour // 2
            state["trigger_fires"] = [(n, t, due - shift) for n, t, due
                                      in state["trigger_fires"]]
            state["trigger_anchor"] = [(n, t, at - shift) for n, t, at
                                       in state["trigger_anchor"]]
            return engine.clock.now_ms()

        before = emu.call(hours_ago)
        emu.restore("then")
        (_, _, due), = emu.next_trigger_fires()
        assert before < due <= before + hour  # the next slot from now
        emu.settle()
        assert emu.tasks("g") == []  # none of the three missed


# -- 5. IDs across restarts ----------------------------------------------------------------


def _request_ids(emu: fcemu.Emulator, n: int) -> list[str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    found = []
    for _ in range(n):
        request = urllib.request.Request(f"{emu.endpoint}/2023-03-30/functions/nope")
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=30)
        found.append(answer.value.headers["x-fc-request-id"])
        answer.value.close()
    return found


def test_request_ids_of_answers_that_change_nothing_are_not_handed_out_again(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    seen: list[str] = []
    for _ in range(3):
        with emulator(data) as emu:
            seen += _request_ids(emu, 3)
    assert len(set(seen)) == 9


def test_the_ids_epoch_seeds_only_the_volatile_streams() -> None:
    ids, again = IdGenerator(3), IdGenerator(3)
    again.load_state(ids.position())
    again.next_epoch()
    assert again.task_id() == ids.task_id()  # committed streams continue
    assert again.response_id(0) != ids.response_id(0)
    moved = IdGenerator(1)
    moved.load_state(again.position())
    assert moved.epoch == 1 and moved.response_id(0) == again.response_id(0)


# -- 6. old code zips ----------------------------------------------------------------------


def test_code_zips_nothing_refers_to_are_removed_at_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.register_function("h", code=code_dir(tmp_path, "return 1", "other"))
        for i in range(3):
            spec = FunctionSpec.of(zip_file=zip_code_base64(
                code_dir(tmp_path, f"return {i}", f"v{i}")))
            emu.call(lambda e, spec=spec: e.update_function_async("g", spec))
        emu.delete_function("h")
        assert len(list((data / "packages.zips").iterdir())) == 5
    with emulator(data) as emu:
        assert emu.invoke("g", b"x") == "2"
    kept = [p.name for p in (data / "packages").iterdir()]
    assert len(kept) == 1
    assert [p.name for p in (data / "packages.zips").iterdir()] == [f"{kept[0]}.zip"]


# -- 7. start-up errors --------------------------------------------------------------------


def _stored(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
    return data


@pytest.mark.parametrize(("key", "value", "message"), [
    ("schema_version", b"abc", r"schema version b'abc'.*nothing was changed"),
    ("counters", b"\x00\xff\x00", r"is damaged \(the counters cannot be read"),
    ("records", b"\x00\xff\x00", r"is damaged \(its state cannot be loaded: its records"),
])
def test_a_database_fcemu_cannot_read_is_refused_with_a_message(
        tmp_path: Path, key: str, value: bytes, message: str) -> None:
    data = _stored(tmp_path)
    db = sqlite3.connect(data / "fcemu.db")
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=message):
        emulator(data).start()
    db = sqlite3.connect(data / "fcemu.db")  # and left as it was
    assert db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0] == value
    db.close()


def test_a_damaged_task_row_is_refused_with_a_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.put_async_invoke_config("g", async_task=True)
        emu.invoke("g", b"x", asynchronous=True, delay=60)
    db = sqlite3.connect(data / "fcemu.db")
    db.execute("UPDATE tasks SET data = ?", (marshal.dumps((("garbage",), None, False)),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"is damaged .its state cannot be loaded"):
        emulator(data).start()


def test_a_database_that_cannot_be_opened_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "fcemu.db").mkdir(parents=True)  # SQLite: "unable to open database file"
    with pytest.raises(StoreError, match=r"cannot open .*fcemu.db for reading and writing"):
        emulator(data).start()


def test_the_lock_file_names_its_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data):
        assert (data / "fcemu.lock").read_text().strip() == str(os.getpid())
