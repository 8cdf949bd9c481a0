"""FC's async retry policy (the error-handling doc, docs/fidelity.md): which failures are
retried, when the next try is due, and how a task ends when its time runs out.

- Function errors (``HandledInvocationError``/``UnhandledInvocationError``: an exception, a
  timeout, a crash) are retried up to ``maxAsyncRetryAttempts`` times, 0.5 s × 2^(k−1) apart.
- A throttled attempt (a function's or the account's concurrency limit) is not counted; it
  is retried with the same doubling backoff for up to :data:`THROTTLE_RETRY_WINDOW_MS`
  (5 hours) from the first throttle of the streak, and never past the event's max age.
- Internal errors and insufficient Function Compute resources are not retried
  (:data:`NOT_RETRIED`): the task fails at once with that error code as its condition.
- When the event's age or the throttle window runs out before the next try, the task ends
  (:func:`give_up`): ``Expired`` only if it never ran ("discarded and not executed"),
  ``Failed``/``FunctionResourceExhausted`` while throttled, else ``Failed`` with its last
  function error (``InvocationError``).

Pure functions of a task and the clock: :mod:`fcemu.tasks` applies them.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from fcemu.models import Task, TaskStatus

#: FC retries a throttled invocation "for up to 5 hours" (error-handling doc).
THROTTLE_RETRY_WINDOW_MS = 5 * 3600 * 1000

#: The FC error code of an internal (system) error: HTTP 500.
INTERNAL_ERROR = "InternalServerError"
#: The FC error code of "insufficient Function Compute resources": HTTP 503.
INSUFFICIENT_RESOURCES = "ResourceThrottled"
#: The condition of a task given up while throttled: HTTP 429.
RESOURCE_EXHAUSTED = "FunctionResourceExhausted"


class NotRetried(NamedTuple):
    """A failure kind FC does not retry: the task's condition and the HTTP status FC gives."""

    condition: str
    status: int


#: Attempt error types (an outcome's ``error_type``) that end a task without a retry.
#: ``InternalError`` is fcemu's own failure (an emulator bug, kept for ``check()``).
NOT_RETRIED: dict[str, NotRetried] = {
    INTERNAL_ERROR: NotRetried(INTERNAL_ERROR, 500),
    "InternalError": NotRetried(INTERNAL_ERROR, 500),
    INSUFFICIENT_RESOURCES: NotRetried(INSUFFICIENT_RESOURCES, 503),
}

#: ``responseContext.statusCode`` of the result message by condition (200 for the others).
CONDITION_STATUS: dict[str, int] = {
    RESOURCE_EXHAUSTED: 429,
    INTERNAL_ERROR: 500,
    INSUFFICIENT_RESOURCES: 503,
}


def backoff_ms(k: int, base_ms: int) -> int:
    """The wait before retry ``k`` (1, 2, …): ``base_ms`` × 2^(k−1)."""
    return base_ms * (1 << min(max(k, 1) - 1, 40))


def deadline_ms(task: Task) -> int:
    """The first moment the task may no longer be tried: past its max age, or past the
    5-hour throttle window while throttled."""
    deadline = task.submitted_ms + task.max_age_s * 1000 + 1
    if task.throttled_since_ms is not None:
        deadline = min(deadline, task.throttled_since_ms + THROTTLE_RETRY_WINDOW_MS)
    return deadline


def next_try_ms(task: Task, now_ms: int, k: int, base_ms: int) -> int:
    """When retry ``k`` is due: after its backoff, but no later than the deadline (where
    the task is given up rather than tried)."""
    return max(now_ms, min(now_ms + backoff_ms(k, base_ms), deadline_ms(task)))


class GiveUp(NamedTuple):
    """How a task whose time ran out ends: status, condition and its last event's detail."""

    status: TaskStatus
    condition: str
    detail: str = ""


def give_up(task: Task, now_ms: int) -> GiveUp | None:
    """How a task whose time has run out ends, or None while it may still be tried.

    A task that ran keeps its last function error: it ends ``Failed`` with the error's
    ``{"Error": ...}`` detail, as after its last retry (``Expired`` is for a task that
    was "discarded and not executed")."""
    if now_ms < deadline_ms(task):
        return None
    if task.throttled_since_ms is not None:
        return GiveUp(TaskStatus.FAILED, RESOURCE_EXHAUSTED)
    if task.attempts:
        detail = json.dumps({"Error": task.error_type}, separators=(",", ":"))
        return GiveUp(TaskStatus.FAILED, "InvocationError", detail)
    return GiveUp(TaskStatus.EXPIRED, "EventMaxAgeExceeded")
