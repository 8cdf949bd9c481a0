"""Ordered indexes of retained task records, and ListAsyncTasks pages read from them.

Records are partitioned by (function, qualifier). Each partition keeps its tasks in a
sorted list ordered by ``startedTime`` (the submission time), one sorted list per status,
and a sorted list of task IDs for ``prefix`` (from the first read by prefix on). A page
walks the right list from the position the ``nextToken`` names, so a page costs
O(limit + log n) whatever the number of retained tasks (decisions.md "Listing"; issue
13). A ``prefix`` that matches few tasks is read through the ID list and sorted instead,
whichever is cheaper: O(min(k log k, limit * n / k)) for k matching IDs.

Order: ``startedTime`` newest first (or oldest first), ties in submission order; across
functions, ties go function by function in name order. Each task carries an integer
:attr:`~fcemu.models.Task.index_key` ``(startedTime << 40) | seq`` with ``seq`` a counter
of submissions, so the key orders a partition in both directions.

The ``nextToken`` is a position: the (startedTime, function, seq) of the next task to
list, not an offset. Tasks added or removed between pages never shift a page, so a
listing that pages on while tasks are submitted sees every task that existed when it
began at most once.
"""

from __future__ import annotations

import base64
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter

from sortedcontainers import (  # type: ignore[import-untyped]  # no stubs or py.typed
    SortedKeyList,
    SortedList,
)

from fcemu.models import Task, TaskStatus

