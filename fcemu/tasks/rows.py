"""Every retained task as plain data, and back: snapshots and the durable store.

A mixin of :class:`fcemu.tasks.AsyncTasks` (which owns the state declared below). Each
task is a row ``(state, timer or None, paused)``: its record as plain values
(:mod:`fcemu.taskstate`), its pending wake-up as data (due time, order, reason) and
whether it waits for its function to be enabled. Loading rebuilds the records, the
ordered indexes, retention and the wake-ups in the order they had, and tells the
observer of the tasks loaded (``loaded``, when it has one: the metrics' gauges); a task
captured Running lost its attempt, which counts as an instance crash. Loading is the hot path of
a snapshot restore (issue 17: 1000 tasks in a few milliseconds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from heapq import merge
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from fcemu import gcpolicy
from fcemu.models import TASK_RETENTION_MS, Attempt, Task, TaskStatus
from fcemu.runtime import Outcome, crash_outcome
from fcemu.tasks.records import TaskRecords
from fcemu.tasks.waits import Waits, wake_label, wake_reason
from fcemu.taskstate import task_to_state, tasks_from_states

if TYPE_CHECKING:
    from fcemu.faults import Step
    from fcemu.tasks.events import TaskObserver

S = TaskStatus
_INDEX_KEY = attrgetter("index_key")
_DUE_THEN_ORDER = itemgetter(1, 0)
_DUE_AND_WHY = itemgetter(1, 2)
_STATE = itemgetter(0)


class TaskRows(Waits):
    """A task state as rows, and loading them (see the module docstring); the state it
    reads besides what :class:`~fcemu.tasks.waits.Waits` declares is below."""

    _seq: int
    _observer: TaskObserver | None
    _after_attempt: Callable[[Task, Outcome, Step | None], None]

    def to_state(self) -> dict[str, Any]:
        """Every retained task as plain data (:mod:`fcemu.taskstate`), with its pending
        timer as data (due time, order, reason) and whether it waits for its function to
        be enabled (:meth:`row`). :meth:`load_state` puts it back; no callback is
        captured."""
        row = self.row
        return {"seq": self._seq,
                "tasks": [row(t) for records in self.by_function.values()
                          for t in records.values()]}

    def row(self, task: Task) -> tuple[Any, Any, bool]:
        """One task as :meth:`to_state` lists it: ``(state, timer or None, paused)``."""
        seq = self._waits.get(task)
        entry = None if seq is None else self._scheduler.entry(seq)
        wake = None if entry is None else (entry[0], seq, wake_reason(entry[1]))
        paused = task.task_id in self._paused.get(task.function_name, ())
        return task_to_state(task), wake, paused

    @property
    def seq(self) -> int:
        """Submissions counted so far (the ListAsyncTasks order's counter)."""
        return self._seq

    def load_state(self, state: dict[str, Any]) -> None:
        """Load :meth:`to_state`'s data into this empty instance: records, indexes,
        retention, and each waiting task's timer rebuilt from its data, in the order the
        timers had. A task captured Running (or Stopping) had its attempt cut short: the
        attempt ends as an instance crash (FC's "Process exited unexpectedly ...") and
        the task follows its retry policy (a Stopping one ends Stopped)."""
        self._seq = int(state["seq"])
        wakes: list[tuple[int, int, str, Task]] = []
        cut: list[Task] = []
        groups: dict[tuple[str, str], list[Task]] = {}
        by_function, cut_short = self.by_function, (S.RUNNING, S.STOPPING)
        name: str | None = None  # the last row's (rows come function by function)
        qualifier: str | None = None
        records = TaskRecords()
        group: list[Task] = []
        rows = state["tasks"]
        tasks = tasks_from_states(list(map(_STATE, rows)))  # the hot part of a restore
        for task, (_, wake, paused) in zip(tasks, rows, strict=True):
            if task.function_name != name or task.qualifier != qualifier:
                name, qualifier = task.function_name, task.qualifier
                found = by_function.get(name)
                if found is None:
                    found = by_function[name] = TaskRecords()
                records = found
                group = groups.setdefault((name, qualifier), [])
            records[task.task_id] = task
            group.append(task)
            if paused:
                self._paused.setdefault(name, {})[task.task_id] = task
            if wake is not None:
                wakes.append((wake[1], wake[0], wake[2], task))
            if task.status in cut_short:
                cut.append(task)
        parts: list[Iterable[Task]] = []
        for group in groups.values():
            part = self._partition(group[0])
            part.add_many(group)
            parts.append(part.by_time)
        # retention's order is the index order: the partitions' own, merged
        retained = deque(parts[0] if len(parts) == 1 else merge(*parts, key=_INDEX_KEY))
        cutoff = self._clock.now_ms() - TASK_RETENTION_MS
        while retained and retained[0].submitted_ms <= cutoff:
            retained.popleft()
        self._retained = retained
        wakes.sort(key=_DUE_THEN_ORDER)  # the timers' order (a run of entries per due time)
        for (due, why), alike in groupby(wakes, key=_DUE_AND_WHY):  # _wake_at's, at once
            waiting = [wake[3] for wake in alike]
            seqs = self._scheduler.call_each_at_all(due, self._dispatch, waiting,
                                                    label=wake_label(why))
            self._waits.update(zip(waiting, seqs, strict=True))
        self._arm_retention()
        gcpolicy.retained(len(state["tasks"]))
        loaded = getattr(self._observer, "loaded", None)  # LoadObserver: the metrics'
        if loaded is not None:  # gauges start from these tasks, before any changes
            loaded(tasks)
        for task in cut:
            self._cut_short(task)

    def _cut_short(self, task: Task) -> None:
        """A running attempt that the emulator lost (restored state, restart after a
        crash): it counts as an instance crash."""
        now = self._clock.now_ms()
        if not task.attempts or task.attempts[-1].outcome:  # its start was not recorded
            running = [e.timestamp for e in task.events if e.status is S.RUNNING]
            task.attempts.append(Attempt(number=len(task.attempts) + 1,
                                         started_ms=running[-1] if running else now))
        attempt = task.attempts[-1]
        outcome = crash_outcome(max(0, now - attempt.started_ms), 0)
        attempt.duration_ms, attempt.outcome = outcome.duration_ms, outcome.kind
        attempt.error_type = outcome.error_type
        self._after_attempt(task, outcome, None)
