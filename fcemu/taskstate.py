"""A task record as plain data, and back: what snapshots and the durable store keep.

:func:`task_to_state` turns a :class:`~fcemu.models.Task` into a tuple of plain values
(strings, numbers, bytes, tuples; its status as its wire value, its packed event log as
bytes, its attempts as tuples), and :func:`task_from_state` builds a fresh, independent
task from one, so one captured state can be restored any number of times. Both walk the
dataclass fields in order, so a field added to :class:`~fcemu.models.Task` is carried
without a change here (as long as its value is plain data). Restoring is the hot path of
a snapshot restore (issue 17: 1000 tasks in a few milliseconds): one positional
constructor call per task, the few structured fields converted by index.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from fcemu.models import Attempt, Task, TaskEvent, TaskStatus

__all__ = ["TASK_STATE_FIELDS", "task_from_state", "task_to_state"]

#: The fields of a task state tuple, in order (the Task dataclass's).
TASK_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(Task))
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))


def _attempts_out(attempts: list[Attempt]) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(getattr(a, name) for name in _ATTEMPT_FIELDS) for a in attempts)


def _attempts_in(rows: Sequence[Sequence[Any]]) -> list[Attempt]:
    return [Attempt(*row) for row in rows]


def _log_out(log: bytes | array[int]) -> bytes:
    return log.tobytes() if isinstance(log, array) else bytes(log)


#: Whether the packed event log is kept as bytes (else an ``array("q")``).
_LOG_FIELD = next((f for f in dataclasses.fields(Task) if f.name == "event_log"), None)
_LOG_IS_BYTES = _LOG_FIELD is not None and isinstance(_LOG_FIELD.default, bytes)


def _log_in(data: bytes) -> bytes | array[int]:
    if _LOG_IS_BYTES:
        return data if type(data) is bytes else bytes(data)
    log = array("q")
    log.frombytes(data)
    return log


def _details_out(details: dict[int, str] | None) -> tuple[tuple[int, str], ...] | None:
    return None if details is None else tuple(details.items())


def _details_in(pairs: Sequence[Sequence[Any]] | None) -> dict[int, str] | None:
    return None if pairs is None else {int(k): str(v) for k, v in pairs}


def _events_out(events: list[TaskEvent]) -> tuple[tuple[Any, ...], ...]:
    return tuple((e.event_id, e.status.value, e.timestamp, e.detail) for e in events)


def _events_in(rows: Sequence[Sequence[Any]]) -> list[TaskEvent]:
    return [TaskEvent(int(i), TaskStatus(s), int(t), str(d)) for i, s, t, d in rows]


#: field name -> (to plain data, from plain data); every other field is plain already.
_CONVERT: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "status": (lambda s: s.value, {s.value: s for s in TaskStatus}.__getitem__),
    "attempts": (_attempts_out, _attempts_in),
    "event_log": (_log_out, _log_in),
    "event_details": (_details_out, _details_in),
    "events": (_events_out, _events_in),
}
_SPECIAL = tuple((i, _CONVERT[name]) for i, name in enumerate(TASK_STATE_FIELDS)
                 if name in _CONVERT)


def task_to_state(task: Task) -> tuple[Any, ...]:
    """The task as a tuple of plain values (see the module docstring)."""
    values = [getattr(task, name) for name in TASK_STATE_FIELDS]
    for i, (out, _) in _SPECIAL:
        values[i] = out(values[i])
    return tuple(values)


#: The positions of the fields converted on the way in, and what converts the status.
_STATUS_AT, _LOG_AT, _DETAILS_AT, _ATTEMPTS_AT = (
    TASK_STATE_FIELDS.index(name) for name in ("status", "event_log", "event_details",
                                               "attempts"))
_STATUS_OF = {s.value: s for s in TaskStatus}
_FIELDS = len(TASK_STATE_FIELDS)


def task_from_state(state: Sequence[Any]) -> Task:
    """A new task from :func:`task_to_state`'s tuple (or a list read back from JSON).

    The conversions of :data:`_CONVERT`'s ``from plain data`` side, written out by field
    position: the hot loop of a restore, one call per task with no call per field; a
    field that is plain already (bytes, no attempts, no details) is taken as it is."""
    values = list(state)
    if len(values) == _FIELDS - 1:  # written before tasks kept their HTTP call (the last)
        values.append(None)
    elif len(values) != _FIELDS:
        raise ValueError(f"a task state has {_FIELDS} fields, got {len(state)}")
    values[_STATUS_AT] = _STATUS_OF[values[_STATUS_AT]]
    rows = values[_ATTEMPTS_AT]
    values[_ATTEMPTS_AT] = [Attempt(*row) for row in rows] if rows else []
    log = values[_LOG_AT]
    if type(log) is not bytes or not _LOG_IS_BYTES:
        values[_LOG_AT] = _log_in(log)
    details = values[_DETAILS_AT]
    if details is not None:
        values[_DETAILS_AT] = _details_in(details)
    return Task(*values)
