"""The control API under /_fcemu: health, reset, clock, settle, drain, seed, queue peek."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fcemu.settings import Settings
from tests.api.conftest import Api, assert_error
from tests.constants import SECOND_MS, T0, queue_arn


async def test_health(api: Api) -> None:
    reply = await api.control("GET", "/health")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})
    assert "x-fc-request-id" not in reply.headers  # control calls draw no seeded IDs


async def test_clock(api: Api) -> None:
    assert (await api.control("GET", "/clock")).json() == {"mode": "manual", "now": T0}


async def test_advance_fires_due_timers_and_answers_the_clock(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="job-1", delay=1)
    reply = await api.control("POST", "/clock/advance", json_body={"seconds": 1.5})
    assert reply.json() == {"mode": "manual", "now": T0 + 1500}
    task = await api.task("job-1")
    assert task["status"] == "Succeeded"
    assert task["endTime"] == T0 + SECOND_MS  # ran at the timer's due time, not at the end


@pytest.mark.parametrize("now", [T0 + 60 * SECOND_MS, "2024-05-01T00:01:00Z",
                                 str(T0 + 60 * SECOND_MS)])
async def test_set(api: Api, now: int | str) -> None:
    reply = await api.control("POST", "/clock/set", json_body={"now": now})
    assert reply.json() == {"mode": "manual", "now": T0 + 60 * SECOND_MS}


@pytest.mark.parametrize(("path", "body", "says"), [
    ("/clock/advance", {"seconds": -1}, "cannot move time backwards"),
    ("/clock/advance", {"seconds": "10"}, "seconds must be a number"),
    ("/clock/advance", {}, "seconds must be a number"),
    ("/clock/set", {"now": T0 - 1}, "cannot move time backwards"),
    ("/clock/set", {"now": "next tuesday"}, "ISO 8601"),
    ("/clock/set", {"now": None}, "now must be"),
    ("/seed", {"seed": "7"}, "seed must be an integer"),
    ("/settle", {"timeout": "x"}, "timeout must be a number"),
])
async def test_bad_control_input_is_400(api: Api, path: str, body: dict[str, Any],
                                        says: str) -> None:
    reply = await api.control("POST", path, json_body=body)
    assert_error(reply, 400, "InvalidArgument")
    assert says in reply.json()["Message"]


async def test_control_bodies_must_be_json_objects(api: Api) -> None:
    assert_error(await api.control("POST", "/clock/advance"), 400, "InvalidArgument")
    assert_error(await api.control("POST", "/clock/set", data=b"[]"), 400, "InvalidArgument")


async def test_moving_a_real_clock_is_400() -> None:
    async with Api(Settings(clock="real", seed=7)) as real:
        assert (await real.control("GET", "/clock")).json()["mode"] == "real"
        for path, body in (("/clock/advance", {"seconds": 1}), ("/clock/set", {"now": T0}),
                           ("/drain", None)):
            reply = await real.control("POST", path, json_body=body)
            assert_error(reply, 400, "InvalidArgument")
            assert "manual clock" in reply.json()["Message"]
        assert (await real.control("POST", "/settle")).status == 200


async def test_settle_and_drain(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="now")
    await api.invoke(task_id="later", delay=3600)
    assert (await api.control("POST", "/settle")).json() == {"now": T0}
    assert (await api.task("now"))["status"] == "Succeeded"
    assert (await api.task("later"))["status"] == "Enqueued"
    reply = await api.control("POST", "/drain", json_body={"timeout": 30})
    assert reply.json() == {"now": T0 + 3600 * SECOND_MS}
    assert (await api.task("later"))["status"] == "Succeeded"


async def test_settle_timeout_is_503_naming_what_is_busy(api: Api) -> None:
    started = asyncio.Event()

    async def stuck(event: bytes, context: Any) -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    api.deploy(handler=stuck, timeout=600)
    await api.put_config()
    await api.invoke(task_id="job-1")
    await started.wait()
    reply = await api.control("POST", "/settle", json_body={"timeout": 0})
    assert_error(reply, 503, "SettleTimeout")
    assert "still busy" in reply.json()["Message"] and "job-1" in reply.json()["Message"]


async def test_reset_forgets_everything_and_restarts_ids(api: Api) -> None:
    api.deploy()
    await api.put_config()
    first = (await api.invoke()).request_id
    await api.advance(60)
    reply = await api.control("POST", "/reset")
    assert reply.json() == {"status": "ok", "mode": "manual", "now": T0}
    assert api.engine.functions == {} and api.engine.async_configs == {}
    api.deploy()  # the same calls after a reset draw the same IDs
    await api.put_config()
    assert (await api.invoke()).request_id == first


async def test_seed_resets_with_another_seed(api: Api) -> None:
    api.deploy()
    await api.put_config()
    seven = (await api.invoke()).request_id
    reply = await api.control("POST", "/seed", json_body={"seed": 8})
    assert reply.json() == {"seed": 8, "mode": "manual", "now": T0}
    api.deploy()
    await api.put_config()
    eight = (await api.invoke()).request_id
    assert eight != seven
    await api.control("POST", "/seed", json_body={"seed": 7})
    api.deploy()
    await api.put_config()
    assert (await api.invoke()).request_id == seven


async def test_queue_peek(api: Api) -> None:
    api.deploy()
    await api.put_config(destinationConfig={"onSuccess": {"destination": queue_arn("ok")}})
    assert (await api.control("GET", "/queues")).json() == {"queues": []}
    assert (await api.control("GET", "/queues/ok/messages")).json() == {"messages": []}
    await api.invoke(payload=b"1")
    await api.invoke(payload=b"2")
    await api.settle()
    listing = (await api.control("GET", "/queues")).json()
    assert listing == {"queues": [{"name": "ok", "messageCount": 2}]}
    for _ in range(2):  # peeking consumes nothing
        messages = (await api.control("GET", "/queues/ok/messages")).json()["messages"]
        assert [set(m) for m in messages] == [{"messageId", "body", "enqueueTime",
                                               "dequeueCount", "nextVisibleTime",
                                               "priority"}] * 2
        assert [m["dequeueCount"] for m in messages] == [0, 0]
        assert [m["enqueueTime"] for m in messages] == [T0, T0]
        assert ['"requestPayload":"1"' in m["body"] for m in messages] == [True, False]
