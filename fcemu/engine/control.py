"""The engine's control operations: fcemu's own, next to the FC ones.

A mixin of :class:`fcemu.engine.Engine` (kept apart so that the engine module stays
readable); the engine owns the state declared below. These are the front door of
the control API (``/_fcemu``), the Python API (:class:`fcemu.Emulator`), the CLI
and the pytest plugin: the clock (``advance_clock``, ``set_clock``, ``settle``,
``drain``) and follow mode, peeks at queues and task logs, the task listing across
functions, handler instances, scripted outcomes and destination faults, and the SMQ
resources that deployment files declare. Nothing here hands out a part of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from fcemu.destinations import Target, target_of
from fcemu.errors import InvalidArgument
from fcemu.faults import Step, parse_steps
from fcemu.ids import IdGenerator
from fcemu.models import Task, TaskLogs
from fcemu.runtime import PoolUsage, Runtime
from fcemu.settings import Settings

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.destinations import Delivery
    from fcemu.faults import Faults
    from fcemu.follow import TimeFollower
    from fcemu.models import Function
    from fcemu.scheduler import Scheduler
    from fcemu.smq import Message, Smq
    from fcemu.tasks import AsyncTasks, TaskQuery


class Runner(Runtime, Protocol):
    """What the engine runs handlers through: :class:`~fcemu.runtime.Runtimes`, or a test's
    (invoke, stop, discard, close, retire_version, and for the control API instances and
    usage)."""

    async def retire_version(self, function_name: str, version_id: str) -> None:
        """End a deleted version's instances once their requests have ended."""
        ...

    def instances(self) -> list[dict[str, Any]]: ...

    def usage(self) -> PoolUsage: ...


#: Builds the engine's runner, at start and at every reset (``Engine(runtimes=...)``).
RunnerFactory = Callable[[Settings, IdGenerator], Runner]


