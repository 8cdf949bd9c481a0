"""When waiting tasks wake up, and how long records are kept.

A mixin of :class:`fcemu.tasks.AsyncTasks` (which owns the state declared below): each
waiting task's wake-up is an entry of the scheduler's that allocates no object of its own
(a burst of waiting tasks shares one heap entry, :mod:`fcemu.timers`); tasks of a disabled
function are parked until it is enabled again (or they end); one housekeeping timer
forgets each record 7 days after its submission (spec: task records are kept 7 days), and
then tells :attr:`swept` (the engine's EventBridge log expires with the records).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from fcemu.models import TASK_RETENTION_MS, Task
from fcemu.taskindex import Partition
from fcemu.tasks.records import MASK, TaskRecords, Waiting

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.scheduler import Scheduler, Timer


class Waits:
    """Wake-ups, parking and retention (see the module docstring)."""

    _clock: Clock
    _scheduler: Scheduler
    by_function: dict[str, TaskRecords]
    _waits: Waiting
    _paused: dict[str, dict[str, Task]]
    _retained: deque[Task]
    _retention_timer: Timer | None
    swept: Callable[[], None] | None
    _dispatch: Callable[[Task], object]
    _partition: Callable[[Task], Partition]

    def _wake_at(self, task: Task, due_ms: int, why: str) -> None:
        """Dispatch the task at ``due_ms``: an entry of the scheduler's that allocates no
        object of its own (a burst of waiting tasks shares one heap entry)."""
        self._waits[task] = self._scheduler.call_each_at(due_ms, self._dispatch, task,
                                                         label=wake_label(why))

    def _unwait(self, task: Task) -> None:
        """Forget the task's pending wake-up, if any."""
        shards, at = self._waits.shards, hash(task) & MASK  # Waiting.pop's, inline: a
        waits = shards[at]  # finishing task's call (usually none left: its dispatch took it)
        seq = waits.pop(task, None)
        if seq is not None:
            if not waits:
                shards[at] = {}  # a dict never shrinks: its table would stay burst-sized
            self._scheduler.cancel_entry(seq)

    def _forget(self, task: Task) -> None:
        """Retention: 7 days after submission the record goes; a live task goes when done."""
        records = self.by_function.get(task.function_name)
        if records is not None and task.status.terminal and records.get(task.task_id) is task:
            del records[task.task_id]
            self._partition(task).remove(task)

    def _arm_retention(self) -> None:
        """One housekeeping timer, due when the oldest retained record's 7 days end."""
        self._retention_timer = None
        if self._retained:
            due = self._retained[0].submitted_ms + TASK_RETENTION_MS
            self._retention_timer = self._scheduler.call_at(
                due, self._sweep_retention, name=f"retention {self._retained[0].task_id}",
                kind="housekeeping")

    def _sweep_retention(self) -> None:
        """Forget every record whose 7 days are over (a live one goes when it ends)."""
        cutoff = self._clock.now_ms() - TASK_RETENTION_MS
        retained = self._retained
        while retained and retained[0].submitted_ms <= cutoff:
            self._forget(retained.popleft())
        self._arm_retention()
        if self.swept is not None:
            self.swept()

    def _pause(self, task: Task, now: int) -> None:
        """Park a task of a disabled function until :meth:`resume`; it keeps ageing, so it
        is dispatched again (and expires) when its max age runs out meanwhile."""
        self._paused.setdefault(task.function_name, {})[task.task_id] = task
        expiry = task.submitted_ms + task.max_age_s * 1000 + 1
        if expiry > now:
            self._wake_at(task, expiry, "disabled")

    def _unpark(self, task: Task) -> None:
        """Forget a parked task: it woke up, or it ended (stopped, expired, invalid) while
        its function was disabled; a function with none left goes from :attr:`_paused`."""
        parked = self._paused.get(task.function_name)
        if parked is not None and parked.pop(task.task_id, None) is not None and not parked:
            del self._paused[task.function_name]

    def resume(self, function_name: str) -> None:
        """EnableFunctionInvocation: the function's waiting tasks are dispatched now."""
        now = self._clock.now_ms()
        for task in self._paused.pop(function_name, {}).values():
            self._unwait(task)
            if not task.status.terminal:
                self._wake_at(task, now, "enabled")


class _WakeLabel:
    """Why a task waits (``start``, ``retry``, ...): one shared object per reason; its
    :meth:`name`, called with the task, is the name of its timer (made only when read)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def name(self, task: Task) -> str:
        return f"task {task.function_name}/{task.task_id} {self.why}"


@functools.cache
def wake_label(why: str) -> Callable[[Task], str]:
    """The one label of each reason (the scheduler shares an entry between equal labels):
    a bound :meth:`_WakeLabel.name`, a plain method call per task that runs (an instance's
    ``__call__`` costs twice as much: issue 13)."""
    return _WakeLabel(why).name


def wake_reason(label: object) -> str:
    """The reason of a :func:`wake_label` (``"wake"`` for another label)."""
    return getattr(getattr(label, "__self__", None), "why", "wake")
