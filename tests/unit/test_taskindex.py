"""fcemu.taskindex against a plain filter-and-sort reference: every filter combination,
both orders, several functions and qualifiers, and paging while tasks are added."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.models import Task, TaskStatus
from fcemu.taskindex import (
    MOVES_HELD,
    BadToken,
    Cursor,
    Filters,
    Partition,
    append_latest,
    make_key,
    make_token,
    page,
    read_token,
)

Row = tuple[str, str, int, str, TaskStatus]
STATUSES = [TaskStatus.ENQUEUED, TaskStatus.RUNNING, TaskStatus.SUCCEEDED, TaskStatus.FAILED]


class Book:
    """Partitions plus the records map, as fcemu.tasks keeps them."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, str], Partition] = {}
        self.records: dict[str, dict[str, Task]] = {}
        self.seq = 0

    def add(self, fn: str, qualifier: str, ms: int, task_id: str,
            status: TaskStatus) -> Task | None:
        if task_id in self.records.get(fn, {}):
            return None
        self.seq += 1
        task = Task(task_id=task_id, request_id=task_id, function_name=fn, function_arn="",
                    qualifier=qualifier, payload=b"", submitted_ms=ms, runnable_ms=ms,
                    max_retries=0, max_age_s=1, on_success=None, on_failure=None,
                    status=status, index_key=make_key(ms, self.seq))
        self.records.setdefault(fn, {})[task_id] = task
        part = self.parts.get((fn, qualifier))
        if part is None:
            part = self.parts[(fn, qualifier)] = Partition(fn, qualifier)
        part.add(task)
        return task

    def all_pages(self, f: Filters, between: list[tuple[str, str, int, str]] | None = None
                  ) -> list[Task]:
        seen: list[Task] = []
        cursor: Cursor | None = None
        for _ in range(1000):
            tasks, cursor = page(list(self.parts.values()), f, cursor, self.records)
            assert len(tasks) <= f.limit
            seen += tasks
            if cursor is None:
                return seen
            cursor = read_token(make_token(cursor))  # what travels is the token
            for fn, qualifier, ms, task_id in (between or [])[:3]:
                self.add(fn, qualifier, ms, task_id, TaskStatus.ENQUEUED)
            between = (between or [])[3:]
        raise AssertionError("paging did not end")


def reference(tasks: list[Task], f: Filters) -> list[Task]:
    kept = [t for t in tasks if t.task_id.startswith(f.prefix)
            and (f.status is None or t.status is f.status)
            and (f.started_begin is None or t.submitted_ms >= f.started_begin)
            and (f.started_end is None or t.submitted_ms <= f.started_end)]
    seq = {id(t): t.index_key & ((1 << 40) - 1) for t in kept}
    if f.ascending:
        return sorted(kept, key=lambda t: (t.submitted_ms, t.function_name, seq[id(t)]))
    return sorted(kept, key=lambda t: (-t.submitted_ms, t.function_name, seq[id(t)]))


task_rows = st.lists(st.tuples(st.sampled_from(["f", "g", "h"]), st.sampled_from(["LATEST", "1"]),
                               st.integers(0, 6), st.text("abc", min_size=1, max_size=3),
                               st.sampled_from(STATUSES)), max_size=60)
filters = st.builds(Filters, prefix=st.sampled_from(["", "a", "ab", "c", "bcb"]),
                    status=st.none() | st.sampled_from(STATUSES),
                    started_begin=st.none() | st.integers(0, 6),
                    started_end=st.none() | st.integers(0, 6),
                    ascending=st.booleans(), limit=st.integers(1, 7))


@settings(max_examples=300, deadline=None)
@given(rows=task_rows, f=filters, one=st.booleans())
def test_paging_lists_what_filtering_and_sorting_lists(rows: list[Row], f: Filters,
                                                       one: bool) -> None:
    book = Book()
    tasks = [t for row in rows if (t := book.add(*row)) is not None]
    if one:  # a single (function, qualifier), as GetAsyncTask's ListAsyncTasks reads it
        book.parts = {k: v for k, v in book.parts.items() if k == ("f", "LATEST")}
        tasks = [t for t in tasks if (t.function_name, t.qualifier) == ("f", "LATEST")]
    assert book.all_pages(f) == reference(tasks, f)


