"""The engine: the one owner of emulator state and its one front door (DESIGN.md principle 1).

Every outer layer (the HTTP API, the Python API, the CLI, the pytest plugin,
config deployment) calls the engine's public methods, named after the
operations: one per FC operation in snake_case (``get_async_task``), taking
typed specs (:mod:`fcemu.specs`) and plain Python values and returning models,
and one per control operation (``advance_clock``, ``settle``, ``drain``,
``reset``, ``peek_queue``, ``task_logs``, ``instances``, the scripted faults,
follow-mode control). Nothing outside the engine touches its parts (scheduler,
tasks, runtimes, faults, IDs); the SMQ operations of the MNS routes are the
one documented exception: :attr:`Engine.smq` (see its docstring).

Runs only on the emulator's event loop. The engine builds its collaborators and
hands them to each other: :class:`~fcemu.tasks.AsyncTasks` (the task life
cycle), :class:`~fcemu.destinations.Delivery` (result messages),
:class:`~fcemu.smq.Smq`, the runtimes (:mod:`fcemu.runtime`). The function
operations (CreateFunction … DeleteFunction) are a mixin in
:mod:`fcemu.engine.functions`; the async invoke and concurrency configs one in
:mod:`fcemu.engine.configs`; the control operations one in
:mod:`fcemu.engine.control`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from fcemu import code
from fcemu.clock import ManualClock, RealClock
from fcemu.destinations import Delivery
from fcemu.engine.configs import ConfigOperations
from fcemu.engine.control import ControlOperations, Runner, RunnerFactory
from fcemu.engine.durable import DurableOperations
from fcemu.engine.functions import FunctionOperations
from fcemu.engine.layers import LayerOperations
from fcemu.engine.limits import LimitOperations
from fcemu.engine.observe import ObserveOperations
from fcemu.engine.resources import CodeOperations, ResourceOperations, TagOperations
from fcemu.engine.snapshots import SnapshotOperations
from fcemu.engine.state import StateOperations
from fcemu.engine.triggers import TriggerOperations
from fcemu.engine.versions import VersionOperations
from fcemu.errors import (
    EntityTooLarge,
    InvalidArgument,
    ResourceThrottled,
)
from fcemu.faults import Faults, Step
from fcemu.follow import TimeFollower
from fcemu.ids import IdGenerator
from fcemu.models import LATEST, AsyncConfig, ConcurrencyConfig, Function, HttpCall, Task
from fcemu.runtime import Invocation, Outcome, Runtimes
from fcemu.scheduler import Scheduler
from fcemu.settings import Settings
from fcemu.smq import Smq
from fcemu.specs import (
    TASK_ID,
    check_request_id,
    check_task_id,
    check_task_id_in_path,
)
from fcemu.tasks import AsyncTasks, Slots, TaskQuery

log = logging.getLogger("fcemu.engine")

SYNC_PAYLOAD_LIMIT = 32 * 1024 * 1024  # spec §6.5
ASYNC_PAYLOAD_LIMIT = 128 * 1024
#: A caller's task ID is valid (check_task_id's test, without its call).
_TASK_ID = TASK_ID.match

__all__ = ["ASYNC_PAYLOAD_LIMIT", "SYNC_PAYLOAD_LIMIT", "Engine", "InvocationResult", "Runner",
           "RunnerFactory", "ServerFailure", "default_runtimes"]


def default_runtimes(settings: Settings, ids: IdGenerator) -> Runner:
    """The runtimes of :mod:`fcemu.runtime`, configured from the settings."""
    return Runtimes(ids, max_instances=settings.max_instances,
                    idle_seconds=settings.instance_idle_seconds, pass_env=settings.pass_env,
                    node=settings.node)


@dataclass(frozen=True, init=False)
class InvocationResult:
    """What InvokeFunction produced: an outcome (sync) or an accepted task (async)."""

    request_id: str
    outcome: Outcome | None = None
    task: Task | None = None
    #: Sync: the code checksum and version (``LATEST`` or a version ID) of what ran.
    code_checksum: str = ""
    version: str = ""

    def __init__(self, request_id: str, outcome: Outcome | None = None,
                 task: Task | None = None, code_checksum: str = "", version: str = "") -> None:
        # the frozen dataclass's own __init__, without its object.__setattr__ call per field
        # (5k instructions of an async submit's 60k: issue 13); the same instance __dict__
        fields = self.__dict__
        fields["request_id"], fields["outcome"], fields["task"] = request_id, outcome, task
        fields["code_checksum"], fields["version"] = code_checksum, version


@dataclass(frozen=True)
class ServerFailure:
    """An unexpected server-side error, kept for :meth:`Emulator.check`."""

    what: str
    error: BaseException
    traceback: str


class Engine(FunctionOperations, ConfigOperations, TriggerOperations, VersionOperations,
             LayerOperations, ControlOperations, ObserveOperations, LimitOperations,
             ResourceOperations, TagOperations, CodeOperations, StateOperations,
             SnapshotOperations, DurableOperations):
    """All emulator state: functions, async configs, tasks, queues.

    :param runtimes: builds what runs handlers (:data:`RunnerFactory`), called at start and
        at every reset (a reset kills every execution and instance by closing the old one);
        :func:`default_runtimes` unless given. The seam for a test's fake runtime.
    :param on_reset: called with the engine at the end of each :meth:`reset` (the layer
        above hands in what puts its deployment back: ``--config`` files).
    """

    def __init__(self, settings: Settings, clock: RealClock | ManualClock, ids: IdGenerator,
                 runtimes: RunnerFactory | None = None, *,
                 on_reset: Callable[[Engine], None] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.ids = ids
        self.on_reset = on_reset
        self._make_runtimes = runtimes or default_runtimes
        self._listeners: list[Callable[[Task], None]] = []
        #: Follow mode only (:mod:`fcemu.follow`): kept across resets, like the listeners.
        self._follower = TimeFollower() if settings.clock == "follow" else None
        self._init_snapshots()  # kept across resets (fcemu.engine.snapshots)
        self._init_store()  # durable mode, off until started (fcemu.engine.durable)
        self._build()

    def _build(self) -> None:
        """Every part, empty: at start and after each reset."""
        settings, clock, ids = self.settings, self.clock, self.ids
        self.scheduler = Scheduler(clock, settle_timeout=settings.settle_timeout)
        self.scheduler.on_failure = self.record_failure
        self._smq = Smq(clock, self.scheduler, ids, region=settings.region,
                        account_id=settings.account_id)
        self.runtimes = self._make_runtimes(settings, ids)
        #: Scripted outcomes (:mod:`fcemu.faults`); gone at reset.
        self.faults = Faults()
        self.functions: dict[str, Function] = {}
        self.async_configs: dict[tuple[str, str], AsyncConfig] = {}
        self.concurrency: dict[str, ConcurrencyConfig] = {}
        self._build_versions()  # versions, aliases (fcemu.engine.versions)
        #: The one count of running executions (what concurrency limits read).
        self.slots = Slots(self.concurrency, settings.account_concurrency)
        self.delivery = Delivery(clock, self._smq, self._submit_result,
                                 strict=settings.strict_destinations,
                                 encoding=settings.destination_encoding)
        #: What EventBridge destinations received (decisions.md: an inspectable log).
        self.eventbus_log = self.delivery.eventbus_log
        self.tasks = AsyncTasks(
            clock, self.scheduler, ids, settings, execute=self.execute,
            stop_execution=self.runtimes.stop, slots=self.slots, faults=self.faults,
            function=self.functions.get, async_config=self.effective_async_config,
            deliver=self.delivery.deliver_result, finished=self._task_finished,
            record_failure=self.record_failure)
        self.tasks.swept = self.delivery.expire_eventbus  # its entries go with the records
        self._observe_tasks()  # metrics and live views (fcemu.engine.observe)
        self._bind_finished()
        self.failures: list[ServerFailure] = []
        #: Unpacked code packages, one directory each (:class:`fcemu.code.CodeStore`).
        self.code = code.CodeStore(settings.data_dir)
        self._init_triggers()  # triggers and their SMQ hooks (fcemu.engine.triggers)
        self._build_layers()  # layer versions, the layer map (fcemu.engine.layers)
        self._attach_store()  # durable mode: the parts' hooks (fcemu.engine.durable)

    # -- life cycle -----------------------------------------------------------------

    @property
    def smq(self) -> Smq:
        """The SMQ account (queues and topics): part of the front door for the MNS routes
        only (``fcemu.api.smq``, and the MNS request IDs of the front door's MNS answers),
        whose operations are the MNS API's, one method each (:class:`fcemu.smq.Smq`):
        wrapping each in an engine method would add a second name for every one. Every
        other layer goes through the engine's own methods (``peek_queue``,
        ``create_queue`` ...)."""
        return self._smq

    async def close(self) -> None:
        """Stop timers, work and every handler instance; remove unpacked code."""
        await self._pause_store()  # durable mode: what changed is committed first
        self._smq.close()
        await self.scheduler.close()
        self.tasks.close()
        await self.runtimes.close()
        await self.code.close()

    async def shutdown(self) -> None:
        """The end of this engine: :meth:`close`, then the durable store's thread and
        database (a reset keeps them; a new engine on the same data directory reopens it)."""
        try:
            await self.close()
        finally:
            await self.close_store()

    async def reset(self, seed: int | None = None, *, settings: Settings | None = None) -> None:
        """All state gone, clock mode kept: the one reset path (moto-style).

        A manual clock goes back to its start and the ID generator to its seed (``seed``
        when given), so the same scenario after a reset gives the same IDs and times.
        ``settings`` replaces the settings from now on (its clock mode must be the same).
        The task listeners, the runtimes factory and follow mode's state are the engine's
        own and stay; ``on_reset`` runs last.
        """
        if settings is not None:
            self.settings = settings
        if seed is not None:
            self.settings = self.settings.replace(seed=seed)
        await self.close()
        self.ids.reset(seed)
        if not isinstance(self.clock, RealClock):
            self.clock = ManualClock(self.settings.start_ms)
        self._build()
        if self._follower is not None:
            self._follower.forget()
        if self.on_reset is not None:
            self.on_reset(self)

    def add_task_listener(self, listener: Callable[[Task], None]) -> None:
        """Call ``listener`` (on the loop) with every task that reaches a terminal status."""
        self._listeners.append(listener)
        self._bind_finished()

    def remove_task_listener(self, listener: Callable[[Task], None]) -> None:
        self._listeners.remove(listener)
        self._bind_finished()

    def _bind_finished(self) -> None:
        """What the task life cycle tells of each task that ends: the metrics' count alone
        while no task listener is registered (a call less per task: issue 13; an
        :class:`fcemu.Emulator` always registers its own, an engine used alone may not), else
        :meth:`_task_finished` with the listeners registered now (a tuple: no copy per
        task, and one that a listener adds or removes meanwhile takes effect next time)."""
        self._calling = tuple(self._listeners)
        self.tasks.finished = self._task_finished if self._calling else (
            self.task_metrics.finished)

    def _task_finished(self, task: Task) -> None:
        self.task_metrics.finished(task)
        for listener in self._calling:
            listener(task)

    def record_failure(self, what: str, error: BaseException) -> None:
        """Keep an unexpected server-side error for ``check()``."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.failures.append(ServerFailure(what, error, text))

    def take_failures(self) -> list[ServerFailure]:
        """The server-side errors kept since the last call, forgotten here."""
        failures, self.failures = self.failures, []
        return failures

    # -- invocation -----------------------------------------------------------------

    async def invoke_function(self, name: str, payload: bytes, *, qualifier: str | None = None,
                              asynchronous: bool = False, task_id: str | None = None,
                              delay_s: int = 0, request_id: str | None = None,
                              http_call: HttpCall | None = None) -> InvocationResult:
        """InvokeFunction: run now and return the outcome, or enqueue a task (spec §6).
        ``request_id``: the caller's (``x-fc-trace-id``), else one is generated;
        ``http_call``: the HTTP trigger's request, passed through to a web function."""
        if asynchronous:
            return self.invoke_async(name, payload, qualifier=qualifier, task_id=task_id,
                                     delay_s=delay_s, request_id=request_id,
                                     http_call=http_call)
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        self._check_enabled(function)
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            raise EntityTooLarge(SYNC_PAYLOAD_LIMIT)
        if request_id is not None:
            check_request_id(request_id, becomes_task_id=False)
        if self.faults.take_throttle(name):
            self.task_metrics.throttled(name, qualifier)
            raise ResourceThrottled(f"function '{name}' is throttled by a scripted 'throttle' "
                                    "step of its fcemu script; retry later")
        if not self.slots.acquire(name):
            self.task_metrics.throttled(name, qualifier)
            raise self._throttled(name)  # the function's or the account's limit
        request_id = request_id or self.ids.request_id(self.clock.now_ms())
        served: list[Function] = []
        try:
            outcome = await self.execute(Invocation(
                request_id, function, payload, qualifier, self.settings.region,
                self.settings.account_id, http_call=http_call), self.faults.take(name), served)
        finally:
            self.slots.release(name)
        self._check_system_failure(name, outcome)  # scripted internal error: 500, ...: 503
        ran = served[0] if served else function
        return InvocationResult(request_id, outcome=outcome, code_checksum=ran.code_checksum,
                                version=ran.version_id or LATEST)

    def invoke_async(self, name: str, payload: bytes, *, qualifier: str | None = None,
                     task_id: str | None = None, delay_s: int = 0,
                     request_id: str | None = None,
                     http_call: HttpCall | None = None) -> InvocationResult:
        """InvokeFunction with ``x-fc-invocation-type: Async``: the task, enqueued (its
        checks and errors are :meth:`invoke_function`'s; no coroutine: issue 13)."""
        task = self.submit_async(name, payload, qualifier, task_id, delay_s, request_id,
                                 http_call)
        return InvocationResult(task.request_id, None, task)  # no keywords: no dict made

    def submit_async(self, name: str, payload: bytes, qualifier: str | None = None,
                     task_id: str | None = None, delay_s: int = 0,
                     request_id: str | None = None,
                     http_call: HttpCall | None = None) -> Task:
        """:meth:`invoke_async`'s task, without its :class:`InvocationResult` (a frozen
        dataclass sets each field through ``object.__setattr__``: a tenth of this path's
        instructions): the caller that needs only the task's IDs calls this."""
        function = self.functions.get(name)  # the lookups inline: one call each saved
        if function is None:
            function = self._function(name)  # raises FunctionNotFound
        qualifier = LATEST if qualifier is None else self._qualifier(function, qualifier)
        if function.invocation_restriction is not None:
            self._check_enabled(function)
        if len(payload) > ASYNC_PAYLOAD_LIMIT:
            raise EntityTooLarge(ASYNC_PAYLOAD_LIMIT)
        if task_id is not None and not _TASK_ID(task_id):
            check_task_id(task_id)  # raises InvalidArgument
        if request_id is not None:
            check_request_id(request_id, becomes_task_id=task_id is None)
        if not 0 <= delay_s <= 3600:
            raise InvalidArgument(f"x-fc-async-delay must be between 0 and 3600 seconds, "
                                  f"got {delay_s}")
        return self.tasks.submit(function, qualifier, payload, task_id, delay_s, request_id,
                                 http_call)

    async def execute(self, invocation: Invocation, step: Step | None = None,
                      served: list[Function] | None = None) -> Outcome:
        """One attempt: the scripted outcome of ``step``, else the handler in its runtime
        (the function its qualifier resolves to: :meth:`resolve_invocation`, appended to
        ``served`` when given)."""
        if step is not None and step.outcome != "run":
            return step.outcome_for(invocation)
        function = invocation.function
        resolved: Invocation | Outcome
        if invocation.qualifier == LATEST:  # what resolve_invocation gives LATEST: itself
            resolved = invocation
        else:
            resolved = self.resolve_invocation(invocation)
            if isinstance(resolved, Outcome):
                return resolved
        if served is not None:
            served.append(resolved.function)
        name, request_id = function.name, invocation.request_id
        executing = self._executing  # what is executing (see _build_versions)
        running = executing.get(name)
        if running is None:
            running = executing[name] = {request_id}
        else:
            running.add(request_id)
        try:
            return await self.runtimes.invoke(resolved)
        finally:
            # the set it was added to (not looked up again); once empty it goes, unless a
            # reset has replaced the map, or its name's set, meanwhile
            running.discard(request_id)
            if not running and executing.get(name) is running:
                del executing[name]

    def _submit_result(self, name: str, qualifier: str | None, payload: bytes) -> None:
        """A function destination: the result message becomes an async invocation."""
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        self._check_enabled(function)
        self.tasks.submit(function, qualifier, payload,
                          task_id=None, delay_s=0)

    # -- async tasks ----------------------------------------------------------------

    def get_async_task(self, name: str, task_id: str, qualifier: str | None = None) -> Task:
        self._task_mode(name, qualifier)
        return self.tasks.get(name, check_task_id_in_path(task_id))

    def list_async_tasks(self, name: str, query: TaskQuery,
                         qualifier: str | None = None) -> tuple[list[Task], str]:
        return self.tasks.list(name, self._task_mode(name, qualifier), query)

    def stop_async_task(self, name: str, task_id: str, qualifier: str | None = None) -> None:
        self.tasks.stop(self.get_async_task(name, task_id, qualifier))

    def _task_mode(self, name: str, qualifier: str | None) -> str:
        """Task APIs need ``asyncTask: true`` (decisions.md "Error codes")."""
        qualifier = self._qualifier(self._function(name), qualifier)
        if not self.effective_async_config(name, qualifier).async_task:
            raise InvalidArgument(
                f"async task mode is off for function '{name}' (qualifier {qualifier}): call "
                "PutAsyncInvokeConfig with asyncTask: true to record and query async tasks"
            )
        return qualifier
