"""A task's statuses and its event log, kept packed (issue 13).

Owns :class:`TaskStatus` (spec §9.2), :class:`TaskEvent` (one ``AsyncTaskEvent``, spec
§9.3) and the packed form of a task's events: 9 bytes per event (status code, timestamp)
in :attr:`fcemu.models.Task.event_log`, with the few events' details in a dict by index.
:class:`EventRecorder` is the mixin :class:`~fcemu.models.Task` records its events with
(the task life cycle's hot path: no :class:`TaskEvent` made, the first event's bytes
shared between tasks submitted in the same millisecond); :class:`EventLog` reads them
back as :class:`TaskEvent` objects. :mod:`fcemu.models` re-exports the three classes
(their import path), and this module imports nothing of fcemu.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

__all__ = ["EventLog", "EventRecorder", "TaskEvent", "TaskStatus"]


class TaskStatus(str, enum.Enum):
    """``AsyncTask.status`` values (spec §9.2); ``Processed`` is emitted for the dequeued state."""

    ENQUEUED = "Enqueued"
    PROCESSED = "Processed"
    RUNNING = "Running"
    RETRYING = "Retrying"
    STOPPING = "Stopping"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"
    EXPIRED = "Expired"
    INVALID = "Invalid"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def parse(cls, text: str) -> TaskStatus:
        """Read a status filter; ``Dequeued`` is accepted for ``Processed`` (decisions.md)."""
        if text == "Dequeued":
            return cls.PROCESSED
        for status in cls:
            if status.value == text:
                return status
        raise ValueError(text)


_TERMINAL = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.STOPPED, TaskStatus.EXPIRED,
     TaskStatus.INVALID}
)


@dataclass(slots=True)
class TaskEvent:
    """One ``AsyncTaskEvent``: a status change (spec §9.3)."""

    event_id: int
    status: TaskStatus
    timestamp: int
    detail: str = ""


_EVENT = struct.Struct("<Bq")  # one packed event: status code, timestamp (ms)
_TWO_EVENTS = struct.Struct("<BqBq")  # two of them
_STATUSES = tuple(TaskStatus)
_STATUS_CODE = {status: code for code, status in enumerate(_STATUSES)}
#: The last first event packed: the next task's, when equal, is this same bytes object, so
#: a burst of waiting tasks holds no log of its own (it would be freed on the next event,
#: leaving holes between retained records in the allocator's pools).
_FIRST_EVENT = [b""]


class EventRecorder:
    """Recording a task's status changes in its packed log: the methods of
    :class:`fcemu.models.Task` (which owns the two fields declared below) that append to
    it. Slotted with no slots of its own, so a task keeps no ``__dict__``."""

    if not TYPE_CHECKING:  # hidden from mypy, whose __slots__ check would not see the
        __slots__ = ()  # fields (slots) that Task declares for the two below

    #: Its status changes, packed: 9 bytes per event (status code, timestamp).
    event_log: bytes
    #: Event details by event index, for the few events that have one (None: none).
    event_details: dict[int, str] | None

    @property
    def events(self) -> EventLog:
        """Its ``AsyncTaskEvent`` list (spec §9.3), oldest first: a read-only view."""
        return EventLog(self)

    def add_event(self, status: TaskStatus, timestamp: int, detail: str = "") -> TaskEvent:
        """Record a status change (it does not set the task's ``status``)."""
        return TaskEvent(self.record_event(status, timestamp, detail), status, timestamp,
                         detail)

    def record_event(self, status: TaskStatus, timestamp: int, detail: str = "") -> int:
        """:meth:`add_event` without the :class:`TaskEvent`: the new event's ``event_id``
        (the task life cycle's, when nobody reads the event object: issue 13)."""
        index = len(self.event_log) // _EVENT.size
        packed = _EVENT.pack(_STATUS_CODE[status], timestamp)
        if not index:  # tasks submitted in the same ms share their first log (issue 13)
            if packed == _FIRST_EVENT[0]:
                packed = _FIRST_EVENT[0]
            else:
                _FIRST_EVENT[0] = packed
        self.event_log += packed  # b"" + packed is packed itself
        if detail:
            if self.event_details is None:
                self.event_details = {}
            self.event_details[index] = detail
        return index + 1

    def record_events(self, first: TaskStatus, then: TaskStatus, timestamp: int,
                      detail: str = "") -> int:
        """:meth:`record_event` of ``first`` (no detail), then of ``then`` with ``detail``,
        both at ``timestamp``: the second's ``event_id`` (an attempt's Processed and
        Running, packed at once: issue 13)."""
        index = len(self.event_log) // _EVENT.size
        if not index:  # the first event's log may be shared: record_event's way
            self.record_event(first, timestamp)
            return self.record_event(then, timestamp, detail)
        self.event_log += _TWO_EVENTS.pack(_STATUS_CODE[first], timestamp,
                                           _STATUS_CODE[then], timestamp)
        if detail:
            if self.event_details is None:
                self.event_details = {}
            self.event_details[index + 1] = detail
        return index + 2

    def note_event(self, status: TaskStatus, timestamp: int) -> None:
        """:meth:`add_event` with no detail, making no :class:`TaskEvent` (a submit's first
        event: issue 13)."""
        packed = _EVENT.pack(_STATUS_CODE[status], timestamp)
        if not self.event_log:  # shared, as add_event shares a first event
            if packed == _FIRST_EVENT[0]:
                packed = _FIRST_EVENT[0]
            else:
                _FIRST_EVENT[0] = packed
        self.event_log += packed

    def set_event_detail(self, index: int, detail: str) -> None:
        """Replace the ``eventDetail`` of event ``index`` (0: the first)."""
        if self.event_details is None:
            self.event_details = {}
        self.event_details[index] = detail


class EventLog(Sequence[TaskEvent]):
    """A task's events, read from its packed :attr:`~fcemu.models.Task.event_log`."""

    __slots__ = ("_task",)

    def __init__(self, task: EventRecorder) -> None:
        self._task = task

    def __len__(self) -> int:
        return len(self._task.event_log) // _EVENT.size

    @overload
    def __getitem__(self, index: int) -> TaskEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[TaskEvent]: ...

    def __getitem__(self, index: int | slice) -> TaskEvent | list[TaskEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"task event {index} of {n}")
        code, timestamp = _EVENT.unpack_from(self._task.event_log, i * _EVENT.size)
        details = self._task.event_details
        return TaskEvent(i + 1, _STATUSES[code], timestamp, details.get(i, "") if details else "")

    def append(self, event: TaskEvent) -> None:
        """Record ``event`` as the next one (its ``event_id`` is the next number)."""
        self._task.add_event(event.status, event.timestamp, event.detail)

    def __eq__(self, other: object) -> bool:
        return list(self) == (list(other) if isinstance(other, EventLog) else other)

    def __repr__(self) -> str:
        return repr(list(self))