@settings(max_examples=200, deadline=None)
@given(rows=task_rows, f=filters, later=st.lists(
    st.tuples(st.sampled_from(["f", "g"]), st.just("LATEST"), st.integers(6, 9),
              st.text("abc", min_size=4, max_size=6)), max_size=20))
def test_tasks_added_while_paging_never_shift_a_page(
        rows: list[Row], f: Filters, later: list[tuple[str, str, int, str]]) -> None:
    """A listing that pages on while newer tasks arrive sees every task that existed when
    it began exactly once, in order; no task twice."""
    book = Book()
    before = [t for row in rows if (t := book.add(*row)) is not None]
    seen = book.all_pages(f, between=later)
    assert len(seen) == len({id(t) for t in seen})
    assert [t for t in seen if any(t is b for b in before)] == reference(before, f)


@settings(max_examples=100, deadline=None)
@given(rows=task_rows, moves=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(STATUSES))),
       f=filters)
def test_status_moves_and_removals_keep_the_indexes_right(
        rows: list[Row], moves: list[tuple[int, TaskStatus]], f: Filters) -> None:
    book = Book()
    tasks = [t for row in rows if (t := book.add(*row)) is not None]
    for i, status in moves:
        if tasks:
            task = tasks[i % len(tasks)]
            old, task.status = task.status, status
            book.parts[(task.function_name, task.qualifier)].moved(task, old)
    for task in tasks[::3]:
        book.parts[(task.function_name, task.qualifier)].remove(task)
        del book.records[task.function_name][task.task_id]
    left = [t for t in tasks if t.task_id in book.records[t.function_name]]
    assert book.all_pages(f) == reference(left, f)


