"""Durable mode through the Python API: a restart with the same data directory resumes.

Each test stops an emulator cleanly and starts another on the same directory (the crash
tests with ``kill -9`` are in tests/cli/test_crash.py). Manual clock: no wall time.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import sqlite3
from pathlib import Path

import pytest

import fcemu
from fcemu.engine.committer import StoreFailed
from fcemu.ids import IdGenerator
from fcemu.runtime.procfs import tree_pids
from fcemu.store import StoreError
from fcemu.taskstate import TASK_STATE_FIELDS
from tests.constants import T0
from tests.held_store import HeldStore, held_committer


def code_dir(tmp_path: Path, body: str = "return event") -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "index.py").write_text(f"def handler(event, context):\n    {body}\n")
    return code


def emulator(data: Path) -> fcemu.Emulator:
    return fcemu.Emulator(clock="manual", seed=5, data_dir=data)


def test_tasks_configs_and_the_clock_come_back(tmp_path: Path) -> None:
    data, code = tmp_path / "data", code_dir(tmp_path)
    with emulator(data) as emu:
        emu.register_function("g", code=code)
        emu.put_async_invoke_config("g", async_task=True, on_success="done")
        waiting = emu.invoke("g", b"later", asynchronous=True, delay=60)
        emu.invoke("g", b"now", asynchronous=True)
        emu.clock.advance(5)
        first = {t["taskId"]: t["status"] for t in emu.tasks("g")}
        next_id = emu.invoke("g", b"probe", asynchronous=True, delay=3600)
    assert list(first.values()) == ["Enqueued", "Succeeded"]
    with emulator(data) as emu:
        assert emu.clock.now() == T0 + 5000  # a manual clock continues where it stood
        restored = {t["taskId"]: t["status"] for t in emu.tasks("g")}
        assert restored == {**first, next_id: "Enqueued"}
        assert len(emu.queue("done").messages()) == 1
        emu.clock.advance(60)
        assert emu.task("g", waiting)["status"] == "Succeeded"
        assert len(emu.queue("done").messages()) == 2  # delivered once each
    with emulator(data) as emu:
        assert len(emu.queue("done").messages()) == 2
        assert emu.task("g", waiting)["status"] == "Succeeded"


def test_a_received_message_stays_hidden_until_its_visibility_timeout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.call(lambda e: _async(lambda: e.smq.create_queue("q", VisibilityTimeout=30)))
        for body in ("a", "b"):
            emu.call(lambda e, body=body: _async(lambda: e.smq.send_message("q", body)))
        taken = emu.call(lambda e: _async(lambda: [m.body for m in e.smq.get_queue("q")
                                                   .receive(1)]))
        deleted = emu.call(lambda e: _async(lambda: e.smq.get_queue("q").receive(1)[0]))
        handle = deleted.receipt_handle
        emu.call(lambda e: _async(lambda: e.smq.get_queue("q").delete(handle)))
    assert taken == ["a"]
    with emulator(data) as emu:
        counts = emu.call(lambda e: _async(lambda: e.smq.get_queue("q").counts()))
        assert counts == {"ActiveMessages": 0, "InactiveMessages": 1, "DelayMessages": 0}
        emu.clock.advance(30)
        bodies = emu.call(lambda e: _async(lambda: [m.body for m in
                                                    e.smq.get_queue("q").messages()]))
        assert bodies == ["a"]  # visible again; the deleted "b" never comes back


def test_a_python_callable_function_is_not_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("inline", lambda event, context: event)
    with emulator(data) as emu:
        assert emu.call(lambda e: _async(lambda: sorted(e.functions))) == []


def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data):
        pass
    db = sqlite3.connect(data / "fcemu.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    emu = emulator(data)
    with pytest.raises(StoreError, match=r"schema version 99, and this fcemu reads version 4"):
        emu.start()
    assert not emu.running


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    """Version 1 stored the ID generator's full state in the counters; version 2 stores
    each stream's position and reads both: a version 1 directory resumes, IDs included."""
    data, code = tmp_path / "data", code_dir(tmp_path)
    with emulator(data) as emu:
        emu.register_function("g", code=code)
        emu.put_async_invoke_config("g", async_task=True)
        for _ in range(40):
            emu.invoke("g", b"x", asynchronous=True, delay=60)
    with emulator(tmp_path / "twin") as twin:  # the same calls, one more task, no restart
        twin.register_function("g", code=code)
        twin.put_async_invoke_config("g", async_task=True)
        for _ in range(40):
            twin.invoke("g", b"x", asynchronous=True, delay=60)
        expected = twin.invoke("g", b"x", asynchronous=True, delay=60)
    db = sqlite3.connect(data / "fcemu.db")
    (blob,) = db.execute("SELECT value FROM meta WHERE key = 'counters'").fetchone()
    counters = marshal.loads(blob)
    ids = IdGenerator()
    ids.load_state(counters["ids"])
    counters["ids"] = ids.to_state()  # the form version 1 wrote
    db.execute("UPDATE meta SET value = ? WHERE key = 'counters'", (marshal.dumps(counters),))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with emulator(data) as emu:
        assert len(emu.tasks("g")) == 40
        assert emu.invoke("g", b"x", asynchronous=True, delay=60) == expected
    db = sqlite3.connect(data / "fcemu.db")
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert bytes(version[0]) == b"4"


