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
from collections.abc import Callable, Iterable, Sequence
from itertools import starmap
from operator import attrgetter
from typing import Any

from fcemu.models import Attempt, Task, TaskEvent, TaskStatus

__all__ = ["TASK_STATE_FIELDS", "task_from_state", "task_to_state", "tasks_from_states"]

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


def _details_in(pairs: Iterable[tuple[int, str]] | None) -> dict[int, str] | None:
    return None if pairs is None else dict(pairs)  # (int, str) pairs in any state


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


#: Every field of a task at once, in order (one C call: durable mode writes a task's
#: state at each of its changes); an attempt's the same way.
_FIELD_VALUES = attrgetter(*TASK_STATE_FIELDS)
_ATTEMPT_VALUES = attrgetter(*_ATTEMPT_FIELDS)
_AT = {name: i for i, name in enumerate(TASK_STATE_FIELDS)}
_STATUS, _ATTEMPTS, _LOG, _DETAILS = (_AT["status"], _AT["attempts"], _AT["event_log"],
                                      _AT["event_details"])
if {TASK_STATE_FIELDS[i] for i, _ in _SPECIAL} != {"status", "attempts", "event_log",
                                                    "event_details"}:
    raise ImportError("task_to_state converts the fields of _CONVERT: write a new one out")


def task_to_state(task: Task) -> tuple[Any, ...]:
    """The task as a tuple of plain values (see the module docstring): the ``to plain
    data`` side of :data:`_CONVERT`, written out (durable mode's hot path: no Python call
    per field, none for a task that has no attempt or event detail yet)."""
    values = list(_FIELD_VALUES(task))
    values[_STATUS] = values[_STATUS]._value_
    attempts = values[_ATTEMPTS]
    values[_ATTEMPTS] = tuple(map(_ATTEMPT_VALUES, attempts)) if attempts else ()
    log = values[_LOG]
    if type(log) is not bytes:
        values[_LOG] = _log_out(log)
    details = values[_DETAILS]
    if details is not None:
        values[_DETAILS] = tuple(details.items())
    return tuple(values)


#: What converts a status's wire value (a TaskStatus, a str, is its own value too).
_STATUS_OF = {s.value: s for s in TaskStatus}
_FIELDS = len(TASK_STATE_FIELDS)


def task_from_state(state: Sequence[Any]) -> Task:
    """A new task from :func:`task_to_state`'s tuple (or a list read back from JSON)."""
    return tasks_from_states([state])[0]


def tasks_from_states(states: Sequence[Sequence[Any]]) -> list[Task]:
    """New tasks from :func:`task_to_state`'s tuples (or lists read back from JSON).

    The hot loop of a restore (issue 17): each task is one positional constructor call
    with its state as it is (made by ``starmap``: no Python call per task of its own),
    then the few fields that are not plain already are set in place (the ``from plain
    data`` side of :data:`_CONVERT`, written out): the status, the attempts (a new list,
    even an empty one), the event details (a new dict); the packed event log when it is
    not bytes. No copy of a state, no call per field."""
    if set(map(len, states)) - {_FIELDS}:
        states = [_whole(state) for state in states]
    tasks = list(starmap(Task, states))
    status_of, attempt = _STATUS_OF, Attempt
    for task in tasks:
        task.status = status_of[task.status]
        rows: Any = task.attempts
        task.attempts = list(starmap(attempt, rows)) if rows else []
        log: Any = task.event_log
        if type(log) is not bytes or not _LOG_IS_BYTES:
            task.event_log = _log_in(log)  # type: ignore[assignment]  # the model's kind
        details: Any = task.event_details
        if details is not None:
            task.event_details = _details_in(details)
    return tasks


def _whole(state: Sequence[Any]) -> Sequence[Any]:
    """A state of every field: one written before tasks kept their HTTP call (the last
    field) has none."""
    if len(state) == _FIELDS - 1:
        return (*state, None)
    if len(state) != _FIELDS:
        raise ValueError(f"a task state has {_FIELDS} fields, got {len(state)}")
    return state