def test_status_changes_held_past_the_limit_and_between_reads_list_right() -> None:
    """Status changes are made in the lists at a read or past MOVES_HELD: a listing by
    status is the same whenever it is read, and a task back in its listed status stays."""
    book = Book()
    tasks = [book.add("f", "LATEST", i // 7, f"t{i:04d}", TaskStatus.ENQUEUED)
             for i in range(MOVES_HELD * 3)]
    part = book.parts[("f", "LATEST")]
    path = [TaskStatus.PROCESSED, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]
    for n, task in enumerate(tasks):
        assert task is not None
        for status in path if n % 5 else [TaskStatus.RUNNING, TaskStatus.ENQUEUED]:
            old, task.status = task.status, status
            part.moved(task, old)
        if n % (2 * MOVES_HELD) == 0:  # a read, then more changes than are held
            for status in STATUSES:
                f = Filters(status=status, limit=50)
                assert book.all_pages(f) == reference([t for t in tasks if t], f)
    for status in [*STATUSES, TaskStatus.PROCESSED]:
        f = Filters(status=status, limit=1000, ascending=True)
        assert book.all_pages(f) == reference([t for t in tasks if t], f)


def test_moves_made_in_bulk_or_one_by_one_list_the_same() -> None:
    """Noted moves are made a status list at a time (issue 13): a list that loses many
    tasks is rebuilt from the rest, one that loses a few discards them, a list gains its
    tasks in one update. Either way every status lists what the reference lists."""
    book = Book()
    tasks = [book.add("f", "LATEST", i // 3, f"t{i:05d}", TaskStatus.ENQUEUED)
             for i in range(4000)]
    part = book.parts[("f", "LATEST")]
    live = [t for t in tasks if t is not None]

    def move(chosen: list[Task], status: TaskStatus) -> None:
        for task in chosen:
            old, task.status = task.status, status
            part.moved(task, old)

    def check() -> None:
        for status in [*STATUSES, TaskStatus.PROCESSED]:
            for ascending in (False, True):
                f = Filters(status=status, limit=5000, ascending=ascending)
                assert book.all_pages(f) == reference(live, f)

    assert part.by_status is None  # made at the first status read
    check()
    move(live[::97], TaskStatus.RUNNING)  # a few out of a big list: discarded one by one
    check()
    move(live[1::2], TaskStatus.SUCCEEDED)  # half of it: rebuilt from the rest
    move(live[::97][::2], TaskStatus.FAILED)
    check()
    move(live[::5], TaskStatus.PROCESSED)  # from several lists into one, some back again
    move(live[::10], TaskStatus.ENQUEUED)
    check()
    for task in live[::7]:
        part.remove(task)
        del book.records["f"][task.task_id]
    live = [t for t in live if t.task_id in book.records["f"]]
    check()


def test_a_sparse_prefix_reads_by_id_and_a_dense_one_walks_the_time_order() -> None:
    book = Book()
    for i in range(400):
        book.add("f", "LATEST", i, f"job-{i:04d}", TaskStatus.SUCCEEDED)
    book.add("f", "LATEST", 5, "rare", TaskStatus.SUCCEEDED)
    dense = Filters(prefix="job-", limit=10)
    assert [t.task_id for t in book.all_pages(dense)][:3] == ["job-0399", "job-0398", "job-0397"]
    tasks, _ = page(list(book.parts.values()), Filters(prefix="ra"), None, book.records)
    assert [t.task_id for t in tasks] == ["rare"]


def test_the_id_list_is_made_at_the_first_prefix_read_and_kept_after() -> None:
    """Issue 13: a partition keeps no ID list until a page is read by prefix; then it is
    made from the tasks and kept through later adds and removals (sparse prefixes read it)."""
    book = Book()
    tasks = [book.add("f", "LATEST", i // 4, f"{'ab'[i % 2]}{i:04d}", TaskStatus.ENQUEUED)
             for i in range(300)]
    part = book.parts[("f", "LATEST")]
    live = [t for t in tasks if t is not None]
    assert part.ids is None

    def check() -> None:
        for prefix in ("a", "b01", "a02", "b0299", "c"):
            f = Filters(prefix=prefix, limit=7)
            assert book.all_pages(f) == reference(live, f)

    check()
    assert part.ids is not None and len(part.ids) == 300
    for i in range(300, 340):
        task = book.add("f", "LATEST", i // 4, f"{'ab'[i % 2]}{i:04d}", TaskStatus.ENQUEUED)
        assert task is not None
        live.append(task)
    for task in live[::9]:
        part.remove(task)
        del book.records["f"][task.task_id]
    live = [t for t in live if t.task_id in book.records["f"]]
    assert sorted(t.task_id for t in live) == list(part.ids)
    check()


def test_tokens_round_trip_and_foreign_tokens_are_refused() -> None:
    cursor = Cursor(1714521600000, "my-fn_1", 42)
    assert read_token(make_token(cursor)) == cursor
    assert read_token("") is None
    for bad in ["garbage", "MSNmY2VtdQ==", make_token(cursor)[:-4], "////"]:
        try:
            read_token(bad)
        except BadToken:
            continue
        raise AssertionError(f"{bad!r} was read")


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.integers(0, 60), max_size=300), load=st.integers(4, 8),
       reads=st.lists(st.integers(0, 299), max_size=5))
def test_append_latest_leaves_the_list_as_add_does(
        keys: list[int], load: int, reads: list[int]) -> None:
    """The submit's in-place append (keys mostly in order, some not, sublists that split,
    a positional index built by reads in between) gives the list's every internal field as
    ``SortedKeyList.add`` does."""
    from sortedcontainers import SortedKeyList  # type: ignore[import-untyped]

    def task(i: int, key: int) -> Task:
        return Task(f"t{i}", f"t{i}", "f", "", "LATEST", b"", 0, 0, 0, 1, None, None,
                    index_key=key)

    by_add = SortedKeyList(key=lambda t: t.index_key)
    by_append = SortedKeyList(key=lambda t: t.index_key)
    by_add._reset(load)
    by_append._reset(load)
    running = 0
    for i, k in enumerate(keys):
        running = running + k if k < 50 else max(0, running - k)  # back in time at times
        t = task(i, running)
        by_add.add(t)
        append_latest(by_append, t)
        if i in reads:  # a positional read builds the index that an append must keep
            assert by_add[i // 2] is by_append[i // 2]
        assert (by_append._lists, by_append._keys, by_append._maxes, by_append._index,
                by_append._len) == (by_add._lists, by_add._keys, by_add._maxes,
                                    by_add._index, by_add._len)
    by_append._check()
