"""A request waiting for a slot of a warm worker is started by the slot's hand-off.

When a request ends and another of its function waits, the pool starts the waiting
request on the freed instance right away (``Instance.begin``): its frame is written there
and then, and the request wakes only with its reply. These tests check that such a
request behaves exactly as one started the usual way: its outcome and log, its
timeout, a stop, a crash, a cancellation.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import UNHANDLED, Invocation, Runtimes
from fcemu.runtime.worker import WorkerInstance
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION
from tests.fifos import read_fifo

HANDLER = '''
import os, time

def handler(event, context):
    print(f"event={event.decode()}", flush=True)
    what, _, arg = event.decode().partition(":")
    if what == "die":
        os._exit(3)
    if what == "ready":
        with open(os.environ["READY_FIFO"], "w") as fifo:
            fifo.write(str(os.getpid()))
    if what in ("sleep", "ready"):
        time.sleep(float(arg))
    return {"event": event.decode(), "pid": os.getpid()}
'''


@pytest.fixture
def fn(tmp_path: Path) -> Function:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(HANDLER)
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    return Function(name="handoff", runtime="python3.10", handler="index.handler",
                    arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/handoff", function_id="fid",
                    created_ms=0, modified_ms=0, timeout=1, code_dir=code,
                    environment_variables={"READY_FIFO": str(fifo)})


@pytest.fixture
def begun(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the hand-off started (``WorkerInstance.begin`` said yes)."""
    started: list[str] = []
    original = WorkerInstance.begin

    def begin(self: WorkerInstance, invocation: Invocation, reply: asyncio.Future) -> bool:
        ok = original(self, invocation, reply)
        if ok:
            started.append(invocation.request_id)
        return ok

    monkeypatch.setattr(WorkerInstance, "begin", begin)
    return started


def call(fn: Function, event: str, request_id: str) -> Invocation:
    return Invocation(request_id, fn, event.encode(), "LATEST", REGION, ACCOUNT)


def run(body):
    async def main():
        runtimes = Runtimes(IdGenerator(7), max_instances=1)
        try:
            return await body(runtimes)
        finally:
            await runtimes.close()

    return asyncio.run(main())


def framed(request_id: str, text: str) -> str:
    return f"FC Invoke Start RequestId: {request_id}\n{text}FC Invoke End RequestId: {request_id}\n"


def test_waiting_requests_start_on_the_freed_slot_with_their_own_outcome_and_log(fn, begun):
    async def body(rt):
        warm = await rt.invoke(call(fn, "sleep:0", "r-0"))  # the instance starts the usual way
        tasks = [asyncio.create_task(rt.invoke(call(fn, event, f"r-{i}")))
                 for i, event in enumerate(["sleep:0.2", "a", "b"], start=1)]
        return warm, await asyncio.gather(*tasks), rt.instances()

    warm, outcomes, instances = run(body)
    assert begun == ["r-1", "r-2", "r-3"]  # r-1 took the idle instance, the others its slot
    assert [o.kind for o in outcomes] == ["ok", "ok", "ok"]
    assert [json.loads(o.body)["event"] for o in outcomes] == ["sleep:0.2", "a", "b"]
    assert {o.instance_id for o in outcomes} == {warm.instance_id}
    assert [o.logs for o in outcomes] == [framed(f"r-{i}", f"event={e}\n")
                                          for i, e in enumerate(["sleep:0.2", "a", "b"], 1)]
    assert outcomes[0].duration_ms >= 200 and outcomes[2].max_memory_mb > 0
    assert [(i["active"], i["healthy"]) for i in instances] == [(0, True)]


