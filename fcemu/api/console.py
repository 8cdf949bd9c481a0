"""Control routes for the metrics and the web console (:mod:`fcemu.web`), under ``/_fcemu``.

- ``GET /metrics``: every metric in the Prometheus text format (``?format=json``: the
  document ``emu.metrics()`` returns);
- ``GET /events`` with ``Accept: text/event-stream``: the engine's task events as
  Server-Sent Events, live (one ``task`` event per status change, a ``reset`` event
  after a reset, a comment line as a heartbeat); the console reads it with ``fetch`` so
  that, in verify mode, the request is signed like every other. Without that ``Accept``
  it is a 406 (a plain client would otherwise wait forever);
- ``GET /smq``: every queue with its active, in-flight and delayed counts, every topic;
- ``POST`` / ``DELETE /queues/{name}/messages``: send one message, purge a queue;
  ``POST /topics/{name}/messages``: publish one;
- ``GET /functions/{name}/async-tasks/{taskId}``: a task record whether or not task
  mode is on, with its attempts (instance, outcome, duration, peak memory, logs) and where its
  result message went;
- ``GET /faults``: the scripted outcomes and destination faults in force.

They sit in the control sub-app, so the front door's Host/Origin checks and, in verify
mode, the signature checks apply to them as to every route. Each handler calls the
engine's public methods only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.keys import ENGINE
from fcemu.errors import FcError, InvalidArgument, SmqError
from fcemu.models import Task, TaskEvent

__all__ = ["STREAMS", "routes", "setup"]

routes = web.RouteTableDef()

#: The open event streams of an app, ended at shutdown.
STREAMS: web.AppKey[set[asyncio.Queue[dict[str, Any] | None]]] = web.AppKey("event_streams")
#: Events a slow reader may fall behind by before it is told to reload.
_STREAM_BUFFER = 1000
#: Seconds between heartbeats on an idle stream (real time: proxies and dead peers).
_HEARTBEAT_S = 15.0
#: The largest message body the send form takes (SMQ's own limit is checked by the queue).
_MAX_BODY = 1024 * 1024


class SmqRefusal(FcError):
    """An SMQ refusal (no such queue, bad attribute ...) in the control API's FC format."""

    def __init__(self, error: SmqError) -> None:
        super().__init__(error.message)
        self.status = error.status  # type: ignore[misc]
        self.code = error.code  # type: ignore[misc]


class NotAcceptable(FcError):
    """406: the event stream is asked for without ``Accept: text/event-stream``."""

    status = 406
    code = "NotAcceptable"


def setup(app: web.Application) -> None:
    """Keep the app's event streams, and end them at shutdown (none holds it up)."""
    app[STREAMS] = set()
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    streams = app[STREAMS]
    for queue in [*streams]:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)


