"""Routes under ``/_fcemu``: the emulator's control API, for tests in any language.

The moto-api analogue (STYLE.md, moto 4): reset, clock, settle, drain, seed,
a peek at SMQ queues and at what EventBridge bus destinations received; the task
listing across functions, task logs, handler instances, scripted outcomes and
destination faults (:mod:`fcemu.faults`). Each handler calls the engine's
method of the same operation (``engine.advance_clock``, ``engine.peek_queue``
...). Errors use the FC error format, like the FC API. Times are epoch
milliseconds on the emulator clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from fcemu.api import inputs, wire
from fcemu.api.async_tasks import task_query
from fcemu.api.keys import ENGINE
from fcemu.clock import MAX_DURATION_MS, to_duration_ms, to_epoch_ms
from fcemu.engine import Engine
from fcemu.errors import FcError, InvalidArgument
from fcemu.scheduler import SettleTimeout
from fcemu.smq import Message

routes = web.RouteTableDef()

#: Largest number of queues ``GET /_fcemu/queues`` lists.
MAX_QUEUES = 100_000
#: Largest ``seconds`` / ``timeout`` the clock routes take (the clock's own range is
#: :data:`fcemu.clock.MAX_EPOCH_MS`).
MAX_SECONDS = MAX_DURATION_MS // 1000


class SettleTimedOut(FcError):
    """503: the emulator's work did not settle in time; the message names what is busy."""

    status = 503
    code = "SettleTimeout"


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """``{"status": "ok"}`` once the server answers."""
    return wire.json_response({"status": "ok"})


@routes.post("/reset")
async def reset(request: web.Request) -> web.Response:
    """All state gone, clock mode kept; a manual clock returns to its start, IDs to their seed."""
    engine = request.app[ENGINE]
    await engine.reset()
    return wire.json_response({"status": "ok", **clock_state(engine)})


@routes.get("/clock")
async def get_clock(request: web.Request) -> web.Response:
    """``{"mode": "real"|"manual", "now": <epoch ms>}``."""
    return wire.json_response(clock_state(request.app[ENGINE]))


