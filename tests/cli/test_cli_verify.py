"""The CLI against ``fcemu serve --access-key``: signed with ``--access-key``, refused without."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, Server, serving

DESTINATIONS = ROOT / "fixtures" / "samples" / "destinations"
KEY = "AKCLI:se:cret"  # the secret has a colon: only the first one splits


@pytest.fixture(scope="module")
def verifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("verify") / "serve.log"
    with serving("--clock", "manual", "--seed", "5", "--config", "fcemu.yaml",
                 "--access-key", "OTHER:x", "--access-key", KEY, cwd=DESTINATIONS,
                 log=log) as server:
        yield server


@pytest.fixture
def server(verifying: Server) -> Server:
    reset = verifying("reset", "--access-key", KEY)  # the control API is checked too (issue 9)
    assert reset.code == 0, reset.err
    return verifying


def test_signed_commands_work(server: Server) -> None:
    synchronous = server("invoke", "charge", "--payload", '{"amount": 7}', "--access-key", KEY)
    assert (synchronous.code, json.loads(synchronous.out)) == (0, {"charged": 7}), \
        synchronous.err
    accepted = server("--access-key", KEY, "invoke", "charge", "--async", "--task-id", "t1",
                      "--payload", '{"amount": 42}')
    assert accepted.code == 0, accepted.err
    assert server("drain", env={"FCEMU_ACCESS_KEY": KEY}).code == 0
    tasks = server("tasks", "charge", "--json", "--access-key", KEY)
    assert [t["taskId"] for t in json.loads(tasks.out)["tasks"]] == ["t1"], tasks.err
    task = server("task", "charge", "t1", "--json", env={"FCEMU_ACCESS_KEY": KEY})
    assert json.loads(task.out)["status"] == "Succeeded", task.err
    functions = server("functions", "--json", "--access-key", KEY)
    assert json.loads(functions.out)["functions"][0]["asyncConfig"]["asyncTask"] is True
    received = server("queue", "payments-done", "--receive", "--json", "--access-key", KEY)
    assert received.code == 0, received.err
    [message] = json.loads(received.out)["messages"]
    assert json.loads(message["bodyJson"]["responsePayload"]) == {"charged": 42}
    peek = server("queue", "payments-done", "--json", "--access-key", KEY)
    assert json.loads(peek.out)["messages"] == [], peek.err


@pytest.mark.parametrize("command", [
    ["invoke", "charge", "--payload", "{}"],
    ["tasks", "charge"],
    ["queue", "payments-done", "--receive"],
    ["clock"],
    ["queue", "payments-done"],
], ids=["invoke", "tasks", "receive", "clock", "peek"])
def test_unsigned_commands_fail_with_a_hint(server: Server, command: list[str]) -> None:
    result = server(*command)
    assert (result.code, result.out) == (1, "")
    first, hint = result.err.splitlines()
    assert first in ("fcemu: MissingRequiredHeader (400): required HTTP header Authorization "
                     "was not specified",
                     "fcemu: MissingAuthorizationHeader (400): Authorization header is "
                     "required.")
    assert hint == ("fcemu: the emulator checks request signatures (verify mode): pass "
                    "--access-key ID:SECRET (or set FCEMU_ACCESS_KEY) with one of the pairs "
                    "given to `fcemu serve --access-key`")


def test_a_wrong_key_fails_and_a_malformed_one_is_a_usage_error(server: Server,
                                                                tmp_path: Path) -> None:
    wrong = server("tasks", "charge", "--access-key", "AKCLI:not-it")
    assert wrong.code == 1
    assert wrong.err.startswith("fcemu: SignatureNotMatch (403): ")
    assert "check that --access-key / FCEMU_ACCESS_KEY is one of its AccessKey pairs" \
        in wrong.err
    unknown = server("queue", "payments-done", "--receive", env={"FCEMU_ACCESS_KEY": "NOPE:x"})
    assert (unknown.code, unknown.err.splitlines()[0]) == (
        1, "fcemu: InvalidAccessKeyId (403): The AccessKey Id you provided is not exist: NOPE.")
    assert server("tasks", "charge", "--access-key", "no-secret").code == 2
    malformed = server("tasks", "charge", env={"FCEMU_ACCESS_KEY": "no-secret"})
    assert (malformed.code, malformed.err) == (2, "fcemu: FCEMU_ACCESS_KEY: expected "
                                                  "ID:SECRET\n")
