"""SMQ message properties are state: a message's state tuple, a snapshot file and the
durable store (``data_dir``) keep them, and a restart delivers them through the real MNS
SDK; a message without any keeps the state it had before (the rows and files of older
versions read as they are)."""

from __future__ import annotations

import json
import marshal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu.smq import Message
from fcemu.smq.messages import message_from_state, message_to_state
from fcemu.smq.properties import Properties, make_properties

PROPS = make_properties([("order", "STRING", "A-1"), ("n", "NUMBER", "7"),
                         ("ok", "BOOLEAN", "true"), ("raw", "BINARY", "AP8=")],
                        [("traceparent", "STRING", "00-abc-def-01")])


def test_the_state_of_a_message_with_properties_has_them_last() -> None:
    plain = Message("id", "b", "MD5", 1, 2, seq=3)
    assert len(message_to_state(plain)) == 11  # as before properties were kept
    assert message_from_state(message_to_state(plain)).properties is None
    rich = Message("id", "b", "MD5", 1, 2, seq=3, properties=PROPS)
    state = message_to_state(rich)
    assert state[:11] == message_to_state(plain) and type(state[11]) is tuple
    assert marshal.loads(marshal.dumps(state)) == state  # plain data: the store writes it
    assert message_from_state(state).properties == PROPS
    from_json = json.loads(json.dumps(state))  # lists, as a JSON reader may give them
    restored = message_from_state(from_json)
    assert restored.properties == PROPS and isinstance(restored.properties, Properties)
    assert (restored.seq, restored.body_md5) == (3, "MD5")


async def _send(engine: Any, queue: str, body: str, props: Properties | None) -> str:
    if not engine.smq.queue_exists(queue):
        engine.smq.create_queue(queue)
    return str(engine.smq.get_queue(queue).send(body, properties=props).message_id)


def test_a_snapshot_file_keeps_them(tmp_path: Path) -> None:
    with fcemu.Emulator(clock="manual") as emu:
        emu.call(lambda e: _send(e, "q", "rich", PROPS))
        emu.call(lambda e: _send(e, "q", "plain", None))
        emu.snapshot("s")
        data = emu.save_snapshot("s", tmp_path / "s.fcemu")
    with fcemu.Emulator(clock="manual") as emu:
        emu.restore(data)
        assert [(m.body, m.properties) for m in emu.queue("q").messages()] == [
            ("rich", PROPS), ("plain", None)]


def _sdk_properties(message: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({k: (v.get_data_type(), v.get_raw_value()) for k, v in
             message.user_properties.items()},
            {k: v.get_raw_value() for k, v in message.system_properties.items()})


def test_a_restart_delivers_them_through_the_sdk(tmp_path: Path) -> None:
    pytest.importorskip("mns", reason="pip install -e '.[test]'")
    from mns.account import Account
    from mns.message_property import MessagePropertyValue as Value
    from mns.message_property import MessageSystemPropertyValue as SystemValue
    from mns.queue import Message as SdkMessage
    from mns.queue import QueueMeta

    data = tmp_path / "data"
    with fcemu.Emulator(clock="manual", data_dir=data) as emu:
        account = Account(emu.endpoint, "AKID", "SECRET")
        queue = account.get_queue("orders")
        queue.create(QueueMeta())
        message = SdkMessage("rich")
        message.add_user_property("order", Value.create_string("A-1 <&>"))
        message.add_user_property("raw", Value.create_binary(b"\x00\xff"))
        message.add_system_property("baggage", SystemValue.create_string("k=v"))
        queue.send_message(message)
        queue.batch_send_message([SdkMessage("plain"), message])
        account.get_client().close_connection()
    db = sqlite3.connect(data / "fcemu.db")
    rows = db.execute("SELECT data FROM messages").fetchall()
    db.close()
    assert sorted(len(marshal.loads(row)[0]) for (row,) in rows) == [11, 12, 12]
    with fcemu.Emulator(clock="manual", data_dir=data) as emu:
        account = Account(emu.endpoint, "AKID", "SECRET")
        got = account.get_queue("orders").batch_receive_message(16)
        account.get_client().close_connection()
    expected = ({"order": ("STRING", "A-1 <&>"), "raw": ("BINARY", b"\x00\xff")},
                {"baggage": "k=v"})
    assert [(m.message_body, _sdk_properties(m)) for m in got] == [
        (b"rich", expected), (b"plain", ({}, {})), (b"rich", expected)]


def test_a_version_3_database_is_migrated(tmp_path: Path) -> None:
    """Version 3 kept no properties: its message rows are version 4's rows of messages
    without properties; they read as they are and the version becomes 4."""
    data = tmp_path / "data"
    with fcemu.Emulator(clock="manual", data_dir=data) as emu:
        emu.call(lambda e: _send(e, "q", "old", None))
    db = sqlite3.connect(data / "fcemu.db")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with fcemu.Emulator(clock="manual", data_dir=data) as emu:
        assert [(m.body, m.properties) for m in emu.queue("q").messages()] == [("old", None)]
        emu.call(lambda e: _send(e, "q", "new", PROPS))
    with fcemu.Emulator(clock="manual", data_dir=data) as emu:
        assert [(m.body, m.properties) for m in emu.queue("q").messages()] == [
            ("old", None), ("new", PROPS)]
    db = sqlite3.connect(data / "fcemu.db")
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert bytes(version[0]) == b"4"
