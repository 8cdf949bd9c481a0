"""The EventBridge log: what each EventBridge bus destination received.

EventBridge is not emulated (decisions.md "Destinations"): a result message sent to a
bus destination is recorded here instead, for inspection (``engine.eventbus_log``,
``GET /_fcemu/eventbus``, ``emu.eventbus()``). Each entry is the bus, the destination
ARN, the delivery time, the task it came from (function, qualifier, task ID) and the
result message itself (``data``); ``expireTime`` is when the task's record expires (7
days after its submission: the task records' retention), and the entry goes with it.
The engine expires the log with each sweep of the task records' retention (the entry
of a task goes in the same timer as its record), and each operation of the log brings
it to the clock first, as an SMQ queue does (O(1) while nothing is due): a long-running
server keeps only what its task records keep, and so do its snapshots and its durable
store (the engine's records are written again when entries go).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fcemu.models import TASK_RETENTION_MS, Task

__all__ = ["EventBusLog"]


def _expiry(entry: dict[str, Any]) -> int:
    """When an entry goes (one saved before entries had ``expireTime``: 7 days after its
    delivery)."""
    expires = entry.get("expireTime")
    return int(expires) if expires is not None else int(entry["timestamp"]) + TASK_RETENTION_MS


class EventBusLog(list[dict[str, Any]]):
    """The entries in delivery order (a list: the engine's ``eventbus_log``), expired
    lazily (see the module docstring)."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        super().__init__()
        self._now_ms = now_ms
        #: The earliest ``expireTime`` of the entries (None: not known, work it out).
        self._next_expiry: int | None = None

    def record(self, task: Task, bus: str, arn: str, message: dict[str, Any]) -> None:
        """A result message that bus ``bus`` (destination ``arn``) received now."""
        now = self._now_ms()
        self.expire(now)
        expires = task.submitted_ms + TASK_RETENTION_MS
        self.append({"eventBus": bus, "destination": arn, "timestamp": now,
                     "functionName": task.function_name, "qualifier": task.qualifier,
                     "taskId": task.task_id, "expireTime": expires, "data": message})
        if self._next_expiry is not None and expires < self._next_expiry:
            self._next_expiry = expires

    def load(self, entries: Iterable[dict[str, Any]]) -> None:
        """Entries of a saved state (a snapshot, the durable store), after these; those
        whose time is over go at the next operation."""
        self.extend(entries)
        self._next_expiry = None

    def expire(self, now: int | None = None) -> bool:
        """Drop the entries whose task records have expired by ``now`` (the clock's);
        True when some went."""
        if not self:
            self._next_expiry = None
            return False
        if now is None:
            now = self._now_ms()
        due = self._next_expiry
        if due is None:
            due = self._next_expiry = min(map(_expiry, self))
        if now < due:
            return False
        kept = [entry for entry in self if _expiry(entry) > now]
        self[:] = kept
        self._next_expiry = min(map(_expiry, kept)) if kept else None
        return True

    def select(self, bus: str | None = None, function: str | None = None
               ) -> list[dict[str, Any]]:
        """The live entries, in delivery order: of bus ``bus`` and of the tasks of function
        ``function`` only, when given."""
        self.expire()
        return [entry for entry in self
                if (bus is None or entry["eventBus"] == bus)
                and (function is None or entry.get("functionName") == function)]

    def of_task(self, task: Task) -> dict[str, Any] | None:
        """The entry of ``task``'s delivery (the last, if several), or None."""
        self.expire()
        for entry in reversed(self):
            if entry.get("taskId") == task.task_id and \
                    entry.get("functionName") == task.function_name:
                return entry
            context = entry["data"].get("requestContext") if isinstance(entry.get("data"),
                                                                         dict) else None
            if "taskId" not in entry and isinstance(context, dict) and \
                    context.get("requestId") == task.request_id:
                return entry  # an entry saved before entries named their task
        return None
