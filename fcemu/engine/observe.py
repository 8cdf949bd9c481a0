"""The engine's observation operations: metrics, live task events, and the summaries the
web console shows (queues and topics with their counts, a task's destination message,
what EventBridge bus destinations received).

A mixin of :class:`fcemu.engine.Engine`. :meth:`ObserveOperations._observe_tasks` (called
by the engine's ``_build``, so again after each reset) makes a fresh
:class:`~fcemu.metrics.Metrics` and hands the task life cycle an observer that feeds it
and the event listeners: O(1) per event, nothing at all for the listeners when none is
registered. Event listeners, like the task listeners, are the engine's own and stay
across resets; each is told of a reset too (``event`` None), so that a live view
reloads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.destinations import destination_for, parse_destination
from fcemu.errors import InvalidArgument
from fcemu.metrics import Instances, Metrics
from fcemu.models import TaskEvent
from fcemu.prometheus import prometheus_text

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.engine.control import Runner
    from fcemu.eventbus import EventBusLog
    from fcemu.models import Task, TaskStatus
    from fcemu.smq import Message, Smq
    from fcemu.tasks import AsyncTasks

#: Called with a task and its new event; with ``(None, None)`` after a reset.
EventListener = Callable[["Task | None", "TaskEvent | None"], None]

__all__ = ["EventListener", "ObserveOperations"]


class _Usage:
    """:class:`~fcemu.metrics.Instances` of a runner with no pool: its ``usage()``, if any."""

    def __init__(self, runtimes: object) -> None:
        self._runtimes = runtimes

    @property
    def live(self) -> int:
        usage = getattr(self._runtimes, "usage", None)
        return 0 if usage is None else int(usage().live)


class _Observer:
    """What :class:`~fcemu.tasks.AsyncTasks` tells of each event and throttle."""

    #: A new task's first event (:meth:`listeners_changed` binds it).
    enqueued: Callable[[Task], None]
    #: A status change, given the event's fields (:meth:`listeners_changed` binds it).
    changed: Callable[[Task, int, TaskStatus, int, str, TaskStatus], None]
    #: An attempt's Processed and Running at once: the metrics' while no listener is
    #: registered; None when there is one (each is told of each event with the task's
    #: status at that event).
    started: Callable[[Task, int, int], None] | None

    def __init__(self, metrics: Metrics, listeners: list[EventListener]) -> None:
        self.metrics = metrics
        self.listeners = listeners
        self.listeners_changed()

    def listeners_changed(self) -> None:
        """Bind :attr:`enqueued`, :attr:`changed` and :attr:`started` for the listeners now
        registered: the metrics' own while there is none (an async submit makes one call
        less, a status change one call and no :class:`TaskEvent`, an attempt's start one
        call for two events: issue 13)."""
        if self.listeners:
            self.enqueued, self.changed, self.started = self._enqueued, self._changed, None
        else:
            metrics = self.metrics
            self.enqueued, self.changed, self.started = (metrics.enqueued, metrics.changed,
                                                         metrics.started)

    def event(self, task: Task, event: TaskEvent, previous: TaskStatus) -> None:
        self.metrics.event(task, event, previous)
        for listener in self.listeners:
            listener(task, event)

    def _changed(self, task: Task, event_id: int, status: TaskStatus, at: int, detail: str,
                 previous: TaskStatus) -> None:
        self.event(task, TaskEvent(event_id, status, at, detail), previous)

    def _enqueued(self, task: Task) -> None:
        self.metrics.enqueued(task)
        if self.listeners:
            event = task.events[0]
            for listener in self.listeners:
                listener(task, event)

    def throttled(self, function_name: str, qualifier: str) -> None:
        self.metrics.throttled(function_name, qualifier)

    def loaded(self, tasks: list[Task]) -> None:
        """A state load's tasks (``LoadObserver``): the metrics start from them."""
        self.metrics.loaded(tasks)