@routes.post("/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    """``{"seconds": N}``: settle, fire every timer due in order, settle; answer the clock."""
    engine = request.app[ENGINE]
    seconds = (await _body(request, required=True)).get("seconds")
    with clock_errors():
        await engine.advance_clock(to_duration_ms(_number(seconds, "seconds")))
    return wire.json_response(clock_state(engine))


@routes.post("/clock/set")
async def set_clock(request: web.Request) -> web.Response:
    """``{"now": <epoch ms or ISO 8601>}``: like advance, to an absolute time."""
    engine = request.app[ENGINE]
    now = (await _body(request, required=True)).get("now")
    if isinstance(now, bool) or not isinstance(now, (int, float, str)):
        raise InvalidArgument(f"now must be epoch milliseconds or an ISO 8601 string, got {now!r}")
    with clock_errors():
        await engine.set_clock(to_epoch_ms(now))
    return wire.json_response(clock_state(engine))


@routes.post("/settle")
async def settle(request: web.Request) -> web.Response:
    """Return once nothing is runnable at the current time (optional ``{"timeout": s}``)."""
    engine = request.app[ENGINE]
    timeout = (await _body(request)).get("timeout")
    with clock_errors():
        now = await engine.settle(None if timeout is None else _number(timeout, "timeout", low=0))
    return wire.json_response({"now": now})


@routes.post("/drain")
async def drain(request: web.Request) -> web.Response:
    """Manual clock: run every task to its end, jumping from task timer to task timer;
    ``{"until": <epoch ms or ISO 8601>}`` first runs everything due up to then (trigger
    fires too)."""
    engine = request.app[ENGINE]
    body = await _body(request)
    timeout, until = body.get("timeout"), body.get("until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, str))):
        raise InvalidArgument(f"until must be epoch milliseconds or an ISO 8601 string, got "
                              f"{until!r}")
    with clock_errors():
        now = await engine.drain(None if timeout is None else _number(timeout, "timeout", low=0),
                                 until_ms=None if until is None else to_epoch_ms(until))
    return wire.json_response({"now": now})


@routes.post("/seed")
async def seed(request: web.Request) -> web.Response:
    """``{"seed": N}``: re-seed the ID generator, then reset."""
    engine = request.app[ENGINE]
    value = (await _body(request, required=True)).get("seed")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"seed must be an integer, got {value!r}")
    await engine.reset(seed=value)
    return wire.json_response({"seed": value, **clock_state(engine)})


@routes.get("/queues")
async def list_queues(request: web.Request) -> web.Response:
    """Every SMQ queue with its number of live messages."""
    counts = request.app[ENGINE].queue_counts(limit=MAX_QUEUES)
    return wire.json_response(
        {"queues": [{"name": name, "messageCount": count} for name, count in counts.items()]})


@routes.get("/queues/{name}/messages")
async def peek_queue_messages(request: web.Request) -> web.Response:
    """Every live message of a queue, in delivery order, without consuming any.

    A queue that does not exist (yet) has no messages: destinations create
    theirs on first delivery, so "nothing yet" and "no queue yet" look alike.
    """
    messages = request.app[ENGINE].peek_queue(request.match_info["name"])
    return wire.json_response({"messages": [message(m) for m in messages]})


@routes.get("/eventbus")
async def list_eventbus_events(request: web.Request) -> web.Response:
    """What EventBridge bus destinations received, in delivery order (``?bus=`` one bus's,
    ``?function=`` one function's tasks'): each entry kept as long as its task's record."""
    events = request.app[ENGINE].eventbus_events(request.query.get("bus") or None,
                                                 request.query.get("function") or None)
    return wire.json_response({"events": events})


@routes.get("/functions/{name}/async-tasks/{taskId}/logs")
async def get_async_task_logs(request: web.Request) -> web.Response:
    """A task's logs: ``logs`` (every attempt, in order) and ``attempts`` one by one."""
    logs = request.app[ENGINE].task_logs(request.match_info["name"],
                                         request.match_info["taskId"])
    attempts = [{"attempt": a.number, "instanceId": a.instance_id, "outcome": a.outcome,
                 "scripted": a.scripted, "logs": a.logs} for a in logs.attempts]
    return wire.json_response({"taskId": logs.task_id, "requestId": logs.request_id,
                               "logs": logs.text, "attempts": attempts})


@routes.get("/tasks")
async def list_all_async_tasks(request: web.Request) -> web.Response:
    """The tasks of every function, task mode on or off: ListAsyncTasks's filters
    (``prefix``, ``status``, ``startedTimeBegin``/``End``, ``sortOrderByTime``,
    ``includePayload``), paging (``limit``, ``nextToken``), plus ``function`` (one function's
    tasks, every qualifier). Each item is an ``AsyncTask`` plus its ``functionName``."""
    query = task_query(request.query)
    include = inputs.query_bool(request.query.get("includePayload"), "includePayload")
    function = request.query.get("function") or None
    tasks, token = request.app[ENGINE].list_all_async_tasks(query, function)
    records = ({**wire.async_task(t, include_payload=include), "functionName": t.function_name}
               for t in tasks)
    return wire.json_response(wire.page("tasks", records, token))


@routes.get("/instances")
async def list_instances(request: web.Request) -> web.Response:
    """The handler processes alive now, and the most ever alive at once."""
    engine = request.app[ENGINE]
    usage = engine.instance_usage()
    return wire.json_response({"instances": engine.instances(), "live": usage.live,
                               "peak": usage.peak, "maxInstances": usage.max_instances})


@routes.post("/functions/{name}/script")
async def put_script(request: web.Request) -> web.Response:
    """Body: a list of steps (or ``{"steps": [...]}``); replaces the function's script."""
    body = await wire.read_any_json(request)
    steps = body.get("steps") if isinstance(body, dict) else body
    name = request.match_info["name"]
    script = request.app[ENGINE].put_script(name, steps)
    return wire.json_response({"functionName": name, "steps": [s.to_doc() for s in script]})


@routes.get("/functions/{name}/script")
async def get_script(request: web.Request) -> web.Response:
    """What is left of the function's script."""
    name = request.match_info["name"]
    script = request.app[ENGINE].get_script(name)
    return wire.json_response({"functionName": name, "steps": [s.to_doc() for s in script]})


@routes.delete("/functions/{name}/script")
async def delete_script(request: web.Request) -> web.Response:
    """Forget the function's script: its handler runs again."""
    request.app[ENGINE].delete_script(request.match_info["name"])
    return wire.empty_response()


@routes.post("/destinations/faults")
async def fail_destination(request: web.Request) -> web.Response:
    """``{"destination": <queue name or ARN>, "times": N}``: the next N deliveries fail."""
    body = await _body(request, required=True)
    engine = request.app[ENGINE]
    engine.fail_destination(body.get("destination"), body.get("times", 1))
    return wire.json_response({"faults": engine.destination_faults()})


@routes.get("/destinations/faults")
async def list_destination_faults(request: web.Request) -> web.Response:
    """The destination faults left: ``kind``, ``name``, ``remaining``."""
    return wire.json_response({"faults": request.app[ENGINE].destination_faults()})


@routes.delete("/destinations/faults")
async def clear_destination_faults(request: web.Request) -> web.Response:
    """Forget every destination fault."""
    request.app[ENGINE].clear_destination_faults()
    return wire.empty_response()


def clock_state(engine: Engine) -> dict[str, Any]:
    """``{"mode", "now"}`` of the emulator clock."""
    return {"mode": engine.clock_mode, "now": engine.now_ms()}


def message(m: Message) -> dict[str, Any]:
    """An SMQ message as the control API shows it (MNS field meanings, spec §13.4)."""
    return {"messageId": m.message_id, "body": m.body, "enqueueTime": m.enqueue_time,
            "dequeueCount": m.dequeue_count, "nextVisibleTime": m.next_visible_time,
            "priority": m.priority}


@contextmanager
def clock_errors() -> Iterator[None]:
    """The scheduler's refusals as FC errors: 400 with its message, 503 on a settle timeout."""
    try:
        yield
    except SettleTimeout as exc:
        raise SettleTimedOut(str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument(str(exc)) from None


async def _body(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    if not required and not request.body_exists:  # (verify mode may have read it already)
        return {}
    if not required and not (await request.read()).strip():
        return {}
    return await wire.read_json(request)


def _number(value: Any, key: str, *, low: float = -MAX_SECONDS) -> float:
    """A finite number of seconds within ``low..MAX_SECONDS``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{key} must be a number, got {value!r}")
    if not low <= value <= MAX_SECONDS:  # NaN and infinities fail too
        raise InvalidArgument(f"{key} must be a finite number of seconds between {low:g} and "
                              f"{MAX_SECONDS}, got {value!r}")
    return value