def test_a_version_2_database_is_migrated(tmp_path: Path) -> None:
    """Version 2's task rows end before a task's HTTP call (version 3's last field): they
    are read as tasks without one, and the version becomes the current one."""
    data, code = tmp_path / "data", code_dir(tmp_path)
    with emulator(data) as emu:
        emu.register_function("g", code=code)
        emu.put_async_invoke_config("g", async_task=True)
        for i in range(3):
            emu.invoke("g", f"x{i}".encode(), asynchronous=True, delay=60)
    db = sqlite3.connect(data / "fcemu.db")
    rows = db.execute("SELECT key, data FROM tasks").fetchall()
    assert len(rows) == 3 and TASK_STATE_FIELDS[-1] == "http_call"
    for key, blob in rows:
        state, wake, paused = marshal.loads(blob)
        assert state[-1] is None  # no HTTP call: version 2 wrote one field less
        db.execute("UPDATE tasks SET data = ? WHERE key = ?",
                   (marshal.dumps((state[:-1], wake, paused)), key))
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with emulator(data) as emu:
        emu.clock.advance(61)
        emu.drain()
        assert sorted(t["returnPayload"] for t in emu.tasks("g")) == ["x0", "x1", "x2"]
    db = sqlite3.connect(data / "fcemu.db")
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert bytes(version[0]) == b"4"


def test_reset_empties_the_store_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.reset()
    with emulator(data) as emu:
        assert emu.call(lambda e: _async(lambda: sorted(e.functions))) == []


async def _async(fn):  # type: ignore[no-untyped-def]
    return fn()


def test_a_restored_snapshot_is_what_a_restart_finds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.put_async_invoke_config("g", async_task=True)
        kept = emu.invoke("g", b"kept", asynchronous=True, delay=60)
        emu.snapshot("before")
        emu.invoke("g", b"dropped", asynchronous=True, delay=60)
        emu.restore("before")
    with emulator(data) as emu:
        assert [t["taskId"] for t in emu.tasks("g")] == [kept]


def test_data_dir_in_fcemu_yaml_is_relative_to_the_file(tmp_path: Path) -> None:
    from fcemu.config import load_settings
    from fcemu.settings import Settings

    (tmp_path / "fcemu.yaml").write_text("settings:\n  dataDir: state\n"
                                         "  durability: relaxed\n")
    settings = load_settings([tmp_path / "fcemu.yaml"], Settings())
    assert (settings.data_dir, settings.durability) == (tmp_path / "state", "relaxed")


def test_a_data_dir_that_is_a_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory")
    with pytest.raises(StoreError, match=r"cannot use --data-dir .*data"):
        emulator(data).start()
    with pytest.raises(ValueError, match="durability: 'strict' or 'relaxed'"):
        fcemu.Settings(durability="sometimes")  # type: ignore[arg-type]