def test_a_started_request_times_out_at_its_own_deadline(fn, begun):
    async def body(rt):
        first = asyncio.create_task(rt.invoke(call(fn, "sleep:0.1", "r-1")))
        second = asyncio.create_task(rt.invoke(call(fn, "sleep:30", "r-2")))
        third = asyncio.create_task(rt.invoke(call(fn, "c", "r-3")))
        return await first, await second, await third

    first, second, third = run(body)
    assert begun == ["r-2"]  # r-3 waited for a new instance: the old one was killed
    assert (first.kind, second.kind, second.error_type) == ("ok", "timeout", UNHANDLED)
    assert json.loads(second.body)["errorMessage"].startswith("Function timed out after 1 ")
    assert 1000 <= second.duration_ms < 10_000
    assert second.logs == framed("r-2", "event=sleep:30\n")
    assert (third.kind, third.logs) == ("ok", framed("r-3", "event=c\n"))
    assert third.instance_id != second.instance_id


def test_a_started_request_that_crashes_or_is_stopped(fn, begun):
    async def body(rt):
        first = asyncio.create_task(rt.invoke(call(fn, "sleep:0.1", "r-1")))
        crash = asyncio.create_task(rt.invoke(call(fn, "die", "r-2")))
        await first
        stopping = asyncio.create_task(rt.invoke(call(fn, "sleep:0.1", "r-3")))
        stopped = asyncio.create_task(rt.invoke(call(fn, "ready:30", "r-4")))
        pid = int(await read_fifo(fn.environment_variables["READY_FIFO"]))
        return await crash, await stopping, await rt.stop("r-4"), await stopped, pid

    crash, before, stop, stopped, pid = run(body)
    assert begun == ["r-2", "r-4"]
    assert (crash.kind, crash.error_type) == ("crash", UNHANDLED)
    assert "Process exited unexpectedly" in json.loads(crash.body)["errorMessage"]
    assert crash.logs == framed("r-2", "event=die\n")
    assert (before.kind, stop, stopped.kind) == ("ok", True, "stopped")
    assert stopped.logs == framed("r-4", "event=ready:30\n")
    assert json.loads(before.body)["pid"] == pid  # r-4 ran where r-3 had run


def test_a_started_request_whose_caller_is_cancelled_frees_its_slot(fn, begun):
    async def body(rt):
        first = asyncio.create_task(rt.invoke(call(fn, "sleep:0.1", "r-1")))
        cancelled = asyncio.create_task(rt.invoke(call(fn, "ready:0.3", "r-2")))
        after = asyncio.create_task(rt.invoke(call(fn, "d", "r-3")))
        await first
        await read_fifo(fn.environment_variables["READY_FIFO"])
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return await after, rt.instances()

    after, instances = run(body)
    assert begun == ["r-2", "r-3"]  # r-3 took the slot r-2's cancellation gave back
    assert (after.kind, json.loads(after.body)["event"]) == ("ok", "d")
    assert after.logs == framed("r-3", "event=d\n")
    assert [(i["active"], i["healthy"]) for i in instances] == [(0, True)]


def test_a_threaded_instance_takes_waiting_requests_on_its_free_slots(fn, begun):
    """instanceConcurrency 2: a slot freed while the other runs starts the next request
    there; each request keeps its own log (the worker's log frames)."""
    threaded = Function(**{**vars(fn), "instance_concurrency": 2})
    events = ["sleep:0.3", "sleep:0.1", "a", "b", "c"]

    async def body(rt):
        tasks = [asyncio.create_task(rt.invoke(call(threaded, event, f"r-{i}")))
                 for i, event in enumerate(events, start=1)]
        return await asyncio.gather(*tasks), rt.instances()

    outcomes, instances = run(body)
    assert begun == ["r-3", "r-4", "r-5"]  # r-1 and r-2 started the instance
    assert [json.loads(o.body)["event"] for o in outcomes] == events
    assert [o.logs for o in outcomes] == [framed(f"r-{i}", f"event={e}\n")
                                          for i, e in enumerate(events, 1)]
    assert len({o.instance_id for o in outcomes}) == 1
    assert [(i["active"], i["capacity"]) for i in instances] == [(0, 2)]
