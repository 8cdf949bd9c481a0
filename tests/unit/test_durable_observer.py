"""Durable mode's task observer (fcemu.engine.durable._Observer) takes a status change by
its fields, as the engine's observer does (issue 13: no TaskEvent made for it), and tells
the committer of every change: the engine's observer is told exactly what it was told
before, an attempt's two events at once only while it takes them so."""

from __future__ import annotations

from typing import Any

from fcemu.engine.durable import _Observer
from fcemu.models import TaskEvent, TaskStatus

S = TaskStatus


class _Committer:
    def __init__(self) -> None:
        self.changed: list[object] = []

    def task_changed(self, task: object) -> None:
        self.changed.append(task)


class _Fields:
    """An observer that takes changes by their fields (and both starts, unless ``None``)."""

    def __init__(self, both: bool) -> None:
        self.told: list[tuple[Any, ...]] = []
        self.started = self._started if both else None

    def changed(self, *args: Any) -> None:
        self.told.append(("changed", *args))

    def _started(self, *args: Any) -> None:
        self.told.append(("started", *args))

    def event(self, *args: Any) -> None:
        self.told.append(("event", *args))


class _Events:
    """An observer that takes only TaskEvents."""

    def __init__(self) -> None:
        self.told: list[tuple[Any, ...]] = []

    def event(self, *args: Any) -> None:
        self.told.append(("event", *args))


def test_changes_pass_by_their_fields_and_reach_the_committer() -> None:
    task = object()
    for both in (True, False):
        inner, committer = _Fields(both), _Committer()
        observer = _Observer(inner, committer)  # type: ignore[arg-type]
        observer.changed(task, 3, S.SUCCEEDED, 7, "d", S.RUNNING)  # type: ignore[arg-type]
        assert inner.told == [("changed", task, 3, S.SUCCEEDED, 7, "d", S.RUNNING)]
        started = observer.started
        assert (started is not None) is both
        if started is not None:
            started(task, 2, 9)  # type: ignore[arg-type]
            assert inner.told[1:] == [("started", task, 2, 9)]
        assert committer.changed == [task] * (2 if both else 1)


def test_an_observer_of_events_gets_a_task_event() -> None:
    task = object()
    inner, committer = _Events(), _Committer()
    observer = _Observer(inner, committer)  # type: ignore[arg-type]
    assert observer.started is None
    observer.changed(task, 3, S.FAILED, 7, "d", S.RUNNING)  # type: ignore[arg-type]
    assert inner.told == [("event", task, TaskEvent(3, S.FAILED, 7, "d"), S.RUNNING)]
    assert committer.changed == [task]
    none = _Observer(None, committer)  # type: ignore[arg-type]
    none.changed(task, 4, S.FAILED, 8, "", S.RUNNING)  # type: ignore[arg-type]
    assert none.started is None and committer.changed == [task, task]
