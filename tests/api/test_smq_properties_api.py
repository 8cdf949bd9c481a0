"""Message properties on the MNS wire through aiohttp's TestClient: what clients other
than the Python SDK may send (types in the docs' spelling, values the SDK checks before
sending), the XML every receive and peek answers, and the refusals."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest

from fcemu.clock import ManualClock
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Smq
from fcemu.smq.properties import Properties
from tests.api.test_smq_api import NS, XML_BODY, Engine, error_of, with_client
from tests.constants import T0

MNS = 'xmlns="http://mns.aliyuncs.com/doc/v1/"'


@pytest.fixture
def env() -> SimpleNamespace:
    clock = ManualClock(T0)
    smq = Smq(clock, Scheduler(clock), IdGenerator(7), region="cn-hangzhou",
              account_id="1234567890123456")
    smq.create_queue("q1")
    return SimpleNamespace(clock=clock, smq=smq, engine=Engine(smq=smq, failures=[]))


def _prop(name: str, value: str, type_: str, entry: str = "PropertyValue") -> str:
    return f"<{entry}><Name>{name}</Name><Value>{value}</Value><Type>{type_}</Type></{entry}>"


def _message(body: str, user: str = "", system: str = "") -> str:
    lists = (f"<UserProperties>{user}</UserProperties>" if user else "") + (
        f"<SystemProperties>{system}</SystemProperties>" if system else "")
    return f"<Message><MessageBody>{body}</MessageBody>{lists}</Message>"


def _properties(message: ElementTree.Element) -> dict[str, list[tuple[str, ...]]]:
    """Each property list of a ``<Message>``: (Name, Value, Type) in element order."""
    return {kind.tag.replace(NS, ""): [tuple((part.text or "") for part in entry)
                                       for entry in kind]
            for kind in message if len(kind)}


def test_sent_properties_come_back_on_every_receive_and_peek(env: SimpleNamespace) -> None:
    sent = _message("b", _prop("s", "a &amp; b", "String") + _prop("flag", "true", "Boolean")
                    + _prop("bin", "AP8=", "binary"),
                    _prop("DLQSourceArn", "acs:mns:q0", "String", "SystemPropertyValue"))
    expected = {"UserProperties": [("s", "a & b", "STRING"), ("flag", "true", "BOOLEAN"),
                                   ("bin", "AP8=", "BINARY")],
                "SystemProperties": [("DLQSourceArn", "acs:mns:q0", "STRING")]}

    async def test(client: Any) -> None:
        resp = await client.post("/queues/q1/messages", data=f"{XML_BODY}{sent}")
        assert resp.status == 201, await resp.text()
        await client.post("/queues/q1/messages", data=f"{XML_BODY}{_message('plain')}")
        for query in ("?peekonly=true", "?peekonly=true&numOfMessages=2", "",
                      "?numOfMessages=2"):
            if query == "?numOfMessages=2":  # the received one is visible again
                env.clock.move_to(T0 + 30_000)
            root = ElementTree.fromstring(await (await client.get(
                f"/queues/q1/messages{query}")).text())
            first = root.find(f"{NS}Message") if root.tag == f"{NS}Messages" else root
            assert first is not None and _properties(first) == expected, query
            if root.tag == f"{NS}Messages":
                assert [_properties(m) for m in root][1:] == [{}]
        [stored] = [m.properties for m in env.smq.get_queue("q1").messages() if m.body == "b"]
        assert stored == Properties((("s", "STRING", "a & b"), ("flag", "BOOLEAN", "true"),
                                     ("bin", "BINARY", "AP8=")),
                                    (("DLQSourceArn", "STRING", "acs:mns:q0"),))

    with_client(env, test)


@pytest.mark.parametrize(("user", "system", "text"), [
    (_prop("n", "1", "Integer"), "", "Type 'Integer'; the types are"),
    (_prop("flag", "yes", "BOOLEAN"), "", "'flag' is 'yes'; it must be the string"),
    (_prop("bad name", "v", "STRING"), "", "the property name 'bad name' is not valid"),
    ("<PropertyValue><Name>a</Name><Value>v</Value></PropertyValue>", "",
     "did not validate against our published schema, cause by <PropertyValue> without "
     "<Type>"),
    ("", _prop("custom", "v", "STRING", "SystemPropertyValue"),
     "'custom' is not a system property"),
])
def test_refused_properties_leave_the_queue_unchanged(env: SimpleNamespace, user: str,
                                                      system: str, text: str) -> None:
    async def test(client: Any) -> None:
        resp = await client.post("/queues/q1/messages",
                                 data=f"{XML_BODY}{_message('b', user, system)}")
        values = await error_of(resp, 400, "InvalidArgument")
        assert text in values["Message"]
        assert env.smq.get_queue("q1").messages() == []

    with_client(env, test)


def test_a_batch_with_one_refused_message_enqueues_nothing(env: SimpleNamespace) -> None:
    """Properties are read for the whole batch before any message is sent: one refused
    refuses the batch (400 InvalidArgument, which message), unlike a body over the queue's
    size, which fails its own item only."""
    good = _message("ok", _prop("a", "1", "NUMBER"))
    bad = _message("bad", "".join(_prop(f"p{i}", "v", "STRING") for i in range(51)))

    async def test(client: Any) -> None:
        resp = await client.post("/queues/q1/messages",
                                 data=f"{XML_BODY}<Messages {MNS}>{good}{bad}{good}</Messages>")
        values = await error_of(resp, 400, "InvalidArgument")
        assert values["Message"] == ("message 2: UserProperties: a message has at most 50 "
                                     "properties; got 51.")
        assert env.smq.get_queue("q1").messages() == []
        resp = await client.post("/queues/q1/messages",
                                 data=f"{XML_BODY}<Messages {MNS}>{good}{good}</Messages>")
        assert resp.status == 201
        assert [m.properties for m in env.smq.get_queue("q1").messages()] == [
            Properties((("a", "NUMBER", "1"),))] * 2

    with_client(env, test)
