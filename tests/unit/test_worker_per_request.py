"""What a Python worker makes anew for every request, however cheaply it makes it.

The worker sets the credential variables only when they differ from what the
environment holds, and ``context.stop_requested`` is an ``Event`` whose condition is made
when first used (``handler_api.StopFlag``): a handler still sees its request's own
credentials, whatever an earlier request did to ``os.environ``, and a fresh, working
``threading.Event`` per request.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from fcemu.models import Function
from fcemu.runtime import Outcome, Runtimes
from fcemu.runtime.handler_api import StopFlag
from fcemu.runtime.invocation import Credentials
from tests.unit.test_runtime_worker import call, function, run

HANDLER = '''
import json, os, threading

NAMES = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
         "ALIBABA_CLOUD_SECURITY_TOKEN")

def handler(event, context):
    seen = [os.environ.get(name) for name in NAMES]
    flag = context.stop_requested
    fresh = not flag.is_set()
    if event == b"meddle":
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "changed by the handler"
        del os.environ["ALIBABA_CLOUD_SECURITY_TOKEN"]
        flag.set()
    return {"env": seen, "context": [context.credentials.access_key_id,
                                     context.credentials.security_token],
            "event": isinstance(flag, threading.Event), "fresh": fresh,
            "set": flag.is_set(), "waited": flag.wait(0)}
'''


def _function(tmp_path: Path) -> Function:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(HANDLER)
    return function("per-request", code_dir=code)


def test_each_request_sees_its_own_credentials_and_a_fresh_stop_flag(tmp_path):
    fn = _function(tmp_path)
    other = Credentials("STS.other", "other-secret", "other-token")

    async def body(rt: Runtimes) -> list[Outcome]:
        return [await rt.invoke(call(fn, event, f"r-{i}", credentials))
                for i, (event, credentials) in enumerate(
                    [(b"meddle", None), (b"look", None), (b"look", other), (b"look", None)])]

    outcomes = run(body)
    assert len({o.instance_id for o in outcomes}) == 1
    seen = [json.loads(o.body) for o in outcomes]
    local = Credentials()
    mine = [local.access_key_id, local.access_key_secret, local.security_token]
    theirs = [other.access_key_id, other.access_key_secret, other.security_token]
    assert [s["env"] for s in seen] == [mine, mine, theirs, mine]
    assert [s["context"] for s in seen] == [[e[0], e[2]] for e in (mine, mine, theirs, mine)]
    assert [(s["event"], s["fresh"]) for s in seen] == [(True, True)] * 4
    assert [(s["set"], s["waited"]) for s in seen] == [(True, True)] + [(False, False)] * 3


def test_a_stop_flag_is_an_event_that_wakes_a_waiting_thread():
    flag = StopFlag()  # the in-process runtime's context.stop_requested too
    assert isinstance(flag, threading.Event)
    assert not flag.is_set() and not flag.wait(0)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(flag.wait(30)))
    waiter.start()
    flag.set()
    waiter.join(30)
    assert woke == [True] and flag.is_set()
    flag.clear()
    assert not flag.is_set() and not flag.wait(0)
