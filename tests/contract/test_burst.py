"""Nothing accepted is lost: a burst of concurrent async invocations over real HTTP.

Every 202 must become exactly one terminal status and exactly one result
message, whatever mix of successes, retries and failures.
"""

from __future__ import annotations

import asyncio
import collections
import json

import aiohttp

BURST = 2000
CONCURRENCY = 64


def flaky(event: bytes, context: object) -> bytes:
    """Fails every third task on every attempt; the others succeed."""
    if int(event) % 3 == 0:
        raise RuntimeError(f"task {int(event)} fails")
    return event


async def fire(endpoint: str) -> list[str]:
    url = f"{endpoint}/2023-03-30/functions/flaky/invocations"
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession, i: int) -> str:
        async with gate, session.post(url, data=str(i).encode(),
                                      headers={"x-fc-invocation-type": "Async",
                                               "x-fc-async-task-id": f"t{i}"}) as response:
            assert response.status == 202, await response.text()
            return response.headers["x-fc-async-task-id"]

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(one(session, i) for i in range(BURST)))


def test_a_burst_reaches_exactly_one_terminal_status_and_one_message_each(fcemu):
    emu = fcemu  # reset by the plugin's fixture
    emu.register_function("flaky", flaky)
    emu.put_async_invoke_config("flaky", asyncTask=True, maxAsyncRetryAttempts=1,
                                on_success="burst-ok", on_failure="burst-dlq")
    finished: list[dict[str, object]] = []
    emu.task_listeners.append(finished.append)
    try:
        accepted = asyncio.run(fire(emu.endpoint))
        emu.drain()
    finally:
        emu.task_listeners.remove(finished.append)

    assert sorted(accepted) == sorted(f"t{i}" for i in range(BURST))
    per_task = collections.Counter(t["taskId"] for t in finished)
    assert set(per_task) == set(accepted) and set(per_task.values()) == {1}
    failed = {t["taskId"] for t in finished if t["status"] == "Failed"}
    assert failed == {f"t{i}" for i in range(0, BURST, 3)}

    ok, dlq = emu.queue("burst-ok").json(), emu.queue("burst-dlq").json()
    assert len(ok) + len(dlq) == BURST
    pushed = collections.Counter(m["requestPayload"] for m in ok + dlq)
    assert set(pushed.values()) == {1} and len(pushed) == BURST
    assert {m["requestContext"]["approximateInvokeCount"] for m in dlq} == {2}
    assert all(json.loads(m["responsePayload"])["errorType"] == "RuntimeError" for m in dlq)
    emu.check()

