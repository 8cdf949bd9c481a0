"""Routes under ``/_fcemu`` for snapshots (issue 17, :mod:`fcemu.engine.snapshots`).

- ``POST /_fcemu/snapshot`` (optional ``?id=NAME``): snapshot the whole state; answers
  ``{"snapshotId", "time", "functions", "tasks", "queues"}``, or with ``?download=1`` the
  snapshot file itself (``application/octet-stream``);
- ``POST /_fcemu/restore``: restore ``{"snapshotId": ID}`` (JSON), or the snapshot file
  sent as the body (``application/octet-stream``) or as the ``file`` field of a
  ``multipart/form-data`` upload;
- ``GET /_fcemu/snapshots``: the snapshots kept; ``GET /_fcemu/snapshots/{id}``: one as a
  file; ``DELETE /_fcemu/snapshots/{id}``: forget one.

Errors use the FC error format, like the rest of the control API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fcemu.api import wire
from fcemu.api.keys import ENGINE
from fcemu.engine import SnapshotInfo
from fcemu.errors import InvalidArgument

routes = web.RouteTableDef()

__all__ = ["routes", "snapshot_info"]


def snapshot_info(info: SnapshotInfo) -> dict[str, Any]:
    """A snapshot as the control API shows it (``time``: the emulator's, epoch ms)."""
    return {"snapshotId": info.snapshot_id, "time": info.time_ms,
            "functions": info.functions, "tasks": info.tasks, "queues": info.queues}


def _file(snapshot_id: str, data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{snapshot_id}.fcemu"'})


@routes.post("/snapshot")
async def take_snapshot(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    info = engine.snapshot(request.query.get("id") or None)
    if request.query.get("download") in ("1", "true"):
        return _file(info.snapshot_id, engine.snapshot_file(info.snapshot_id))
    return wire.json_response(snapshot_info(info))


@routes.post("/restore")
async def restore(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    kind = request.content_type
    data = b"" if kind == "multipart/form-data" else await request.read()
    # JSON whatever its Content-Type, as the other control routes read theirs (curl -d
    # sends form-urlencoded): a snapshot file starts with its magic, never with "{"
    if kind == "application/json" or data.lstrip()[:1] == b"{":
        body = await wire.read_json(request)
        snapshot_id = body.get("snapshotId") if isinstance(body, dict) else None
        if not isinstance(snapshot_id, str):
            raise InvalidArgument('restore takes {"snapshotId": "<id>"} as JSON, or a '
                                  "snapshot file as the body (application/octet-stream) "
                                  "or as the 'file' field of a multipart upload")
    elif kind == "multipart/form-data":
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise InvalidArgument("the multipart upload has no 'file' field holding the "
                                  "snapshot file")
        data = upload.file.read()
        snapshot_id = engine.import_snapshot(data, request.query.get("id") or None).snapshot_id
    else:
        if not data:
            raise InvalidArgument('restore takes {"snapshotId": "<id>"} as JSON or a snapshot '
                                  "file as the body; the body is empty")
        snapshot_id = engine.import_snapshot(data, request.query.get("id") or None).snapshot_id
    info = await engine.restore_snapshot(snapshot_id)
    return wire.json_response(snapshot_info(info))


@routes.get("/snapshots")
async def list_snapshots(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return wire.json_response({"snapshots": [snapshot_info(i) for i in engine.list_snapshots()]})


@routes.get("/snapshots/{snapshot_id}")
async def download_snapshot(request: web.Request) -> web.Response:
    snapshot_id = request.match_info["snapshot_id"]
    return _file(snapshot_id, request.app[ENGINE].snapshot_file(snapshot_id))


@routes.delete("/snapshots/{snapshot_id}")
async def delete_snapshot(request: web.Request) -> web.Response:
    request.app[ENGINE].delete_snapshot(request.match_info["snapshot_id"])
    return web.Response(status=204)
