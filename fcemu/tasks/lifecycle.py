"""The async task life cycle (DESIGN.md "The task life cycle", decisions.md).

``Enqueued → Processed → Running → Succeeded | Failed | Stopped``, with
``Retrying`` between attempts, ``Stopping`` while a running attempt is being
killed, ``Expired`` when the event outlives its max age before an attempt,
and ``Invalid`` when the function is gone. Every step is a scheduler timer
on the emulator clock; every status change appends an event.

:class:`AsyncTasks` is built from collaborators handed in by the engine (the
clock, the scheduler, the IDs, an ``execute`` callable, the execution
:class:`~fcemu.tasks.slots.Slots`, the scripted outcomes, a function lookup, the
async config resolver, the delivery of results); it never imports or holds the
engine. It runs only on the emulator's loop. This module owns its state, submission,
the queries (a task, ListAsyncTasks pages) and their partitions, StopAsyncTask and a
deleted function's tasks. Each attempt, from its dispatch to its outcome and the retry
or end that follows, is :mod:`fcemu.tasks.attempts`; its wake-ups, parking and retention
are :mod:`fcemu.tasks.waits`; its state as rows is :mod:`fcemu.tasks.rows`; its status
changes, their events and its observer are :mod:`fcemu.tasks.events`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import TYPE_CHECKING

from fcemu import gcpolicy
from fcemu.errors import AsyncTaskAlreadyExists, AsyncTaskNotFound, PreconditionFailed
from fcemu.faults import Faults
from fcemu.models import AsyncConfig, Function, HttpCall, Task, TaskStatus
from fcemu.taskindex import SEQ_BITS, SEQ_MAX, Partition, append_latest
from fcemu.tasks.attempts import Execute, TaskAttempts
from fcemu.tasks.events import ChangeObserver, TaskObserver
from fcemu.tasks.query import TaskQuery, page
from fcemu.tasks.records import MASK, TaskRecords, Waiting
from fcemu.tasks.slots import Slots
from fcemu.tasks.waits import wake_label

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler, Timer
    from fcemu.settings import Settings

S = TaskStatus
_ENQUEUED = TaskStatus.ENQUEUED  # a global: an enum member read off its class costs a
#: Python-level __getattr__ hook in Python 3.11 (EnumType's), 1-2k instructions a read.
_START = wake_label("start")
#: The fields :meth:`AsyncTasks.submit` passes by position, in the dataclass's order.
_NEW_TASK = ("task_id", "request_id", "function_name", "function_arn", "qualifier", "payload",
             "submitted_ms", "runnable_ms", "max_retries", "max_age_s", "on_success",
             "on_failure")
assert tuple(f.name for f in fields(Task))[:len(_NEW_TASK)] == _NEW_TASK, "Task's fields moved"


class AsyncTasks(TaskAttempts):
    """Task records of every function and the state machine that moves them.

    :param execute: runs one attempt (the engine's ``execute``).
    :param stop_execution: kills the execution of a request ID (StopAsyncTask).
    :param function: the deployed function of a name, or None.
    :param async_config: the config a (function, qualifier) uses.
    :param deliver: pushes a terminal task's result to its destination.
    :param finished: told of every task that reached a terminal status.
    :param record_failure: keeps an emulator bug for ``check()``.
    """

    def __init__(self, clock: Clock, scheduler: Scheduler, ids: IdGenerator,
                 settings: Settings, *, execute: Execute,
                 stop_execution: Callable[[str], Awaitable[object]], slots: Slots,
                 faults: Faults, function: Callable[[str], Function | None],
                 async_config: Callable[[str, str], AsyncConfig],
                 deliver: Callable[[Task], None], finished: Callable[[Task], None],
                 record_failure: Callable[[str, BaseException], None]) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._ids = ids
        self._settings = settings
        self._execute = execute
        self._stop_execution = stop_execution
        self._slots = slots
        self._faults = faults
        #: Its scripts by function name (:attr:`Faults.scripts`): empty, none to take.
        self._scripts = faults.scripts
        self._function = function
        self._async_config = async_config
        self._deliver = deliver
        #: Told of every task that reached a terminal status (the engine rebinds it).
        self.finished = finished
        self._record_failure = record_failure
        #: function name -> task ID -> task, in submission order (sharded: the tail)
        self.by_function: dict[str, TaskRecords] = {}
        #: function name -> qualifier -> its tasks in ListAsyncTasks order (fcemu.taskindex)
        self._parts: dict[str, dict[str, Partition]] = {}
        #: The partition :meth:`_partition` gave last (partitions are never dropped).
        self._last_part: Partition | None = None
        self._seq = 0
        #: The last runnable time given: the next equal one is this same int (issue 13).
        self._runnable = 0
        #: The last submit's time and its task's first event log (Enqueued at that time).
        self._first_ms, self._first_log = -1, b""
        #: Tasks in submission order, for retention: one timer at a time, for the oldest.
        self._retained: deque[Task] = deque()
        self._retention_timer: Timer | None = None
        #: Called after each retention sweep (the engine's: the EventBridge log's entries
        #: go with their tasks' records); None: nothing to tell.
        self.swept: Callable[[], None] | None = None
        gcpolicy.release()  # a new state: the records frozen for the last one are gone
        #: Waiting task -> its wake-up's entry in the scheduler (:meth:`_wake_at`).
        self._waits = Waiting()
        #: Tasks waiting while their function is disabled: function -> task ID -> task.
        self._paused: dict[str, dict[str, Task]] = {}
        self._observer: TaskObserver | None = None
        #: The observer when it takes a change by its fields (:class:`ChangeObserver`).
        self._changes: ChangeObserver | None = None

    # -- submission -----------------------------------------------------------------

    def submit(self, function: Function, qualifier: str, payload: bytes,
               task_id: str | None = None, delay_s: int = 0, request_id: str | None = None,
               http_call: HttpCall | None = None) -> Task:
        """Accept an async invocation: the task is Enqueued and will run at now + delay.

        A caller's ``request_id`` without a ``task_id`` is the task ID too (FC: "If you set
        the request ID but do not set the task ID, the system automatically sets the task
        ID to the request ID"), so a repeated one is a duplicate submission.

        The hot path of an async submit (issue 13): the task is made without keywords (a
        class called with keywords first packs them into a dict), and its first event,
        index key, partition and wake-up are made here, not through the general
        ``_event``, ``_partition`` and ``_wake_at``: the same state, fewer calls."""
        if task_id is None and request_id is not None:
            task_id = request_id
        name = function.name
        config = self._async_config(name, qualifier)
        records = self.by_function.get(name)
        if records is None:
            records = self.by_function[name] = TaskRecords()
        shards = records.shards  # the shard of a task ID picked inline (fcemu.tasks.records)
        if task_id is not None:
            shard = shards[hash(task_id) & MASK]
            if task_id in shard:
                raise AsyncTaskAlreadyExists(task_id)  # spec §6.3: duplicate submission → 409
        now = self._clock.now_ms()
        if task_id is None:
            # decisions.md: a generated task ID doubles as the request ID
            task_id = request_id = self._ids.task_id()
            shard = shards[hash(task_id) & MASK]
        elif request_id is None:
            request_id = self._ids.request_id(now)
        runnable = now
        if delay_s:  # as the last task's int when equal: a burst submitted in one ms with
            runnable = now + delay_s * 1000  # one delay keeps one int, not 48 bytes each
            if runnable == self._runnable:
                runnable = self._runnable
            self._runnable = runnable
        task = Task(task_id, request_id, name, function.arn, qualifier,  # _NEW_TASK's order
                    payload, now, runnable, config.max_async_retry_attempts,
                    config.max_async_event_age_in_seconds, config.on_success,
                    config.on_failure)
        task.function_id = function.function_id
        if http_call is not None:
            task.http_call = http_call
        shard[task_id] = task
        self._seq = seq = self._seq + 1
        task.index_key = (now << SEQ_BITS) | (seq & SEQ_MAX)  # make_key's, inline
        if now == self._first_ms:  # a new task is Enqueued: no index move; the tasks of
            task.event_log = self._first_log  # one ms share their first log (note_event's)
        else:
            task.note_event(_ENQUEUED, now)
            self._first_ms, self._first_log = now, task.event_log
        if self._observer is not None:
            self._observer.enqueued(task)
        last = self._last_part
        if last is None or last.function_name != name or last.qualifier != qualifier:
            last = self._last_part = self._partition_of(task)
        if last.ids is None and last.by_status is None:  # Partition.add's, inline: no ID
            append_latest(last.by_time, task)  # or status list made yet
        else:
            last.add(task)
        self._retained.append(task)
        gcpolicy.retained()
        if self._retention_timer is None:
            self._arm_retention()
        self._waits.shards[hash(task) & MASK][task] = self._scheduler.call_each_at(
            runnable, self._dispatch, task, label=_START)  # _wake_at's
        return task

    # -- queries --------------------------------------------------------------------

    def get(self, function_name: str, task_id: str) -> Task:
        records = self.by_function.get(function_name)
        task = None if records is None else records.get(task_id)
        if task is None:
            raise AsyncTaskNotFound(task_id)
        return task

    def list_all(self, query: TaskQuery, function_name: str | None = None
                 ) -> tuple[list[Task], str]:
        """One page of every function's tasks (or of one function's, every qualifier), with
        the ListAsyncTasks filters and paging. Before sorting by ``startedTime``, tasks are
        in function-name order, then submission order: so equal times (a manual clock)
        list function by function."""
        names = list(self._parts) if function_name is None else [function_name]
        parts = [p for name in names for p in self._parts.get(name, {}).values()]
        return page(parts, query, self.by_function)

    def list(self, function_name: str, qualifier: str, query: TaskQuery) -> tuple[list[Task], str]:
        """One page of a function's tasks, filtered and sorted by ``startedTime``."""
        part = self._parts.get(function_name, {}).get(qualifier)
        return page([] if part is None else [part], query, self.by_function)

    def _partition(self, task: Task) -> Partition:
        last = self._last_part  # a task's events come in a row: its partition, kept
        if (last is not None and last.function_name == task.function_name
                and last.qualifier == task.qualifier):
            return last
        self._last_part = self._partition_of(task)
        return self._last_part

    def _partition_of(self, task: Task) -> Partition:
        parts = self._parts.setdefault(task.function_name, {})
        part = parts.get(task.qualifier)
        if part is None:
            part = parts[task.qualifier] = Partition(task.function_name, task.qualifier)
        return part

    # -- stopping -------------------------------------------------------------------

    def stop(self, task: Task) -> None:
        """StopAsyncTask: a waiting task stops at once; a running one goes through Stopping."""
        if task.status.terminal:
            raise PreconditionFailed(f"async task '{task.task_id}' is already {task.status.value}")
        if task.status is S.STOPPING:
            return
        if task.status is S.RUNNING:
            task.stop_requested = True
            self._event(task, S.STOPPING)
            self._scheduler.spawn(self._stop_execution(task.request_id),
                                  name=f"stop {task.task_id}")
            return
        self._finish(task, S.STOPPED, "InvocationStopped")

    # -- engine hooks ---------------------------------------------------------------

    def close(self) -> None:
        """This state is dropped (reset, restore, shutdown; after the scheduler's close):
        forget the retention timer, whose callback refers back here, so that the records go
        by reference counting at once, not with the cyclic collector's next passes (a
        restore of 1000 tasks left 3000 objects of cyclic garbage: issue 17)."""
        self._retention_timer = None

    def drop_function(self, function_name: str) -> None:
        """DeleteFunction: waiting tasks become Invalid now; running ones finish. Every
        record stays for its retention (docs/fidelity.md): a function created again under
        the name lists them, and their task IDs stay taken."""
        self._paused.pop(function_name, None)
        records = self.by_function.get(function_name)
        for task in [] if records is None else records.tasks():
            if not task.status.terminal and task.status not in (S.RUNNING, S.STOPPING):
                task.error_type = "FunctionNotFound"
                self._finish(task, S.INVALID, "")
