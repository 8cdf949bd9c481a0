"""Each attempt of an async task: its dispatch, its run, its outcome, and what follows.

A mixin of :class:`fcemu.tasks.AsyncTasks` (which owns the state declared below), built
on the status changes of :mod:`fcemu.tasks.events` and the wake-ups of
:mod:`fcemu.tasks.waits` (through :mod:`fcemu.tasks.rows`). A waking task is dispatched:
it goes Invalid when its function is gone, is given up past its max age (or 5 hours of
throttling, :mod:`fcemu.retry_policy`), is parked while its function is disabled, is
throttled (a scripted throttle or no free slot: retried with the same backoff), or starts
an attempt (Processed, Running) that runs the handler or a scripted outcome
(:mod:`fcemu.faults`). The outcome ends the task (Succeeded, Failed, Stopped) or sends it
Retrying with a backoff; :meth:`TaskAttempts._finish` records the end, delivers the
result and tells the engine. This is the hot path of every task (issue 13): the code is
written for it, with what it reads as globals.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fcemu import gcpolicy, retry_policy
from fcemu.faults import Faults, Step, scripted_detail
from fcemu.models import QUIET_LOG, TASK_RETENTION_MS, Attempt, Function, Task, TaskStatus
from fcemu.runtime import UNHANDLED, Invocation, Outcome, error_body
from fcemu.runtime.invocation import LOCAL_CREDENTIALS
from fcemu.runtime.logs import framed
from fcemu.tasks.events import TaskEvents
from fcemu.tasks.records import MASK
from fcemu.tasks.rows import TaskRows
from fcemu.tasks.slots import Slots

if TYPE_CHECKING:
    from fcemu.settings import Settings

__all__ = ["Execute", "TaskAttempts"]

S = TaskStatus
#: A task woken in one of these statuses is not run (ended, or being stopped).
_NOT_RUNNABLE = frozenset({*(s for s in TaskStatus if s.terminal), S.STOPPING})
#: The length of an empty framed log, without its two request IDs.
_QUIET_LEN = len(framed("", ""))

assert framed("r", "") == "FC Invoke Start RequestId: r\nFC Invoke End RequestId: r\n", (
    "fcemu.runtime.logs.framed changed: TaskAttempts._attempt's quiet log too")


#: Runs one attempt: the scripted outcome of a step, else the handler.
Execute = Callable[[Invocation, "Step | None"], Awaitable[Outcome]]
#: The status most attempts end with, as a global (an enum member read off its class runs
#: EnumType's lookup in Python 3.11: a global is a dict hit).
_SUCCEEDED = S.SUCCEEDED


class TaskAttempts(TaskEvents, TaskRows):
    """The attempts of :class:`~fcemu.tasks.AsyncTasks` (see the module docstring); the
    state it reads besides what its bases declare is below."""

    _settings: Settings
    _execute: Execute
    _slots: Slots
    _faults: Faults
    _scripts: dict[str, deque[Step]]
    _function: Callable[[str], Function | None]
    _deliver: Callable[[Task], None]
    finished: Callable[[Task], None]
    _record_failure: Callable[[str, BaseException], None]

    def _dispatch(self, task: Task) -> object:
        """Before each attempt: gone function, max age, throttling, then run."""
        shards, at = self._waits.shards, hash(task) & MASK  # Waiting.pop's, inline
        waits = shards[at]
        if waits.pop(task, None) is not None and not waits:
            shards[at] = {}  # a dict never shrinks: its table would stay burst-sized
        if self._paused:
            self._unpark(task)
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
        if self._paused:  # stopped while parked (its function disabled): forget it there
            self._unpark(task)
        task.condition = condition
        task.end_ms = now = self._clock.now_ms()
        self._event(task, status, detail, now)
        self._deliver(task)
        self.finished(task)
        gcpolicy.retained()  # its attempt, events and result message are kept too
        if task.end_ms - task.submitted_ms >= TASK_RETENTION_MS:
            self._forget(task)