class ControlOperations:
    """Clock, queues, logs, instances and faults (see the module docstring)."""

    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    faults: Faults
    delivery: Delivery
    runtimes: Runner
    tasks: AsyncTasks
    _follower: TimeFollower | None
    functions: dict[str, Function]

    @property
    def smq(self) -> Smq:
        raise NotImplementedError

    def _function(self, name: str) -> Function:
        raise NotImplementedError

    def record_failure(self, what: str, error: BaseException) -> None:
        raise NotImplementedError

    # -- the clock ------------------------------------------------------------------

    @property
    def clock_mode(self) -> str:
        """``"real"`` or ``"manual"`` (follow mode runs a manual clock)."""
        return self.clock.mode

    def now_ms(self) -> int:
        """The emulator time, epoch milliseconds."""
        return self.clock.now_ms()

    async def advance_clock(self, delta_ms: int) -> int:
        """Manual clock: settle, fire every timer due within ``delta_ms`` in due order
        (the clock at each due time), settle; returns the new time."""
        return await self.scheduler.advance(delta_ms)

    async def set_clock(self, target_ms: int) -> int:
        """Manual clock: like :meth:`advance_clock`, to an absolute time."""
        return await self.scheduler.set(target_ms)

    async def settle(self, timeout: float | None = None) -> int:
        """Return once nothing is runnable at the current time (bounded in real seconds;
        a :class:`~fcemu.scheduler.SettleTimeout` names what is busy); returns the time."""
        await self.scheduler.settle(timeout)
        return self.clock.now_ms()

    async def drain(self, timeout: float | None = None, *, until_ms: int | None = None) -> int:
        """Manual clock: run every task to its end, jumping from task timer to task timer;
        returns the time. Periodic trigger fires are not task work: those falling due on the
        way fire, later ones stay on the clock. ``until_ms``: first move the clock there,
        firing every timer (triggers too) due on the way ("run the next week")."""
        if until_ms is not None:
            await self.scheduler.set(max(until_ms, self.clock.now_ms()), timeout=timeout)
        return await self.scheduler.drain(timeout=timeout)

    # -- follow mode (fcemu.follow) ---------------------------------------------------

    @property
    def following(self) -> bool:
        """Follow mode: whether :meth:`follow_time` has a clock to bring (a request that
        is not has no coroutine to await: issue 13)."""
        return self._follower is not None

    async def follow_time(self, *, strict: bool = True) -> None:
        """Follow mode: bring the clock to the process's (possibly frozen) time, firing what
        fell due; nothing otherwise. ``strict``: a refused backwards move raises."""
        if self._follower is not None:
            await self._follower.sync(self.clock, self.scheduler, self.record_failure,
                                      strict=strict)

    def set_following(self, enabled: bool) -> None:
        """Follow mode: resume or pause following the process's time (the pytest plugin
        pauses it once a test body is over)."""
        if self._follower is not None:
            self._follower.enabled = enabled

    # -- queues ---------------------------------------------------------------------

    def peek_queue(self, name: str) -> list[Message]:
        """Every live message of a queue, in delivery order, none consumed; a queue that
        does not exist (yet) has none (destinations create theirs on first delivery)."""
        smq = self.smq
        return smq.get_queue(name).messages() if smq.queue_exists(name) else []

    def last_message(self, name: str) -> Message | None:
        """The most recently sent live message of a queue, if any (none consumed)."""
        smq = self.smq
        return smq.get_queue(name).last if smq.queue_exists(name) else None

    def queue_counts(self, limit: int = 1000) -> dict[str, int]:
        """The first ``limit`` queues by name, with their numbers of live messages."""
        queues, _ = self.smq.list_queues(limit=limit)
        return {q.name: len(q.messages()) for q in queues}

    def clear_queue(self, name: str) -> None:
        """Delete every message of a queue (nothing when it does not exist)."""
        if self.smq.queue_exists(name):
            self.smq.get_queue(name).clear()

    def create_queue(self, name: str, **attributes: Any) -> None:
        """CreateQueue; an SmqError when it exists with other attributes."""
        self.smq.create_queue(name, **attributes)

    def set_queue_attributes(self, name: str, **attributes: Any) -> None:
        self.smq.set_queue_attributes(name, **attributes)

    def create_topic(self, name: str, **attributes: Any) -> None:
        """CreateTopic; an SmqError when it exists with other attributes."""
        self.smq.create_topic(name, **attributes)

    def set_topic_attributes(self, name: str, **attributes: Any) -> None:
        self.smq.set_topic_attributes(name, **attributes)

    def subscribe(self, topic: str, subscription: str, queue: str, **options: str) -> None:
        """Subscribe: a queue of this account's, as the endpoint (``notify_strategy=``...)."""
        self.smq.subscribe(topic, subscription, self.smq.queue_endpoint(queue), **options)

    # -- task records and logs (whether or not task mode is on) -------------------------

    def task_record(self, function_name: str, task_id: str) -> Task:
        """A retained task record (AsyncTaskNotFound otherwise), task mode on or off."""
        return self.tasks.get(function_name, task_id)

    def task_records(self, function_name: str) -> list[Task]:
        """Every retained task record of a function, in submission order."""
        return list(self.tasks.by_function.get(function_name, {}).values())

    def list_all_async_tasks(self, query: TaskQuery, function: str | None = None
                             ) -> tuple[list[Task], str]:
        """One page of the retained tasks of every function (or of ``function``, every
        qualifier), task mode on or off: ListAsyncTasks's filters, order and ``nextToken``
        across functions. An unknown ``function`` has no tasks (a filter, not a lookup)."""
        return self.tasks.list_all(query, function)

    def task_logs(self, function_name: str, task_id: str) -> TaskLogs:
        """What a task's handler printed and logged, attempt by attempt."""
        task = self.tasks.get(function_name, task_id)
        return TaskLogs(task.task_id, task.request_id,
                        tuple(replace(a, logs=task.attempt_log(a)) for a in task.attempts))

    # -- handler instances ------------------------------------------------------------

    def instances(self) -> list[dict[str, Any]]:
        """The handler processes alive now (:meth:`fcemu.runtime.Runtimes.instances`)."""
        return self.runtimes.instances()

    def instance_usage(self) -> PoolUsage:
        """Processes alive now, the most ever alive at once, and the cap."""
        return self.runtimes.usage()

    # -- scripted outcomes (fcemu.faults) ---------------------------------------------

    def put_script(self, name: str, steps: Any) -> list[Step]:
        """Replace a function's script of attempt outcomes (:mod:`fcemu.faults`)."""
        self._function(name)
        try:
            parsed = parse_steps(steps)
        except ValueError as exc:
            raise InvalidArgument(f"script: {exc}") from None
        self.faults.set_script(name, parsed)
        return self.faults.script(name)

    def get_script(self, name: str) -> list[Step]:
        self._function(name)
        return self.faults.script(name)

    def delete_script(self, name: str) -> None:
        self._function(name)
        self.faults.clear_script(name)

    def clear_scripts(self) -> None:
        """Forget every function's script."""
        self.faults.clear_script()

    # -- destination faults (fcemu.destinations.Delivery) -------------------------------

    def fail_destination(self, destination: object, times: int = 1) -> Target:
        """Make the next ``times`` deliveries to a destination fail; a bare name is a queue."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise InvalidArgument(f"times must be a whole number of at least 0, got {times!r}")
        target = target_of(destination)
        self.delivery.fail_destination(target, times)
        return target

    def destination_faults(self) -> list[dict[str, Any]]:
        """The destination faults left: ``kind``, ``name``, ``remaining``."""
        return self.delivery.faults()

    def clear_destination_faults(self) -> None:
        self.delivery.clear_faults()

    def describe_faults(self) -> dict[str, Any]:
        """Every script (by function) and destination fault, as the control API shows them."""
        return {"scripts": self.faults.describe(), "destinations": self.destination_faults()}

    # -- IDs for answers that run no handler ---------------------------------------------

    def response_id(self) -> str:
        """A fresh ``x-fc-request-id`` for an FC or control API answer."""
        return self.ids.response_id(self.clock.now_ms())

    def function_names(self) -> list[str]:
        """The names of the deployed functions, in the order they were created."""
        return list(self.functions)
