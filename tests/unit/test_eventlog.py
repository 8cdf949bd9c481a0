"""A task's packed event log (:mod:`fcemu.eventlog`): a task keeps no ``__dict__`` with
the recording mixin as its base, its events read back as written, and the moved names
are still :mod:`fcemu.models`'."""

from __future__ import annotations

from fcemu import eventlog, models
from fcemu.models import Task, TaskEvent, TaskStatus

S = TaskStatus


def _task() -> Task:
    return Task("t", "r", "f", "arn", "LATEST", b"", 0, 0, 3, 60, None, None)


def test_the_moved_names_are_still_those_of_fcemu_models() -> None:
    assert models.TaskStatus is eventlog.TaskStatus
    assert models.TaskEvent is eventlog.TaskEvent
    assert models.EventLog is eventlog.EventLog


def test_a_task_stays_slotted_with_the_recording_mixin() -> None:
    assert not hasattr(_task(), "__dict__")


def test_events_read_back_as_recorded() -> None:
    task = _task()
    task.note_event(S.ENQUEUED, 5)
    assert task.record_events(S.PROCESSED, S.RUNNING, 6, "go") == 3
    assert task.add_event(S.RETRYING, 7) == TaskEvent(4, S.RETRYING, 7)
    assert task.record_event(S.FAILED, 8, "bad") == 5
    task.set_event_detail(0, "first")
    assert len(task.events) == 5 and task.events[-1] == TaskEvent(5, S.FAILED, 8, "bad")
    assert task.events[:3] == [TaskEvent(1, S.ENQUEUED, 5, "first"),
                               TaskEvent(2, S.PROCESSED, 6), TaskEvent(3, S.RUNNING, 6, "go")]
    task.events.append(TaskEvent(0, S.FAILED, 9))
    assert task.events[5] == TaskEvent(6, S.FAILED, 9)