@routes.get("/metrics")
async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus text format 0.0.4; ``?format=json`` for the JSON document."""
    engine = request.app[ENGINE]
    fmt = request.query.get("format", "prometheus")
    if fmt == "json":
        return wire.json_response(engine.metrics())
    if fmt != "prometheus":
        raise InvalidArgument(f"format must be 'prometheus' or 'json', got {fmt!r}")
    return web.Response(text=engine.metrics_text(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@routes.get("/events")
async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``event: task`` with ``functionName``, ``qualifier``, ``taskId``,
    ``status``, ``time`` (emulator ms) for each status change; ``event: reset``."""
    if "text/event-stream" not in request.headers.get("Accept", ""):
        raise NotAcceptable("GET /_fcemu/events streams Server-Sent Events until the client "
                            "goes away: ask for it with 'Accept: text/event-stream'")
    engine = request.app[ENGINE]
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(_STREAM_BUFFER)
    lost = False

    def listen(task: Task | None, event: TaskEvent | None) -> None:
        nonlocal lost
        doc: dict[str, Any] = {"type": "reset"} if task is None or event is None else {
            "type": "task", "functionName": task.function_name, "qualifier": task.qualifier,
            "taskId": task.task_id, "status": event.status.value, "time": event.timestamp}
        try:
            queue.put_nowait(doc)
        except asyncio.QueueFull:
            lost = True

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    streams = request.app[STREAMS]
    streams.add(queue)
    engine.add_event_listener(listen)
    try:
        await response.write(b": fcemu events\n\n")
        while True:
            try:
                doc = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
            except asyncio.TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if doc is None:
                break
            if lost:  # fell behind: the reader reloads what it shows
                lost, doc = False, {"type": "reset"}
            data = json.dumps(doc, separators=(",", ":"))
            await response.write(f"event: {doc['type']}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        engine.remove_event_listener(listen)
        streams.discard(queue)
    return response


@routes.get("/smq")
async def smq_summary(request: web.Request) -> web.Response:
    """Every queue (``active``, ``inactive``, ``delayed``, ``total``) and topic."""
    engine = request.app[ENGINE]
    return wire.json_response({"queues": engine.queue_summaries(),
                               "topics": engine.topic_summaries()})


@routes.post("/queues/{name}/messages")
async def send_queue_message(request: web.Request) -> web.Response:
    """``{"body": "...", "delaySeconds": N}``: SendMessage to an existing queue."""
    body = await wire.read_json(request)
    text = _message_body(body)
    delay = inputs.integer(body, "delaySeconds", 0, 604800)
    try:
        message = request.app[ENGINE].send_queue_message(request.match_info["name"], text,
                                                         delay)
    except SmqError as exc:
        raise SmqRefusal(exc) from None
    return wire.json_response({"messageId": message.message_id}, status=201)


@routes.delete("/queues/{name}/messages")
async def purge_queue(request: web.Request) -> web.Response:
    """Delete every message of a queue."""
    request.app[ENGINE].clear_queue(request.match_info["name"])
    return wire.empty_response()


@routes.post("/topics/{name}/messages")
async def publish_topic_message(request: web.Request) -> web.Response:
    """``{"body": "...", "tag": "..."}``: PublishMessage to an existing topic."""
    body = await wire.read_json(request)
    text = _message_body(body)
    tag = body.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise InvalidArgument(f"tag must be a string, got {tag!r}")
    try:
        message = request.app[ENGINE].publish_topic_message(request.match_info["name"], text,
                                                            tag or None)
    except SmqError as exc:
        raise SmqRefusal(exc) from None
    return wire.json_response({"messageId": message.message_id}, status=201)


@routes.get("/functions/{name}/async-tasks/{taskId}")
async def get_task_detail(request: web.Request) -> web.Response:
    """A task (as GetAsyncTask, with its payload), its attempts and its destination."""
    engine = request.app[ENGINE]
    task = engine.task_record(request.match_info["name"], request.match_info["taskId"])
    attempts = [{"attempt": a.number, "startedTime": a.started_ms,
                 "instanceId": a.instance_id, "durationMs": a.duration_ms,
                 "outcome": a.outcome, "errorType": a.error_type, "scripted": a.scripted,
                 "maxMemoryMB": a.max_memory_mb,
                 "logs": task.attempt_log(a)} for a in task.attempts]
    return wire.json_response({
        **wire.async_task(task, include_payload=True), "functionName": task.function_name,
        "errorBody": None if task.error_body is None
        else task.error_body.decode("utf-8", "replace"),
        "attempts": attempts, "destination": engine.task_destination(task),
        "stoppable": not task.status.terminal})


@routes.get("/faults")
async def list_faults(request: web.Request) -> web.Response:
    """Scripts by function and destination faults left."""
    return wire.json_response(request.app[ENGINE].describe_faults())


def _message_body(doc: dict[str, Any]) -> str:
    text = doc.get("body")
    if not isinstance(text, str):
        raise InvalidArgument(f"body must be a string (the message body), got {text!r}")
    if len(text.encode()) > _MAX_BODY:
        raise InvalidArgument(f"body is {len(text.encode())} bytes; at most {_MAX_BODY}")
    return text
