"""The snapshot routes under /_fcemu: take, list, download, restore by ID or by file."""

from __future__ import annotations

import aiohttp

from tests.api.conftest import CREATE, Api, assert_error, zip_b64
from tests.constants import T0


async def deploy_zip(api: Api) -> None:
    reply = await api.fc("POST", "/functions", json_body={**CREATE, "code": {"zipFile": zip_b64()}})
    assert reply.status == 200, reply


async def test_snapshot_then_restore_by_id_brings_tasks_and_ids_back(api: Api) -> None:
    api.deploy()
    await api.put_config()
    await api.invoke(task_id="kept", delay=60)
    reply = await api.control("POST", "/snapshot", params={"id": "base"})
    assert reply.json() == {"snapshotId": "base", "time": T0, "functions": 1, "tasks": 1,
                            "queues": 0}
    first = (await api.invoke()).headers["x-fc-async-task-id"]  # the stream's next ID
    await api.advance(120)
    assert (await api.task(first))["status"] == "Succeeded"
    reply = await api.control("POST", "/restore", json_body={"snapshotId": "base"})
    assert (reply.status, reply.json()["snapshotId"]) == (200, "base")
    assert (await api.task("kept"))["status"] == "Enqueued"
    assert (await api.control("GET", "/clock")).json()["now"] == T0
    assert (await api.fc("GET", f"/functions/f/async-tasks/{first}")).status == 404
    assert (await api.invoke()).headers["x-fc-async-task-id"] == first  # same ID again
    listing = (await api.control("GET", "/snapshots")).json()
    assert [s["snapshotId"] for s in listing["snapshots"]] == ["base"]


async def test_restore_reads_a_json_body_whatever_its_content_type(api: Api) -> None:
    """As every control route reads its JSON (``curl -d`` sends it as a form): a body that
    starts with ``{`` is the ``{"snapshotId"}`` document, never a snapshot file."""
    api.deploy()
    await api.control("POST", "/snapshot", params={"id": "base"})
    await api.control("POST", "/reset")
    reply = await api.control(
        "POST", "/restore", data=b' {"snapshotId": "base"}',
        headers={"content-type": "application/x-www-form-urlencoded"})
    assert (reply.status, reply.json()["snapshotId"]) == (200, "base")
    assert (await api.fc("GET", "/functions/f")).status == 200
    refused = await api.control("POST", "/restore", data=b'{"id": 1}')
    assert_error(refused, 400, "InvalidArgument")
    assert refused.json()["Message"].startswith('restore takes {"snapshotId"')


async def test_a_downloaded_file_restores_after_a_reset(api: Api) -> None:
    await deploy_zip(api)
    await api.put_config()
    await api.invoke(task_id="kept", delay=60)
    reply = await api.control("POST", "/snapshot", params={"download": "1"})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/octet-stream"
    data = reply.body
    assert (await api.control("POST", "/reset")).status == 200
    assert (await api.fc("GET", "/functions/f")).status == 404
    reply = await api.control("POST", "/restore", data=data,
                              headers={"content-type": "application/octet-stream"})
    assert reply.status == 200, reply
    assert (await api.fc("GET", "/functions/f")).json()["functionName"] == "f"
    assert (await api.task("kept"))["status"] == "Enqueued"
    again = await api.control("GET", f"/snapshots/{reply.json()['snapshotId']}")
    assert again.body.startswith(b"fcemu-snapshot\n1\n")


async def test_a_file_uploaded_as_multipart_restores(api: Api) -> None:
    await deploy_zip(api)
    data = (await api.control("POST", "/snapshot", params={"download": "1"})).body
    await api.control("POST", "/reset")
    form = aiohttp.FormData()
    form.add_field("file", data, filename="s.fcemu", content_type="application/octet-stream")
    assert api._client is not None
    async with api._client.post("/_fcemu/restore", data=form) as response:
        assert response.status == 200, await response.text()
    assert (await api.fc("GET", "/functions/f")).status == 200


async def test_bad_requests_are_fc_errors(api: Api) -> None:
    assert_error(await api.control("POST", "/restore", json_body={"snapshotId": "nope"}),
                 404, "SnapshotNotFound")
    assert_error(await api.control("POST", "/restore", json_body={"id": 1}), 400,
                 "InvalidArgument")
    assert_error(await api.control("POST", "/restore", data=b"garbage",
                                   headers={"content-type": "application/octet-stream"}),
                 400, "InvalidArgument")
    assert_error(await api.control("POST", "/snapshot", params={"id": "no/slash"}), 400,
                 "InvalidArgument")
    api.deploy()  # an in-process handler cannot go into a file
    assert_error(await api.control("POST", "/snapshot", params={"download": "1"}), 400,
                 "InvalidArgument")
    assert (await api.control("DELETE", "/snapshots/snap-1")).status == 204


async def test_a_file_that_decodes_to_no_snapshot_is_refused_as_damaged(api: Api) -> None:
    """A file with the right header whose document is not a snapshot's: 400 naming the
    damage, not Python's bare ``'state'``."""
    import zlib

    from fcemu.store.codec import FORMAT, MAGIC

    for document in (b'{"x": 1}', b"[1]"):
        data = MAGIC + f"{FORMAT}\n".encode() + zlib.compress(document)
        refused = await api.control("POST", "/restore", data=data,
                                    headers={"content-type": "application/octet-stream"})
        assert_error(refused, 400, "InvalidArgument")
        assert refused.json()["Message"].startswith("the snapshot file is damaged"), refused
