"""A task's status changes: the event each appends and who is told of it.

A mixin of :class:`fcemu.tasks.AsyncTasks` (which owns the state declared below). Every
status change moves the task in its partition's status lists (:mod:`fcemu.taskindex`),
appends a packed event to its record (:meth:`fcemu.models.Task.record_event`) and tells
the observer: the engine's metrics and event listeners (:class:`TaskObserver`). An
observer that takes a change by its fields (:class:`ChangeObserver`, the engine's while
no event listener is registered) is told without a :class:`~fcemu.models.TaskEvent`
made for it, and an attempt's Processed and Running are then one call (issue 13).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from fcemu.models import Task, TaskEvent, TaskStatus

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.taskindex import Partition

#: The statuses an attempt's start sets, as globals (an enum member read off its class runs
#: EnumType's lookup in Python 3.11: a global is a dict hit).
_ENQUEUED, _PROCESSED, _RUNNING = TaskStatus.ENQUEUED, TaskStatus.PROCESSED, TaskStatus.RUNNING


class TaskObserver(Protocol):
    """Told of every status change and throttle, on the loop (the engine's metrics and live
    views): must be O(1) and never raise."""

    def event(self, task: Task, event: TaskEvent, previous: TaskStatus) -> None:
        """``event`` was just recorded; ``previous`` is the status before it (for the
        first event, the status a new task starts with)."""

    def enqueued(self, task: Task) -> None:
        """A new task's first event (Enqueued, at its submission) was just recorded:
        :meth:`event`'s, without a :class:`TaskEvent` made for it (issue 13)."""

    def throttled(self, function_name: str, qualifier: str) -> None: ...


class LoadObserver(TaskObserver, Protocol):
    """An observer that is also told of the tasks a state load puts in place (snapshot
    restore, durable restart): once, before a task captured Running is cut short
    (:meth:`fcemu.tasks.AsyncTasks.load_state`). An observer without ``loaded`` is not
    told (the engine's metrics have it: their gauges start from the loaded tasks)."""

    def loaded(self, tasks: list[Task]) -> None: ...


class ChangeObserver(TaskObserver, Protocol):
    """An observer that also takes a status change by the event's fields: when the
    observer has ``changed``, the life cycle calls it instead of :meth:`event` and makes
    no :class:`TaskEvent` (issue 13: the engine's, while no event listener is
    registered)."""

    #: Processed (from Enqueued) then Running, both at ``at``, told at once:
    #: ``started(task, event_id, at)`` with Running's ``event_id``, for an observer that
    #: reads nothing of the task between the two (None: :meth:`changed` twice).
    started: Callable[[Task, int, int], None] | None

    def changed(self, task: Task, event_id: int, status: TaskStatus, at: int, detail: str,
                previous: TaskStatus) -> None:
        """:meth:`event` with ``TaskEvent(event_id, status, at, detail)``."""


class TaskEvents:
    """The status changes of :class:`~fcemu.tasks.AsyncTasks` (see the module docstring)."""

    _clock: Clock
    _last_part: Partition | None
    _partition: Callable[[Task], Partition]
    _observer: TaskObserver | None
    #: The observer when it takes a change by its fields (:class:`ChangeObserver`).
    _changes: ChangeObserver | None

    @property
    def observer(self) -> TaskObserver | None:
        """Told of every event and throttle (set by the engine; None: nobody listens)."""
        return self._observer

    @observer.setter
    def observer(self, observer: TaskObserver | None) -> None:
        self._observer = observer
        self._changes = cast("ChangeObserver", observer) if hasattr(observer, "changed") else None

    def _event(self, task: Task, status: TaskStatus, detail: str = "",
               now: int | None = None) -> None:
        """Move ``task`` to ``status``: its event at ``now`` (None: the clock's now)."""
        if task.scripted_throttles:  # scripted throttles leave no event: name them in the next
            doc = json.loads(detail) if detail else {}
            doc["ScriptedThrottles"] = task.scripted_throttles
            detail, task.scripted_throttles = json.dumps(doc, separators=(",", ":")), 0
        old, task.status = task.status, status
        if task.index_key and old is not status:
            part = self._last_part  # _partition's, inline: a task's events come in a row
            if (part is None or part.function_name != task.function_name
                    or part.qualifier != task.qualifier):
                part = self._partition(task)
            if part.by_status is not None:  # no status lists yet: a move notes nothing
                part.moved(task, old)
        if now is None:
            now = self._clock.now_ms()
        event_id = task.record_event(status, now, detail)
        changes = self._changes
        if changes is not None:  # no TaskEvent made (ChangeObserver)
            changes.changed(task, event_id, status, now, detail, old)
        elif self._observer is not None:
            self._observer.event(task, TaskEvent(event_id, status, now, detail), old)

    def _start(self, task: Task, detail: str, now: int) -> None:
        """An attempt starts at ``now``: Running (``detail`` its event's), after Processed
        when the task is Enqueued. :meth:`_event` once or twice; the two in one go (the same
        events, moves and counts) when the observer takes them at once
        (``ChangeObserver.started``) and the task has no status list to move in."""
        changes = self._changes
        started = None if changes is None else changes.started
        if started is not None and task.status is _ENQUEUED and not task.scripted_throttles:
            part = None
            if task.index_key:
                part = self._last_part  # _partition's, inline (as in _event)
                if (part is None or part.function_name != task.function_name
                        or part.qualifier != task.qualifier):
                    part = self._partition(task)
            if part is None or part.by_status is None:  # no move to note
                task.status = _RUNNING
                started(task, task.record_events(_PROCESSED, _RUNNING, now, detail), now)
                return
        if task.status is _ENQUEUED:
            self._event(task, _PROCESSED, "", now)
        self._event(task, _RUNNING, detail, now)
