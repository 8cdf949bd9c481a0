"""A function's task records by task ID, kept in fixed shards (issue 13: the submit tail).

One dict of 100k records resizes on one submit: it copies its whole table (3-4 ms at ~44k
and ~87k records, what that submit and every request behind it wait for). The records of
a function are :data:`SHARDS` dicts instead, picked by the task ID's hash: a dict grows
a shard at a time, so no submit copies more than a shard's table (a 64th of it).

A lookup, an insert and a delete touch one shard (``shards[hash(key) & MASK]``, which
the hot paths of a submit and a dispatch pick inline). Iteration
(:meth:`TaskRecords.values`, ``keys``, ``items``) is in submission order: the shards'
records sorted by their submission counter (the ``seq`` of
:attr:`~fcemu.models.Task.index_key`), the order one dict kept them in.

:class:`Waiting` is the same for the waiting tasks' wake-up entries (task -> the seq of
its entry in the scheduler), picked by the task's own hash.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, MutableMapping, ValuesView

from fcemu.models import Task
from fcemu.taskindex import SEQ_MAX

#: Dicts per function (a power of two: a shard is ``hash & (SHARDS - 1)``).
SHARDS = 64
MASK = SHARDS - 1


def _seq(task: Task) -> int:
    return task.index_key & SEQ_MAX


class TaskRecords(MutableMapping[str, Task]):
    """Task ID -> task, for one function, in :data:`SHARDS` dicts (see the module
    docstring). ``shards[hash(task_id) & MASK]`` holds a task ID."""

    __slots__ = ("shards",)

    def __init__(self) -> None:
        self.shards: list[dict[str, Task]] = [{} for _ in range(SHARDS)]

    def __getitem__(self, task_id: str) -> Task:
        return self.shards[hash(task_id) & MASK][task_id]

    def get(self, task_id: str, default: Task | None = None) -> Task | None:  # type: ignore[override]
        return self.shards[hash(task_id) & MASK].get(task_id, default)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.shards[hash(task_id) & MASK]

    def __setitem__(self, task_id: str, task: Task) -> None:
        self.shards[hash(task_id) & MASK][task_id] = task

    def __delitem__(self, task_id: str) -> None:
        del self.shards[hash(task_id) & MASK][task_id]

    def __len__(self) -> int:
        return sum(map(len, self.shards))

    def tasks(self) -> list[Task]:
        """Every task, in submission order."""
        every = [task for shard in self.shards for task in shard.values()]
        every.sort(key=_seq)
        return every

    def __iter__(self) -> Iterator[str]:
        return (task.task_id for task in self.tasks())

    def keys(self) -> KeysView[str]:
        return _Keys(self)

    def values(self) -> ValuesView[Task]:
        return _Values(self)

    def items(self) -> ItemsView[str, Task]:
        return _Items(self)

    def __repr__(self) -> str:
        return f"TaskRecords({len(self)} tasks)"


class _Keys(KeysView[str]):
    _mapping: TaskRecords

    def __iter__(self) -> Iterator[str]:
        return (task.task_id for task in self._mapping.tasks())


class _Values(ValuesView[Task]):
    _mapping: TaskRecords

    def __iter__(self) -> Iterator[Task]:
        return iter(self._mapping.tasks())


class _Items(ItemsView[str, Task]):
    _mapping: TaskRecords

    def __iter__(self) -> Iterator[tuple[str, Task]]:
        return ((task.task_id, task) for task in self._mapping.tasks())


class Waiting:
    """Waiting task -> the seq of its wake-up's entry in the scheduler, in :data:`SHARDS`
    dicts picked by the task's hash (see the module docstring). A shard that empties is
    replaced by a new dict: a dict never shrinks, its table would stay burst-sized."""

    __slots__ = ("shards",)

    def __init__(self) -> None:
        self.shards: list[dict[Task, int]] = [{} for _ in range(SHARDS)]

    def __setitem__(self, task: Task, seq: int) -> None:
        self.shards[hash(task) & MASK][task] = seq

    def get(self, task: Task) -> int | None:
        return self.shards[hash(task) & MASK].get(task)

    def pop(self, task: Task) -> int | None:
        """Forget the task's entry; its seq (None: it had none)."""
        at = hash(task) & MASK
        shard = self.shards[at]
        seq = shard.pop(task, None)
        if seq is not None and not shard:
            self.shards[at] = {}
        return seq

    def update(self, pairs: Iterator[tuple[Task, int]] | zip[tuple[Task, int]]) -> None:
        shards = self.shards
        for task, seq in pairs:
            shards[hash(task) & MASK][task] = seq

    def __len__(self) -> int:
        return sum(map(len, self.shards))
