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
engine. It runs only on the emulator's loop. Its wake-ups, parking and retention
are :mod:`fcemu.tasks.waits`; its state as rows is :mod:`fcemu.tasks.rows`; its status
changes, their events and its observer are :mod:`fcemu.tasks.events`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import TYPE_CHECKING

from fcemu import gcpolicy, retry_policy
from fcemu.errors import AsyncTaskAlreadyExists, AsyncTaskNotFound, PreconditionFailed
from fcemu.faults import Faults, Step, scripted_detail
from fcemu.models import (
    QUIET_LOG,
    TASK_RETENTION_MS,
    AsyncConfig,
    Attempt,
    Function,
    HttpCall,
    Task,
    TaskStatus,
)
from fcemu.runtime import UNHANDLED, Invocation, Outcome, error_body
from fcemu.runtime.invocation import LOCAL_CREDENTIALS
from fcemu.runtime.logs import framed
from fcemu.taskindex import SEQ_BITS, SEQ_MAX, Partition, append_latest
from fcemu.tasks.events import ChangeObserver, TaskEvents, TaskObserver
from fcemu.tasks.query import TaskQuery, page
from fcemu.tasks.records import MASK, TaskRecords, Waiting
from fcemu.tasks.rows import TaskRows
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
#: A task woken in one of these statuses is not run (ended, or being stopped).
_NOT_RUNNABLE = frozenset({*(s for s in TaskStatus if s.terminal), S.STOPPING})
#: The length of an empty framed log, without its two request IDs.
_QUIET_LEN = len(framed("", ""))

assert framed("r", "") == "FC Invoke Start RequestId: r\nFC Invoke End RequestId: r\n", (
    "fcemu.runtime.logs.framed changed: AsyncTasks._attempt's quiet log too")


#: Runs one attempt: the scripted outcome of a step, else the handler.
Execute = Callable[[Invocation, "Step | None"], Awaitable[Outcome]]
#: The status most attempts end with, as a global (an enum member read off its class runs
#: EnumType's lookup in Python 3.11: a global is a dict hit).
_SUCCEEDED = S.SUCCEEDED


