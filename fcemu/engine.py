"""The engine: the one owner of emulator state (DESIGN.md principle 1).

One method per FC operation, named after it in snake_case
(``get_async_task``), taking plain Python values and returning models.
Runs only on the emulator's event loop; the API layer and the
:class:`~fcemu.server.Emulator` call it there. The async task state machine
lives in :mod:`fcemu.tasks`, SMQ in :mod:`fcemu.smq`, handler execution in
:mod:`fcemu.runtime`; the function operations (CreateFunction … DeleteFunction) are
a mixin in :mod:`fcemu.engine_functions`, unpacked code in :mod:`fcemu.code`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fcemu import code, inputs
from fcemu.clock import ManualClock, RealClock
from fcemu.destinations import (
    DeliveryRefused,
    Target,
    check_size,
    delivery_failed,
    destination_for,
    encode_message,
    failure_reason,
    parse_destination,
    result_message,
)
from fcemu.engine_functions import FunctionOperations
from fcemu.errors import (
    AsyncConfigNotExists,
    ConcurrencyConfigNotFound,
    EntityTooLarge,
    FcError,
    InvalidArgument,
    ResourceThrottled,
    SmqError,
)
from fcemu.faults import Faults, Step, parse_steps
from fcemu.ids import IdGenerator
from fcemu.models import LATEST, AsyncConfig, ConcurrencyConfig, Function, Task
from fcemu.runtime import Invocation, Outcome, Runtimes
from fcemu.scheduler import Scheduler
from fcemu.settings import Settings
from fcemu.smq import Smq
from fcemu.tasks import AsyncTasks, TaskQuery

log = logging.getLogger("fcemu.engine")

SYNC_PAYLOAD_LIMIT = 32 * 1024 * 1024  # spec §6.5
ASYNC_PAYLOAD_LIMIT = 128 * 1024


@dataclass(frozen=True)
class InvocationResult:
    """What InvokeFunction produced: an outcome (sync) or an accepted task (async)."""

    request_id: str
    outcome: Outcome | None = None
    task: Task | None = None


@dataclass(frozen=True)
class ServerFailure:
    """An unexpected server-side error, kept for :meth:`Emulator.check`."""

    what: str
    error: BaseException
    traceback: str


class Engine(FunctionOperations):
    """All emulator state: functions, async configs, tasks, queues."""

    def __init__(self, settings: Settings, clock: RealClock | ManualClock,
                 ids: IdGenerator, *, on_reset: Callable[[Engine], None] | None = None) -> None:
        self.settings = settings
        #: Called with the engine at the end of each :meth:`reset` (the layer above hands
        #: in what puts its deployment back: ``--config`` files).
        self.on_reset = on_reset
        self.clock = clock
        self.ids = ids
        self.scheduler = Scheduler(clock, settle_timeout=settings.settle_timeout)
        self.scheduler.on_failure = self.record_failure
        self.smq = Smq(clock, self.scheduler, ids, region=settings.region,
                       account_id=settings.account_id)
        self.runtimes = Runtimes(ids, max_instances=settings.max_instances,
                                 idle_seconds=settings.instance_idle_seconds,
                                 pass_env=settings.pass_env)
        #: Scripted outcomes and destination faults (:mod:`fcemu.faults`); gone at reset.
        self.faults = Faults()
        self.functions: dict[str, Function] = {}
        self.async_configs: dict[tuple[str, str], AsyncConfig] = {}
        self.concurrency: dict[str, ConcurrencyConfig] = {}
        self.tasks = AsyncTasks(self)
        self.failures: list[ServerFailure] = []
        #: What EventBridge destinations received (decisions.md: an inspectable log).
        self.eventbus_log: list[dict[str, Any]] = []
        self._in_flight: dict[str, int] = {}
        #: Unpacked code packages, one directory each (:class:`fcemu.code.CodeStore`).
        self.code = code.CodeStore(settings.data_dir)

    # -- life cycle -----------------------------------------------------------------

    async def close(self) -> None:
        """Stop timers, work and every handler instance; remove unpacked code."""
        self.smq.close()
        await self.scheduler.close()
        await self.runtimes.close()
        await self.code.close()

    async def reset(self) -> None:
        """All state gone, clock mode kept: reconstruction through ``__init__`` (moto-style).

        A manual clock goes back to its start and the ID generator to its seed,
        so the same scenario after a reset gives the same IDs and times.
        Task listeners (the pytest plugin's) stay subscribed; ``on_reset`` runs last.
        """
        settings, ids, listeners = self.settings, self.ids, self.tasks.listeners
        clock = self.clock if isinstance(self.clock, RealClock) else ManualClock(settings.start_ms)
        await self.close()
        ids.reset()
        self.__init__(settings, clock, ids, on_reset=self.on_reset)  # type: ignore[misc]
        self.tasks.listeners = listeners
        if self.on_reset is not None:
            self.on_reset(self)

    def record_failure(self, what: str, error: BaseException) -> None:
        """Keep an unexpected server-side error for ``check()``."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.failures.append(ServerFailure(what, error, text))

    # -- async invoke configs -------------------------------------------------------

    def put_async_invoke_config(self, name: str, qualifier: str | None,
                                doc: dict[str, Any]) -> AsyncConfig:
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        fields = inputs.async_config_fields(doc)
        for key, arn in (("onSuccess", fields.on_success), ("onFailure", fields.on_failure)):
            if arn is not None:
                try:
                    parse_destination(arn)
                except InvalidArgument as exc:
                    raise InvalidArgument(f"destinationConfig.{key}: {exc.message}") from None
        now = self.clock.now_ms()
        previous = self.async_configs.get((name, qualifier))
        config = AsyncConfig(
            function_name=name, qualifier=qualifier, function_arn=function.arn,
            created_ms=previous.created_ms if previous else now, modified_ms=now,
            **fields.__dict__,
        )
        self.async_configs[(name, qualifier)] = config
        return config

    def get_async_invoke_config(self, name: str, qualifier: str | None) -> AsyncConfig:
        qualifier = self._qualifier(self._function(name), qualifier)
        config = self.async_configs.get((name, qualifier))
        if config is None:
            raise AsyncConfigNotExists(name, qualifier)
        return config

    def delete_async_invoke_config(self, name: str, qualifier: str | None) -> None:
        config = self.get_async_invoke_config(name, qualifier)
        del self.async_configs[(config.function_name, config.qualifier)]

    def list_async_invoke_configs(self, function_name: str | None = None, limit: int = 20,
                                  next_token: str = "") -> tuple[list[AsyncConfig], str]:
        if function_name:
            self._function(function_name)
        keys = sorted(k for k in self.async_configs
                      if (not function_name or k[0] == function_name)
                      and f"{k[0]}:{k[1]}" >= next_token)
        page = [self.async_configs[k] for k in keys[:limit]]
        return page, (f"{keys[limit][0]}:{keys[limit][1]}" if len(keys) > limit else "")

    def effective_async_config(self, name: str, qualifier: str) -> AsyncConfig:
        """The config a qualifier uses: its own, else LATEST's, else the defaults."""
        config = self.async_configs.get((name, qualifier)) or self.async_configs.get((name, LATEST))
        if config is not None:
            return config
        now = self.clock.now_ms()
        return AsyncConfig(name, qualifier, self.arn(name), now, now)

    # -- concurrency ----------------------------------------------------------------

    def put_concurrency_config(self, name: str, reserved: int) -> ConcurrencyConfig:
        function = self._function(name)
        config = ConcurrencyConfig(name, function.arn, reserved)
        self.concurrency[name] = config
        return config

    def get_concurrency_config(self, name: str) -> ConcurrencyConfig:
        self._function(name)
        config = self.concurrency.get(name)
        if config is None:
            raise ConcurrencyConfigNotFound(name)
        return config

    def delete_concurrency_config(self, name: str) -> None:
        self.get_concurrency_config(name)
        del self.concurrency[name]

    def list_concurrency_configs(self, function_name: str | None = None, limit: int = 20,
                                 next_token: str = "") -> tuple[list[ConcurrencyConfig], str]:
        """ListConcurrencyConfigs: by function name from ``next_token`` on (spec §5.1)."""
        if function_name:
            self._function(function_name)
        names = sorted(n for n in self.concurrency
                       if (not function_name or n == function_name) and n >= next_token)
        page = [self.concurrency[n] for n in names[:limit]]
        return page, names[limit] if len(names) > limit else ""

    def acquire_slot(self, name: str) -> bool:
        """Take one execution slot of a function; False when its limit is reached."""
        config = self.concurrency.get(name)
        running = self._in_flight.get(name, 0)
        if config is not None and running >= config.reserved_concurrency:
            return False
        self._in_flight[name] = running + 1
        return True

    def release_slot(self, name: str) -> None:
        self._in_flight[name] = max(0, self._in_flight.get(name, 0) - 1)

    # -- SMQ resources (what deployment files declare) ---------------------------------

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

    # -- invocation -----------------------------------------------------------------

    async def invoke_function(self, name: str, payload: bytes, *, qualifier: str | None = None,
                              asynchronous: bool = False, task_id: str | None = None,
                              delay_s: int = 0) -> InvocationResult:
        """InvokeFunction: run now and return the outcome, or enqueue a task (spec §6)."""
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        if asynchronous:
            if len(payload) > ASYNC_PAYLOAD_LIMIT:
                raise EntityTooLarge(ASYNC_PAYLOAD_LIMIT)
            if task_id is not None:
                inputs.check_task_id(task_id)
            if not 0 <= delay_s <= 3600:
                raise InvalidArgument(f"x-fc-async-delay must be between 0 and 3600 seconds, "
                                      f"got {delay_s}")
            task = self.tasks.submit(function, qualifier, payload, task_id=task_id,
                                     delay_s=delay_s)
            return InvocationResult(task.request_id, task=task)
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            raise EntityTooLarge(SYNC_PAYLOAD_LIMIT)
        if self.faults.take_throttle(name):
            raise ResourceThrottled(f"function '{name}' is throttled by a scripted 'throttle' "
                                    "step of its fcemu script; retry later")
        if not self.acquire_slot(name):
            limit = self.concurrency[name].reserved_concurrency
            raise ResourceThrottled(f"function '{name}' is at its concurrency limit "
                                    f"(reservedConcurrency {limit}); retry later")
        request_id = self.ids.request_id(self.clock.now_ms())
        try:
            outcome = await self.execute(Invocation(
                request_id, function, payload, qualifier, self.settings.region,
                self.settings.account_id), self.faults.take(name))
        finally:
            self.release_slot(name)
        return InvocationResult(request_id, outcome=outcome)

    async def execute(self, invocation: Invocation, step: Step | None = None) -> Outcome:
        """One attempt: the scripted outcome of ``step``, else the handler in its runtime."""
        if step is not None and step.outcome != "run":
            return step.outcome_for(invocation)
        return await self.runtimes.invoke(invocation)

    # -- scripted outcomes (fcemu's own, not FC operations) ---------------------------

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

    def fail_destination(self, destination: object, times: int = 1) -> Target:
        """Make the next ``times`` deliveries to a destination fail; a bare name is a queue."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise InvalidArgument(f"times must be a whole number of at least 0, got {times!r}")
        if not isinstance(destination, str) or not destination:
            raise InvalidArgument("destination must be a queue name or a destination ARN")
        if destination.startswith("acs:"):
            target = parse_destination(destination)
        else:
            target = Target("queue", destination)
        self.faults.fail_destination(target, times)
        return target

    # -- async tasks ----------------------------------------------------------------

    def get_async_task(self, name: str, task_id: str, qualifier: str | None = None) -> Task:
        self._task_mode(name, qualifier)
        return self.tasks.get(name, inputs.check_task_id_in_path(task_id))

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

    # -- destinations ---------------------------------------------------------------

    def deliver_result(self, task: Task) -> None:
        """Push a terminal task's result message to its destination, once.

        A refused delivery (a scripted fault, a message over FC's payload limit or the
        queue's ``MaximumMessageSize``, a missing destination in strict mode) is recorded
        on the task by :func:`~fcemu.destinations.delivery_failed`, never only logged.
        """
        arn = destination_for(task)
        if arn is None:
            return
        message = result_message(task, self.clock.now_ms())
        target = parse_destination(arn)
        create = not self.settings.strict_destinations
        if self.faults.take_destination_fault(target):
            delivery_failed(task, arn, "scripted destination fault")
            return
        try:
            if target.kind in ("queue", "topic"):
                body = encode_message(message, self.settings.destination_encoding)
                check_size(target, body.encode())
                if target.kind == "queue":
                    self.smq.send_message(target.name, body, create=create)
                else:
                    self.smq.publish_message(target.name, body, create=create)
            elif target.kind == "function":
                self._deliver_to_function(target, message)
            else:
                check_size(target, encode_message(message, "raw").encode())
                self.eventbus_log.append({"eventBus": target.name, "destination": arn,
                                          "timestamp": self.clock.now_ms(), "data": message})
        except (SmqError, FcError, DeliveryRefused) as exc:
            delivery_failed(task, arn, failure_reason(exc))
        else:
            task.destination_status = "Succeeded"

    def _deliver_to_function(self, target: Target, message: dict[str, Any]) -> None:
        function = self._function(target.name)
        payload = encode_message(message, "raw").encode()
        check_size(target, payload)
        qualifier = target.qualifier
        self.tasks.submit(function, self._qualifier(function, qualifier), payload,
                          task_id=None, delay_s=0)

