"""The emulator's metrics: FC's async invocation metrics, computed from the task events.

:class:`Metrics` is fed by the engine with every task status change
(:meth:`Metrics.event`) and every throttle (:meth:`Metrics.throttled`), O(1) each:
it bumps counters and appends to the current one-minute bucket of emulator
time, nothing more. Reading (:meth:`Metrics.snapshot`) does the sums and the
percentiles, over the last hour of emulator time.

The metrics follow FC's function-level async metrics
(https://www.alibabacloud.com/help/en/functioncompute/fc/monitoring-metrics-1):
events enqueued (``FunctionEnqueueCount``, "async events triggered") and dequeued
(``FunctionDequeueCount``), the async latency from enqueue to the first start and
to the end (``FunctionAsyncMessageLatency*``, here as p50/p99), the backlog
(``FunctionAsyncMessagesBacklogV2``) and the events in process
(``FunctionAsyncMessagesInProcess``), throttles, destination outcomes
(``FunctionDestinationSucceeded`` / ``FunctionDestinationErrors``), and the
tasks by terminal status (the task-mode "Async Invocation Status").

A restored state (snapshot restore, durable restart) gets fresh metrics, told once of
the tasks loaded (:meth:`Metrics.loaded`): the live ones count as enqueued and make the
gauges; nothing is added to the per-event path for it.

:func:`fcemu.prometheus.prometheus_text` writes a snapshot in the Prometheus text format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fcemu.models import Task, TaskEvent, TaskStatus

__all__ = ["BUCKET_MS", "WINDOW_MS", "Metrics"]

#: One point of a chart: a minute of emulator time.
BUCKET_MS = 60_000
#: What the charts and the percentiles cover: the last hour of emulator time.
WINDOW_MS = 3_600_000

S = TaskStatus
_WAITING = frozenset({S.ENQUEUED, S.RETRYING})
_IN_PROCESS = frozenset({S.PROCESSED, S.RUNNING, S.STOPPING})
#: Globals: an enum member read off its class runs EnumType's __getattr__ hook in Python
#: 3.11 (1-2k instructions a read; a global is a dict hit).
_ENQUEUED, _RUNNING, _STOPPING = S.ENQUEUED, S.RUNNING, S.STOPPING
#: The terminal statuses, in the order the console and the exposition list them.
TERMINAL = ("Succeeded", "Failed", "Stopped", "Expired", "Invalid")

Key = tuple[str, str]


@dataclass
class _Counters:
    """The totals of one (function, qualifier) since the engine started or was reset."""

    enqueued: int = 0
    dequeued: int = 0
    throttles: int = 0
    backlog: int = 0
    in_process: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    destinations: dict[str, int] = field(default_factory=dict)
    start_latency_sum_ms: int = 0
    start_latency_count: int = 0
    end_latency_sum_ms: int = 0
    end_latency_count: int = 0


@dataclass
class _Bucket:
    """One minute of emulator time, every function together and per function."""

    start_ms: int
    enqueued: dict[Key, int] = field(default_factory=dict)
    throttles: dict[Key, int] = field(default_factory=dict)
    by_status: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: Latencies as histograms, ``{milliseconds: tasks}``: exact percentiles in memory
    #: that grows with the distinct latencies of the minute, not with its tasks (issue 13).
    start_latency: dict[Key, dict[int, int]] = field(default_factory=dict)
    end_latency: dict[Key, dict[int, int]] = field(default_factory=dict)
    backlog_max: int = 0
    instances_max: int = 0


class Instances(Protocol):
    """What keeps the count of handler instances alive now (the runtimes' pool)."""
    @property
    def live(self) -> int: ...


class Metrics:
    """Counters and one-minute buckets, fed by the engine (see the module docstring).

    :param now_ms: the emulator clock.
    :param instances: its ``live`` (an attribute: issue 13) is sampled into each bucket.
    """

    def __init__(self, now_ms: Callable[[], int], instances: Instances) -> None:
        self._now_ms = now_ms
        self._instances = instances
        self._counters: dict[Key, _Counters] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._last_bucket: _Bucket | None = None  # the one :meth:`_bucket` gave last
        #: The last (function name, qualifier, key, counters) that :meth:`enqueued` or
        #: :meth:`changed` looked up (counters are never dropped: a reset makes new metrics).
        self._last_key: tuple[str, str, Key, _Counters] | None = None
        self._backlog_total = 0

    # -- feeding (O(1) per call) -----------------------------------------------------

    def event(self, task: Task, event: TaskEvent, previous: TaskStatus) -> None:
        """A task's status changed to ``event.status`` from ``previous`` (for its first
        event, the status a new task starts with)."""
        self.changed(task, event.event_id, event.status, event.timestamp, event.detail,
                     previous)

    def changed(self, task: Task, event_id: int, status: TaskStatus, at: int, detail: str,
                previous: TaskStatus) -> None:
        """:meth:`event`, given the event's fields (``event_id``, ``status``, ``timestamp``
        and ``detail``, which counts for nothing) instead of a :class:`TaskEvent`: the task
        life cycle makes none while no event listener is registered (issue 13). The last
        call's key and counters are kept, as :meth:`enqueued` keeps them."""
        name, qualifier, last = task.function_name, task.qualifier, self._last_key
        if last is not None and last[0] is name and last[1] is qualifier:
            key, counters = last[2], last[3]
        else:
            key, counters = self._look_up(name, qualifier)
        bucket = self._last_bucket  # most events: the newest bucket (_bucket's check, inline)
        if bucket is None or bucket.start_ms != at - at % BUCKET_MS:
            bucket = self._bucket(at)
        if event_id > 1:  # it leaves the group it was in
            if previous in _WAITING:
                if self._backlog_total > bucket.backlog_max:  # the level it leaves
                    bucket.backlog_max = self._backlog_total
                counters.backlog -= 1
                self._backlog_total -= 1
            elif previous in _IN_PROCESS:
                counters.in_process -= 1
        if status in _WAITING:
            counters.backlog += 1
            self._backlog_total += 1
            if self._backlog_total > bucket.backlog_max:
                bucket.backlog_max = self._backlog_total
            if status is _ENQUEUED:
                counters.enqueued += 1
                enqueued = bucket.enqueued
                enqueued[key] = enqueued.get(key, 0) + 1
            return
        if status in _IN_PROCESS:
            counters.in_process += 1
            if status is _RUNNING and not task.attempts:  # the first start
                counters.dequeued += 1
                latency = at - task.submitted_ms
                counters.start_latency_sum_ms += latency
                counters.start_latency_count += 1
                starts = bucket.start_latency.get(key)
                if starts is None:
                    starts = bucket.start_latency[key] = {}
                starts[latency] = starts.get(latency, 0) + 1
            return
        value = status._value_  # not .value: an enum property costs a call (issue 13)
        counts = counters.by_status  # the counts inline: no call each (issue 13)
        counts[value] = counts.get(value, 0) + 1
        by_status, status_key = bucket.by_status, (*key, value)
        by_status[status_key] = by_status.get(status_key, 0) + 1
        latency = at - task.submitted_ms
        counters.end_latency_sum_ms += latency
        counters.end_latency_count += 1
        ends = bucket.end_latency.get(key)
        if ends is None:
            ends = bucket.end_latency[key] = {}
        ends[latency] = ends.get(latency, 0) + 1
        # instances: sampled once a task ends, while the instance it ran on is still alive
        alive = self._instances.live
        if alive > bucket.instances_max:
            bucket.instances_max = alive

    def started(self, task: Task, event_id: int, at: int) -> None:
        """:meth:`changed` for Processed (from Enqueued, ``event_id - 1``) and then
        Running (``event_id``), both at ``at``, in one call (issue 13: an attempt's start
        while no event listener is registered): the same counts."""
        name, qualifier, last = task.function_name, task.qualifier, self._last_key
        if last is not None and last[0] is name and last[1] is qualifier:
            key, counters = last[2], last[3]
        else:
            key, counters = self._look_up(name, qualifier)
        bucket = self._last_bucket
        if bucket is None or bucket.start_ms != at - at % BUCKET_MS:
            bucket = self._bucket(at)
        if event_id > 2:  # Processed, not a first event: it leaves the backlog
            if self._backlog_total > bucket.backlog_max:  # the level it leaves
                bucket.backlog_max = self._backlog_total
            counters.backlog -= 1
            self._backlog_total -= 1
        counters.in_process += 1  # Processed comes in; Running leaves it and comes in
        if not task.attempts:  # the first start (changed's Running branch, inline)
            counters.dequeued += 1
            latency = at - task.submitted_ms
            counters.start_latency_sum_ms += latency
            counters.start_latency_count += 1
            starts = bucket.start_latency.get(key)
            if starts is None:
                starts = bucket.start_latency[key] = {}
            starts[latency] = starts.get(latency, 0) + 1

    def _look_up(self, name: str, qualifier: str) -> tuple[Key, _Counters]:
        """The key and counters of (``name``, ``qualifier``), made if new, kept as the last
        looked up (:meth:`changed`, :meth:`started` and :meth:`enqueued` try that first)."""
        key = (name, qualifier)
        counters = self._counters.get(key)
        if counters is None:
            counters = self._counters[key] = _Counters()
        self._last_key = (name, qualifier, key, counters)
        return key, counters

    def enqueued(self, task: Task) -> None:
        """A new task's first event: :meth:`event` for Enqueued at its submission time,
        without the event object (issue 13: an async submit's path). The last call's key
        and counters are kept: a burst's tasks are one function's, whose name and
        qualifier are the same string objects (else the lookup, as before)."""
        name, qualifier, last = task.function_name, task.qualifier, self._last_key
        if last is not None and last[0] is name and last[1] is qualifier:
            key, counters = last[2], last[3]
        else:
            key, counters = self._look_up(name, qualifier)
        at = task.submitted_ms
        bucket = self._last_bucket
        if bucket is None or bucket.start_ms != at - at % BUCKET_MS:
            bucket = self._bucket(at)
        counters.backlog += 1
        self._backlog_total += 1
        if self._backlog_total > bucket.backlog_max:
            bucket.backlog_max = self._backlog_total
        counters.enqueued += 1
        enqueued = bucket.enqueued
        enqueued[key] = enqueued.get(key, 0) + 1

    def loaded(self, tasks: Iterable[Task]) -> None:
        """Tasks just loaded into a fresh engine state (a snapshot restore, a durable
        restart), before any of them changes: each live one counts as it stands, in the
        backlog (Enqueued, Retrying) or in process, and as enqueued (and as dequeued once
        it has started), so that the gauges are what the tasks are and no later change
        takes away what was never added (docs/state.md). A terminal task counts for
        nothing: it ended before these metrics began. Once per load, not per event."""
        at = self._now_ms()
        for task in tasks:
            status = task.status
            if status.terminal:
                continue
            _, counters = self._look_up(task.function_name, task.qualifier)
            counters.enqueued += 1
            if status in _WAITING:
                counters.backlog += 1
                self._backlog_total += 1
            else:
                counters.in_process += 1
            if task.attempts or status is _RUNNING or status is _STOPPING:
                counters.dequeued += 1
        bucket = self._bucket(at)
        if self._backlog_total > bucket.backlog_max:
            bucket.backlog_max = self._backlog_total

    def finished(self, task: Task) -> None:
        """A terminal task after its delivery: count its destination's outcome."""
        status = task.destination_status
        if status:
            last = self._last_key  # the counters changed() just looked up, most often
            if last is not None and last[0] is task.function_name and last[1] is task.qualifier:
                counters: _Counters | None = last[3]
            else:
                counters = self._counters.get((task.function_name, task.qualifier))
            if counters is not None:
                destinations = counters.destinations
                destinations[status] = destinations.get(status, 0) + 1

    def throttled(self, function_name: str, qualifier: str) -> None:
        """An attempt (async) or an invocation (sync, 429) refused by a concurrency limit."""
        key, counters = self._look_up(function_name, qualifier)
        counters.throttles += 1
        throttles = self._bucket(self._now_ms()).throttles
        throttles[key] = throttles.get(key, 0) + 1

    def _bucket(self, at_ms: int) -> _Bucket:
        start = at_ms - at_ms % BUCKET_MS
        last = self._last_bucket
        if last is not None and last.start_ms == start:  # most events: the newest bucket
            return last
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _Bucket(start)
            if len(self._buckets) > 2 * WINDOW_MS // BUCKET_MS:  # amortised pruning
                keep = start - WINDOW_MS
                for old in [s for s in self._buckets if s < keep]:
                    del self._buckets[old]
        self._last_bucket = bucket
        return bucket

    # -- reading ---------------------------------------------------------------------

    def snapshot(self, queues: Iterable[tuple[str, dict[str, int]]] = (),
                 instances: dict[str, int] | None = None) -> dict[str, Any]:
        """Every number, as ``emu.metrics()`` and ``GET /_fcemu/metrics?format=json`` show
        them: totals per function and qualifier, the last hour's percentiles, one point a
        minute for the charts, and the gauges handed in (SMQ queue counts, instances)."""
        now = self._now_ms()
        first = now - now % BUCKET_MS - WINDOW_MS + BUCKET_MS
        window = [self._buckets[s] for s in sorted(self._buckets) if s >= first and s <= now]
        functions = []
        for (name, qualifier), c in sorted(self._counters.items()):
            starts = _merged(b.start_latency.get((name, qualifier)) for b in window)
            ends = _merged(b.end_latency.get((name, qualifier)) for b in window)
            functions.append({
                "functionName": name, "qualifier": qualifier,
                "enqueued": c.enqueued, "dequeued": c.dequeued, "throttles": c.throttles,
                "backlog": c.backlog, "inProcess": c.in_process,
                "byStatus": {s: c.by_status.get(s, 0) for s in TERMINAL},
                "destinations": {k: c.destinations.get(k, 0) for k in ("Succeeded", "Failed")},
                "latencyMs": {
                    "start": _latency(starts, c.start_latency_sum_ms, c.start_latency_count),
                    "end": _latency(ends, c.end_latency_sum_ms, c.end_latency_count)},
            })
        series = []
        for b in window:
            starts = _merged(b.start_latency.values())
            ends = _merged(b.end_latency.values())
            statuses = {s: 0 for s in TERMINAL}
            for (_, _, status), n in b.by_status.items():
                statuses[status] += n
            series.append({
                "time": b.start_ms, "enqueued": sum(b.enqueued.values()),
                "throttles": sum(b.throttles.values()), "byStatus": statuses,
                "startP50": _quantile(starts, 0.5), "startP99": _quantile(starts, 0.99),
                "endP50": _quantile(ends, 0.5), "endP99": _quantile(ends, 0.99),
                "backlog": b.backlog_max, "instances": b.instances_max})
        return {"now": now, "windowMs": WINDOW_MS, "bucketMs": BUCKET_MS,
                "functions": functions, "series": series,
                "instances": dict(instances or {}),
                "queues": [{"name": n, **counts} for n, counts in queues]}


def _merged(histograms: Iterable[dict[int, int] | None]) -> dict[int, int]:
    """One histogram (``{value: how many}``) from several."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for value, n in (histogram or {}).items():
            total[value] = total.get(value, 0) + n
    return total


def _latency(window: dict[int, int], total_ms: int, count: int) -> dict[str, Any]:
    return {"p50": _quantile(window, 0.5), "p99": _quantile(window, 0.99),
            "windowCount": sum(window.values()), "count": count, "sumMs": total_ms}


def _quantile(histogram: dict[int, int], q: float) -> int | None:
    """The nearest-rank quantile of a histogram's values (None for no values)."""
    rank = max(1, math.ceil(q * sum(histogram.values())))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None