def _writers(data: Path) -> set[int]:
    """The writer processes below this process that write ``data``'s database."""
    found = set()
    for pid in tree_pids(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"fcemu.store.writer" in argv and str(data).encode() in argv:
            found.add(pid)
    return found


def test_stopping_ends_the_writer_process_and_closes_the_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.invoke("g", b"x", asynchronous=True, delay=60)  # a commit: the writer exists
        ours = _writers(data)
        assert len(ours) == 1
    assert not _writers(data) and not any(Path(f"/proc/{pid}").exists() for pid in ours)
    # closed: nothing left in the write-ahead log (SQLite checkpoints it on the last close)
    wal = data / "fcemu.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with emulator(data) as emu:  # and it opens again
        assert len(emu.tasks("g")) == 1


def test_a_writer_process_that_dies_fails_its_answers_and_another_takes_over(
        tmp_path: Path) -> None:
    """The writer process killed: the change it held is not acknowledged (503), and the
    next change starts a new writer; nothing acknowledged is lost."""
    data = tmp_path / "data"
    with emulator(data) as emu:
        emu.register_function("g", code=code_dir(tmp_path))
        emu.put_async_invoke_config("g", async_task=True)
        emu.invoke("g", b"kept", asynchronous=True, delay=60)
        (first,) = _writers(data)
        os.kill(first, signal.SIGKILL)
        for _ in range(3):  # the first may fail (503) until the death is seen
            try:
                emu.invoke("g", b"after", asynchronous=True, delay=60)
                break
            except fcemu.FcError as error:
                assert error.status == 503 and "writer process ended" in str(error)
                assert "check the disk" not in str(error)  # not the disk's fault
        (second,) = _writers(data)
        assert second != first
        emu.invoke("g", b"last", asynchronous=True, delay=60)
        held = sorted((t["taskId"], t["taskPayload"]) for t in emu.tasks("g"))
    with emulator(data) as emu:  # after a failed batch the next one wrote everything
        assert sorted((t["taskId"], t["taskPayload"]) for t in emu.tasks("g")) == held
        assert [p for _, p in held].count("kept") == 1


def _numbers(store: HeldStore) -> list[int]:
    return [marshal.loads(b.counters or b"") for b in store.written]


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_change_made_while_a_batch_is_written_waits_for_the_next_batch() -> None:
    store = HeldStore()
    committer = held_committer(store)

    async def main() -> None:
        committer.touched(False)
        committer.touched(False)  # the same turn: the same batch
        first = asyncio.ensure_future(committer.barrier())
        await _turns()  # the first batch is being written (held)
        committer.touched(False)
        second = asyncio.ensure_future(committer.barrier())
        gone = asyncio.ensure_future(committer.barrier())
        await _turns()
        gone.cancel()  # a waiter that goes away does not cancel the batch for the others
        store.allowed.release()
        await asyncio.wait_for(first, 30)
        assert not second.done() and _numbers(store) == [0]
        store.allowed.release()
        await asyncio.wait_for(second, 30)
        assert _numbers(store) == [0, 1]
        await committer.barrier()  # nothing pending: at once

    try:
        asyncio.run(main())
    finally:
        committer.close()


def test_a_failed_commit_fails_its_waiters_and_the_next_batch_is_written() -> None:
    store = HeldStore(fail=OSError("No space left on device"))
    committer = held_committer(store)

    async def main() -> None:
        committer.touched(False)
        waiters = [asyncio.ensure_future(committer.barrier()) for _ in range(3)]
        store.allowed.release()
        for waiter in waiters:
            with pytest.raises(StoreFailed, match="No space left on device"):
                await asyncio.wait_for(waiter, 30)
        committer.touched(False)
        store.allowed.release()
        await asyncio.wait_for(committer.barrier(), 30)
        assert len(store.written) == 1

    try:
        asyncio.run(main())
    finally:
        committer.close()