class ObserveOperations:
    """Metrics, event listeners and console summaries (see the module docstring)."""

    clock: RealClock | ManualClock
    runtimes: Runner
    tasks: AsyncTasks
    eventbus_log: EventBusLog
    #: The metrics of the current engine state (rebuilt at reset).
    task_metrics: Metrics
    _event_listeners: list[EventListener]
    _task_observer: _Observer  # the current state's (add/remove_event_listener rebind it)

    @property
    def smq(self) -> Smq:
        raise NotImplementedError

    def _observe_tasks(self) -> None:
        """A fresh :class:`Metrics`, fed by the task life cycle (from ``_build``)."""
        if not hasattr(self, "_event_listeners"):
            self._event_listeners = []
        else:  # a reset: live views start over
            for listener in list(self._event_listeners):
                listener(None, None)
        runtimes = self.runtimes
        # a test's fake runner may have no usage(): it has no instances to count. Runtimes'
        # pool is read directly (its kept count: no usage() object, not even a call, for
        # every task that ends: issue 13)
        pool: Any = getattr(runtimes, "pool", None)
        instances: Instances
        if pool is not None and hasattr(pool, "live"):  # a kept count (InstancePool.live)
            instances = pool
        else:
            instances = _Usage(runtimes)
        self.task_metrics = Metrics(self.clock.now_ms, instances)
        self._task_observer = _Observer(self.task_metrics, self._event_listeners)
        self.tasks.observer = self._task_observer

    # -- events -----------------------------------------------------------------------

    def add_event_listener(self, listener: EventListener) -> None:
        """Call ``listener(task, event)`` (on the loop, synchronously: keep it O(1)) with
        every task status change, and ``listener(None, None)`` after each reset."""
        self._event_listeners.append(listener)
        self._task_observer.listeners_changed()

    def remove_event_listener(self, listener: EventListener) -> None:
        if listener in self._event_listeners:
            self._event_listeners.remove(listener)
            self._task_observer.listeners_changed()

    # -- metrics ----------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Every metric (:meth:`fcemu.metrics.Metrics.snapshot`): per function and
        qualifier, the last hour a minute at a time, instances and SMQ queue depths."""
        usage = self.runtimes.usage()
        return self.task_metrics.snapshot(
            queues=[(q.pop("name"), q) for q in self.queue_summaries()],
            instances={"live": usage.live, "peak": usage.peak,
                       "maxInstances": usage.max_instances})

    def metrics_text(self) -> str:
        """:meth:`metrics` in the Prometheus text format."""
        return prometheus_text(self.metrics())

    # -- queues and topics, as the console lists them ---------------------------------

    def queue_summaries(self) -> list[dict[str, Any]]:
        """Every queue by name: ``active`` (visible), ``inactive`` (received, in flight),
        ``delayed`` and ``total`` live messages."""
        queues, _ = self.smq.list_queues(limit=100_000)
        rows = []
        for queue in queues:
            counts = queue.counts()
            active, inactive = counts["ActiveMessages"], counts["InactiveMessages"]
            delayed = counts["DelayMessages"]
            rows.append({"name": queue.name, "active": active, "inactive": inactive,
                         "delayed": delayed, "total": active + inactive + delayed})
        return rows

    def topic_summaries(self) -> list[dict[str, Any]]:
        """Every topic by name: messages published within its retention, subscriptions."""
        topics, _ = self.smq.list_topics(limit=100_000)
        now = self.clock.now_ms()
        return [{"name": t.name, "messages": t.message_count(now),
                 "subscriptions": [{"name": s.name, "endpoint": s.endpoint,
                                    "queue": s.queue_name}
                                   for s in t.subscriptions.values()]}
                for t in topics]

    def send_queue_message(self, name: str, body: str, delay_seconds: int | None = None
                           ) -> Message:
        """SendMessage to an existing queue (SmqError QueueNotExist otherwise)."""
        return self.smq.send_message(name, body, delay_seconds=delay_seconds)

    def publish_topic_message(self, name: str, body: str, tag: str | None = None) -> Message:
        """PublishMessage to an existing topic (SmqError TopicNotExist otherwise)."""
        return self.smq.publish_message(name, body, tag=tag)

    def eventbus_events(self, bus: str | None = None, function: str | None = None
                        ) -> list[dict[str, Any]]:
        """What EventBridge bus destinations received and still keep (an entry goes with
        its task's record, :mod:`fcemu.eventbus`), in delivery order; only bus ``bus``'s
        and only function ``function``'s tasks', when given. Copies."""
        return copy.deepcopy(self.eventbus_log.select(bus, function))

    def task_destination(self, task: Task) -> dict[str, Any] | None:
        """Where a terminal task's result message went: ``arn``, ``kind``, ``name``, and
        the message itself: for a queue while the queue still holds it (found by the
        request ID in its ``requestContext``), for an EventBridge bus the log's entry of
        the task (:meth:`eventbus_events`'s); None when the task has no destination."""
        arn = destination_for(task)
        if arn is None:
            return None
        try:
            target = parse_destination(arn)
        except InvalidArgument:
            return {"arn": arn, "kind": "", "name": "", "message": None}
        if target.kind == "eventbus":
            entry = self.eventbus_log.of_task(task)
            return {"arn": arn, "kind": target.kind, "name": target.name,
                    "message": None if entry is None else copy.deepcopy(entry)}
        found = None
        if target.kind == "queue" and self.smq.queue_exists(target.name):
            for message in self.smq.get_queue(target.name).messages():
                try:
                    doc = message.json()
                except ValueError:
                    continue
                context = doc.get("requestContext") if isinstance(doc, dict) else None
                if isinstance(context, dict) and context.get("requestId") == task.request_id:
                    found = message
                    break
        return {"arn": arn, "kind": target.kind, "name": target.name,
                "message": None if found is None else {
                    "messageId": found.message_id, "body": found.body,
                    "enqueueTime": found.enqueue_time, "dequeueCount": found.dequeue_count}}
