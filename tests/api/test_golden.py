"""Whole wire documents against tests/golden/*.json (STYLE.md, responses/respx).

Seeded IDs and the manual clock make every field stable. The one real-time
figure, an in-process attempt's ``durationMs``, is pinned by fixing the
runtime's monotonic time source (as trio pins its real clock), not masked.
Rewrite the files with ``FCEMU_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_golden, boom
from tests.constants import queue_arn


@pytest.fixture(autouse=True)
def _pinned_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fcemu.runtime.inprocess.real_monotonic", lambda: 0.0)


async def test_error_body(api: Api) -> None:
    reply = await api.fc("GET", "/functions/missing")
    assert_golden("error_function_not_found", reply.json())
    assert reply.text == ('{"Code":"FunctionNotFound","Message":"function \'missing\' does not '
                          f'exist","RequestId":"{reply.request_id}"}}')  # compact, in this order


async def test_succeeded_task_and_its_result_message(api: Api) -> None:
    api.deploy()
    await api.put_config(destinationConfig={"onSuccess": {"destination": queue_arn("ok")}})
    await api.invoke(payload=b'{"order":42}', task_id="order-42")
    await api.settle()
    assert_golden("task_succeeded", await api.task("order-42"))
    assert_golden("result_message_succeeded", api.messages("ok")[0])


async def test_failed_task(api: Api) -> None:
    api.deploy(handler=boom)
    await api.put_config(maxAsyncRetryAttempts=1)
    await api.invoke(payload=b"x", task_id="job-1")
    await api.drain()
    assert_golden("task_failed", await api.task("job-1"))


async def test_expired_result_message(api: Api) -> None:
    api.deploy()
    await api.put_config(maxAsyncEventAgeInSeconds=60,
                         destinationConfig={"onFailure": {"destination": queue_arn("dlq")}})
    await api.invoke(payload=b'{"late":true}', task_id="job-1", delay=120)
    await api.drain()
    assert_golden("result_message_expired", api.messages("dlq")[0])


async def test_async_config_and_list_page(api: Api) -> None:
    api.deploy()
    await api.put_config(maxAsyncRetryAttempts=2, destinationConfig={
        "onFailure": {"destination": queue_arn("dlq")}})
    for task_id in ("a", "b"):
        await api.invoke(payload=task_id.encode(), task_id=task_id)
    await api.settle()
    page = await api.fc("GET", "/functions/f/async-tasks",
                        params={"limit": "1", "includePayload": "True"})
    assert_golden("list_async_tasks_page", page.json())
    assert_golden("async_config", (await api.fc("GET", "/functions/f/async-invoke-config")).json())