class AsyncTasks(TaskEvents, TaskRows):
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

    # -- the machine ----------------------------------------------------------------

    def _dispatch(self, task: Task) -> object:
        """Before each attempt: gone function, max age, throttling, then run."""
        shards, at = self._waits.shards, hash(task) & MASK  # Waiting.pop's, inline
        waits = shards[at]
        if waits.pop(task, None) is not None and not waits:
            shards[at] = {}  # a dict never shrinks: its table would stay burst-sized
        if self._paused:
            self._paused.get(task.function_name, {}).pop(task.task_id, None)
        if task.status in _NOT_RUNNABLE:
            return None
        function = self._function(task.function_name)
        if function is None or function.function_id != task.function_id:
            task.error_type = "FunctionNotFound"
            self._finish(task, S.INVALID, "")
            return None
        now = self._clock.now_ms()
        # max age, or 5 h of throttling; not throttled and younger than its max age: within
        # its deadline (retry_policy.deadline_ms's), no call
        if (task.throttled_since_ms is not None
                or now > task.submitted_ms + task.max_age_s * 1000):
            ended = retry_policy.give_up(task, now)
            if ended is not None:
                self._finish(task, ended.status, ended.condition, ended.detail)
                return None
        restriction = function.invocation_restriction
        if restriction is not None and restriction.disable:
            self._pause(task, now)  # DisableFunctionInvocation: wait (still ageing)
            return None
        # fcemu.faults: as real as a limit; no call while nothing is scripted (issue 13)
        scripted = self._faults.take_throttle(function.name) if self._scripts else False
        if scripted or not self._slots.acquire(function.name):
            # a throttled attempt does not count; retry with the same backoff (decisions.md)
            task.throttled = True
            task.throttle_count += 1
            if task.throttled_since_ms is None:
                task.throttled_since_ms = now
            task.scripted_throttles += scripted
            if self._observer is not None:
                self._observer.throttled(task.function_name, task.qualifier)
            self._retry_later(task, task.throttle_count, "throttled")
            return None
        task.throttled_since_ms = None
        step = self._faults.take(function.name) if self._scripts else None
        self._start(task, "" if step is None else scripted_detail(step), now)  # Processed,
        return self._attempt(task, function, step, now)  # Running, and the attempt

    async def _attempt(self, task: Task, function: Function, step: Step | None,
                       now: int) -> None:
        """Run an attempt that started at ``now`` (its Running event's time, as a restore
        takes a running task's attempt start: fcemu.tasks.rows)."""
        if now == task.runnable_ms:
            now = task.runnable_ms  # the same int object: one less per retained task
        attempt = Attempt(len(task.attempts) + 1, now, "", 0, "", "", "",  # by position:
                          "" if step is None else step.outcome)  # no keywords' dict
        if task.attempts:
            task.attempts.append(attempt)
        else:  # a list of exactly one (an append to the empty list keeps three spare slots)
            task.attempts = [attempt]
        settings = self._settings  # by position: no keywords' dict
        invocation = Invocation(task.request_id, function, task.payload, task.qualifier,
                                settings.region, settings.account_id, LOCAL_CREDENTIALS,
                                task.http_call)
        try:
            outcome = await self._execute(invocation, step)
        except Exception as exc:  # an emulator bug: recorded for check(), never retried
            self._record_failure(f"task {task.task_id}", exc)
            outcome = Outcome("error", error_body(f"fcemu internal error: {exc!r}"),
                              "InternalError")
        finally:
            self._slots.release(function.name)
        attempt.duration_ms, attempt.instance_id = outcome.duration_ms, outcome.instance_id
        attempt.outcome, attempt.error_type = outcome.kind, outcome.error_type
        logs, rid = outcome.logs, task.request_id
        if (len(logs) == _QUIET_LEN + 2 * len(rid)  # framed(rid, "")'s text, inline
                and logs == f"FC Invoke Start RequestId: {rid}\nFC Invoke End RequestId: {rid}\n"):
            logs = QUIET_LOG  # printed nothing: one shared string, framed when read
        attempt.logs, attempt.max_memory_mb = logs, outcome.max_memory_mb
        if outcome.kind == "ok" and not task.stop_requested and step is None:
            task.return_payload = outcome.body  # _after_attempt's first case, inline
            self._finish(task, _SUCCEEDED, "")
        else:
            self._after_attempt(task, outcome, step)

    def _after_attempt(self, task: Task, outcome: Outcome, step: Step | None = None) -> None:
        if task.stop_requested:
            task.error_body = None if outcome.kind == "ok" else outcome.body
            self._finish(task, S.STOPPED, "InvocationStopped", scripted_detail(step))
        elif outcome.kind == "ok":  # Outcome.ok's, without its property call
            task.return_payload = outcome.body
            self._finish(task, _SUCCEEDED, "", "" if step is None else scripted_detail(step))
        else:
            task.error_body, task.error_type = outcome.body, outcome.error_type or UNHANDLED
            detail = scripted_detail(step, json.dumps({"Error": task.error_type},
                                                      separators=(",", ":")))
            not_retried = retry_policy.NOT_RETRIED.get(task.error_type)
            if not_retried is not None:  # internal error, insufficient resources
                self._finish(task, S.FAILED, not_retried.condition, detail)
            elif task.retried < task.max_retries:
                self._event(task, S.RETRYING, detail)
                self._retry_later(task, len(task.attempts), "retry")
            else:
                self._finish(task, S.FAILED, "InvocationError", detail)

    def _retry_later(self, task: Task, k: int, why: str) -> None:
        """Backoff 0.5 s × 2^(k−1), never past the moment the task is given up
        (:func:`fcemu.retry_policy.next_try_ms`)."""
        due = retry_policy.next_try_ms(task, self._clock.now_ms(), k,
                                       self._settings.retry_base_ms)
        self._wake_at(task, due, why)

    def _finish(self, task: Task, status: TaskStatus, condition: str, detail: str = "") -> None:
        if task in self._waits.shards[hash(task) & MASK]:  # usually none: its dispatch took it
            self._unwait(task)
        task.condition = condition
        task.end_ms = now = self._clock.now_ms()
        self._event(task, status, detail, now)
        self._deliver(task)
        self.finished(task)
        gcpolicy.retained()  # its attempt, events and result message are kept too
        if task.end_ms - task.submitted_ms >= TASK_RETENTION_MS:
            self._forget(task)

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