SEQ_BITS = 40
SEQ_MAX = (1 << SEQ_BITS) - 1
_SEQ_MAX = SEQ_MAX
_KEY = attrgetter("index_key")
_TOKEN_TAG = "fcemu1"
#: Status changes a partition holds before it makes them in its status lists (issue 13):
#: more than a drain has in flight (the scheduler fires 512 at a time), so that a task
#: usually moves once, from Enqueued to where it ends.
MOVES_HELD = 2048
#: A status list that loses at least 1/16 of its tasks at once is rebuilt from the rest
#: (an element walked and kept in C) rather than discarding each (a few Python calls).
_REBUILD_AT = 16


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the order position of the first task it may list."""

    started_ms: int
    function_name: str
    seq: int


class BadToken(ValueError):
    """A ``nextToken`` that this index did not hand out."""


def make_key(started_ms: int, seq: int) -> int:
    return (started_ms << SEQ_BITS) | (seq & _SEQ_MAX)


def key_ms(key: int) -> int:
    return key >> SEQ_BITS


def key_seq(key: int) -> int:
    return key & _SEQ_MAX


def make_token(cursor: Cursor) -> str:
    text = f"{cursor.started_ms}:{cursor.seq}:{cursor.function_name}#{_TOKEN_TAG}"
    return base64.b64encode(text.encode()).decode()


def read_token(token: str) -> Cursor | None:
    """The cursor a token names (None for no token); :class:`BadToken` when it is not one."""
    if not token:
        return None
    try:
        body, tag = base64.b64decode(token, validate=True).decode().rsplit("#", 1)
        started, seq, name = body.split(":", 2)
        if tag != _TOKEN_TAG or not name or int(seq) < 0 or int(seq) > _SEQ_MAX:
            raise BadToken(token)
        return Cursor(int(started), name, int(seq))
    except (ValueError, UnicodeDecodeError):
        raise BadToken(token) from None


def _new_list() -> SortedKeyList:
    return SortedKeyList(key=_KEY)


def append_latest(tasks: SortedKeyList, task: Task) -> None:
    """``tasks.add(task)``, with no search when the task's key is at least every key of
    the list (tasks are submitted in time order: issue 13) and its last sublist has room:
    what ``add`` does then (a bisect finding the end, an append, ``_expand`` with no split
    and no positional index to update), done in place. Else ``add`` itself."""
    key = task.index_key
    keys = tasks._keys
    if (keys and tasks._maxes[-1] <= key and len(keys[-1]) < tasks._load << 1
            and not tasks._index):
        keys[-1].append(key)
        tasks._lists[-1].append(task)
        tasks._maxes[-1] = key
        tasks._len += 1
    else:
        tasks.add(task)


class Partition:
    """The retained tasks of one (function, qualifier), in three kinds of order.

    A status change is noted, not made in the status lists at once: a task stays in the
    list it was in until the next read of a status list (or until :data:`MOVES_HELD`
    changes are noted), so a task that goes Enqueued, Processed, Running, Succeeded
    between two reads moves once, not three times (issue 13). The status lists and the
    ID list are made at their first read (a page by status, by prefix), from the time
    order, and kept from then on: until then a submit inserts its task in one list, and a
    status change notes nothing.
    """

    __slots__ = ("_moving", "by_status", "by_time", "function_name", "ids", "qualifier")

    def __init__(self, function_name: str, qualifier: str) -> None:
        self.function_name = function_name
        self.qualifier = qualifier
        self.by_time = _new_list()
        #: Per status, its tasks in ``index_key`` order; None until the first status read
        #: (:meth:`status_list`).
        self.by_status: dict[TaskStatus, SortedKeyList] | None = None
        #: The task IDs in order, made at the first ``prefix`` read (:meth:`id_list`): a
        #: partition never read by prefix keeps none (issue 13: an insert per submit).
        self.ids: SortedList | None = None
        #: Tasks whose status changed since the last read: the status list each is in.
        self._moving: dict[Task, TaskStatus] = {}

    def add(self, task: Task) -> None:
        append_latest(self.by_time, task)
        if self.ids is not None:
            self.ids.add(task.task_id)
        if self.by_status is not None:
            self._status_list(task.status).add(task)

    def add_many(self, tasks: list[Task]) -> None:
        """Add many tasks at once (a restore): one sort per list, not one insert each."""
        self.by_time.update(tasks)
        if self.ids is not None:
            self.ids.update(t.task_id for t in tasks)
        if self.by_status is None:
            return
        by_status: dict[TaskStatus, list[Task]] = {}
        for task in tasks:
            by_status.setdefault(task.status, []).append(task)
        for status, group in by_status.items():
            self._status_list(status).update(group)

    def remove(self, task: Task) -> None:
        self.by_time.discard(task)
        if self.ids is not None:
            self.ids.discard(task.task_id)
        if self.by_status is not None:
            self._status_list(self._moving.pop(task, task.status)).discard(task)

    def moved(self, task: Task, old: TaskStatus) -> None:
        """``task.status`` changed from ``old``."""
        if old is task.status or self.by_status is None:  # the same, or no lists yet
            return
        moving = self._moving
        listed = moving.get(task)
        if listed is None:
            moving[task] = old
            if len(moving) > MOVES_HELD:
                self._make_moves()
        elif listed is task.status:  # back in the list it is in
            del moving[task]

    def id_list(self) -> SortedList:
        """The task IDs in order (made from the tasks at the first call, kept after)."""
        if self.ids is None:
            self.ids = SortedList(task.task_id for task in self.by_time)
        return self.ids

    def status_list(self, status: TaskStatus) -> SortedKeyList | None:
        """The tasks of one status in ``index_key`` order (None or empty: none has it)."""
        if self.by_status is None:  # the first status read: one list per status, made
            groups: dict[TaskStatus, list[Task]] = {}
            for task in self.by_time:  # in index_key order: each list is made in order
                groups.setdefault(task.status, []).append(task)
            self.by_status = {}
            for listed, tasks in groups.items():
                self._status_list(listed).update(tasks)
        elif self._moving:
            self._make_moves()
        return self.by_status.get(status)

    def _make_moves(self) -> None:
        """Make the noted moves, a status list at a time: a list that loses many of its
        tasks is rebuilt from those it keeps, and a list gains its tasks in one
        ``update`` (one merge when they are many), not one Python-level ``discard`` and
        ``add`` each (issue 13: a drain's moves were a twelfth of its CPU)."""
        moving, self._moving = self._moving, {}
        gone: dict[TaskStatus, list[Task]] = {}
        come: dict[TaskStatus, list[Task]] = {}
        for task, listed in moving.items():
            gone.setdefault(listed, []).append(task)
            come.setdefault(task.status, []).append(task)
        for status, tasks in gone.items():
            listed_in = self._status_list(status)
            if len(tasks) * _REBUILD_AT < len(listed_in):
                for task in tasks:
                    listed_in.discard(task)
            else:  # walking the list once costs less than many discards
                drop = set(tasks)
                kept = [task for task in listed_in if task not in drop]
                listed_in.clear()
                listed_in.update(kept)
        for status, tasks in come.items():
            self._status_list(status).update(tasks)

    def _status_list(self, status: TaskStatus) -> SortedKeyList:
        by_status = self.by_status
        assert by_status is not None  # made
        found = by_status.get(status)
        if found is None:
            found = by_status[status] = _new_list()
        return found

    def __len__(self) -> int:
        return len(self.by_time)


@dataclass(frozen=True)
class Filters:
    """The ListAsyncTasks filters and order a page is read with."""

    prefix: str = ""
    status: TaskStatus | None = None
    started_begin: int | None = None
    started_end: int | None = None
    ascending: bool = False
    limit: int = 20


def _order(task: Task, ascending: bool) -> tuple[int, str, int]:
    ms = key_ms(task.index_key)
    return (ms if ascending else -ms, task.function_name, key_seq(task.index_key))


def _cursor_order(cursor: Cursor, ascending: bool) -> tuple[int, str, int]:
    return (cursor.started_ms if ascending else -cursor.started_ms, cursor.function_name,
            cursor.seq)


def _start(name: str, cursor: Cursor | None, f: Filters) -> tuple[int, int] | None:
    """The (ms, seq) of a partition's first listable position in walk order, or None for
    "from the very start". In a descending walk ``seq`` is where the ``ms`` group starts."""
    bound: tuple[int, int] | None = None
    if f.ascending and f.started_begin is not None:
        bound = (f.started_begin, 0)
    if not f.ascending and f.started_end is not None:
        bound = (f.started_end, 0)
    if cursor is not None:
        ms, seq = cursor.started_ms, cursor.seq
        if name > cursor.function_name:
            seq = 0
        elif name < cursor.function_name:  # this function's tasks at ms come before
            ms, seq = (ms + 1, 0) if f.ascending else (ms, _SEQ_MAX + 1)
        at = (ms, seq)
        if bound is None:
            bound = at
        elif f.ascending:
            bound = max(bound, at)
        else:
            bound = max(bound, at, key=lambda p: (-p[0], p[1]))
    return bound


def _walk(tasks: SortedKeyList, start: tuple[int, int] | None, f: Filters) -> Iterator[Task]:
    """A partition's tasks of one sorted list from ``start``, in ListAsyncTasks order,
    within the time bounds."""
    if f.ascending:
        lo = None if start is None else make_key(*start) if start[1] <= _SEQ_MAX else \
            make_key(start[0] + 1, 0)
        hi = None if f.started_end is None else make_key(f.started_end, _SEQ_MAX)
        yield from tasks.irange_key(lo, hi)
        return
    floor = f.started_begin
    if start is None:
        top = len(tasks)
    else:
        ms, seq = start
        if floor is not None and ms < floor:
            return
        if seq <= _SEQ_MAX:
            yield from tasks.irange_key(make_key(ms, seq), make_key(ms, _SEQ_MAX))
        top = tasks.bisect_key_left(make_key(ms, 0))
    while top > 0:  # groups of one startedTime, newest group first, each in seq order
        ms = key_ms(tasks[top - 1].index_key)
        if floor is not None and ms < floor:
            return
        low = tasks.bisect_key_left(make_key(ms, 0))
        yield from tasks.islice(low, top)
        top = low


def page(partitions: Iterable[Partition], f: Filters, cursor: Cursor | None,
         records: Mapping[str, Mapping[str, Task]]) -> tuple[list[Task], Cursor | None]:
    """One page of the partitions' tasks, and the cursor of the next page (None: last).

    ``records`` maps function name and task ID to the task (for the ``prefix`` path).
    """
    parts = [p for p in partitions if len(p)]
    if f.prefix:
        sparse = _sparse_prefix(parts, f, cursor, records)
        if sparse is not None:
            return _cut(sparse, f.limit)
    walks: list[Iterator[Task]] = []
    for part in parts:
        source = part.by_time if f.status is None else part.status_list(f.status)
        if source:
            walks.append(_walk(source, _start(part.function_name, cursor, f), f))
    merged: Iterator[Task]
    if len(walks) == 1:
        merged = walks[0]
    else:
        merged = heapq.merge(*walks, key=lambda t: _order(t, f.ascending))
    out: list[Task] = []
    prefix = f.prefix
    for task in merged:
        if prefix and not task.task_id.startswith(prefix):
            continue
        out.append(task)
        if len(out) > f.limit:
            break
    return _cut(out, f.limit)


def _cut(tasks: list[Task], limit: int) -> tuple[list[Task], Cursor | None]:
    if len(tasks) <= limit:
        return tasks, None
    nxt = tasks[limit]
    return tasks[:limit], Cursor(key_ms(nxt.index_key), nxt.function_name,
                                 key_seq(nxt.index_key))


def _sparse_prefix(parts: list[Partition], f: Filters, cursor: Cursor | None,
                   records: Mapping[str, Mapping[str, Task]]) -> list[Task] | None:
    """When few IDs start with the prefix, read them by ID and sort them: None when
    walking the time order is cheaper (k matching IDs of n: k * k > limit * n)."""
    hi_prefix = f.prefix + "\U0010ffff"
    spans = [(p, p.id_list().bisect_left(f.prefix), p.id_list().bisect_left(hi_prefix))
             for p in parts]
    k = sum(hi - lo for _, lo, hi in spans)
    n = sum(len(p) for p in parts)
    if k * k > max(f.limit, 1) * n * 4:
        return None
    at = None if cursor is None else _cursor_order(cursor, f.ascending)
    found: list[Task] = []
    for part, lo, hi in spans:
        tasks = records.get(part.function_name, {})
        for task_id in part.id_list().islice(lo, hi):
            task = tasks.get(task_id)
            if task is None or task.qualifier != part.qualifier or not _keep(task, f):
                continue
            if at is not None and _order(task, f.ascending) < at:
                continue
            found.append(task)
    found.sort(key=lambda t: _order(t, f.ascending))
    return found[:f.limit + 1]


def _keep(task: Task, f: Filters) -> bool:
    ms = key_ms(task.index_key)
    return ((f.status is None or task.status is f.status)
            and (f.started_begin is None or ms >= f.started_begin)
            and (f.started_end is None or ms <= f.started_end))
