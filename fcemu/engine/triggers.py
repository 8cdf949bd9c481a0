"""The engine's trigger operations: CreateTrigger, GetTrigger, UpdateTrigger, ListTriggers,
DeleteTrigger, and what makes triggers fire.

A mixin of :class:`fcemu.engine.Engine`; the engine owns the state declared below
(:meth:`_init_triggers` builds it at start and at each reset). The pure parts (schedules,
``triggerConfig`` per type, event formats) live in :mod:`fcemu.triggers`. Every fire
starts an asynchronous invocation (a task, with the function's async config: retries,
destinations, task records):

- **timer**: each fire is a scheduler timer (kind ``"trigger"``) at its due time on the
  emulator clock; firing re-arms the next one. A disabled trigger has no timer; an update
  re-arms from now. ``drain`` does not chase trigger timers (they would never end), so it
  finishes task work and leaves future fires on the clock;
- **http**: :meth:`invoke_http_trigger` turns a request into the HTTP-trigger event and
  invokes the function, synchronously or as an async task;
- **mns_topic**: a message published to the watched topic (filterTag honoured) becomes
  one invocation with the topic event;
- **eventbridge** with an MNS queue source: a message sent to the watched queue is
  received and deleted once visible, and becomes one invocation with the EventBridge event;
- any type: :meth:`fire_trigger` injects an event (a documented sample by default).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fcemu.engine.queue_triggers import QueueTriggerOperations
from fcemu.errors import FcError, InvalidArgument, TriggerAlreadyExists, TriggerNotFound
from fcemu.models import LATEST
from fcemu.triggers import events
from fcemu.triggers.model import (
    HttpConfig,
    ParsedConfig,
    QueueConfig,
    TimerConfig,
    TopicConfig,
    Trigger,
    TriggerConfigError,
    TriggerSpec,
    check_trigger_name,
    parse_config,
)

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.ids import IdGenerator
    from fcemu.models import Function, Task
    from fcemu.scheduler import Scheduler, Timer
    from fcemu.settings import Settings
    from fcemu.smq import Message, Smq
    from fcemu.tasks import AsyncTasks

__all__ = ["TriggerOperations"]

log = logging.getLogger("fcemu.triggers")

_Key = tuple[str, str]


class TriggerOperations(QueueTriggerOperations):
    """Trigger CRUD and firing on the engine's state (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    tasks: AsyncTasks
    functions: dict[str, Function]
    _smq: Smq
    #: Triggers by function, each by name in creation order.
    triggers: dict[str, dict[str, Trigger]]
    _trigger_parsed: dict[_Key, ParsedConfig]
    _trigger_timers: dict[_Key, Timer]
    _trigger_anchor: dict[_Key, int]
    _queue_wakes: dict[str, Timer]

    #: The engine's own (defined by the other mixins and the engine class).
    _function: Callable[[str], Function]
    _qualifier: Callable[[Function, str | None], str]
    _check_enabled: Callable[[Function], None]
    invoke_function: Callable[..., Awaitable[Any]]
    store_touched: Callable[..., None]

    def _init_triggers(self) -> None:
        """Empty trigger state; the SMQ account's hooks point at this engine (a send's
        only while an enabled queue trigger exists: :meth:`_hook_sends`)."""
        self.triggers = {}
        self._trigger_parsed = {}
        self._trigger_timers = {}
        self._trigger_anchor = {}
        self._queue_wakes = {}
        self._smq.on_send = None
        self._smq.on_publish = self._topic_published

    # -- the API operations -----------------------------------------------------------

    def create_trigger(self, function_name: str, spec: TriggerSpec) -> Trigger:
        """CreateTrigger: everything is checked before the trigger exists."""
        function = self._function(function_name)
        try:
            name = check_trigger_name(spec.trigger_name)
            if not spec.trigger_type:
                raise TriggerConfigError("triggerType is required, e.g. timer, http, "
                                         "mns_topic, eventbridge, oss")
            if spec.trigger_config is None and spec.trigger_type != "tablestore":
                raise TriggerConfigError("triggerConfig is required (a JSON object in a "
                                         "string)")
            parsed = parse_config(spec.trigger_type, spec.trigger_config or "",
                                  spec.source_arn or "")
        except TriggerConfigError as exc:
            raise InvalidArgument(str(exc)) from None
        qualifier = self._trigger_qualifier(function, spec.qualifier)
        mine = self.triggers.setdefault(function_name, {})
        if name in mine:
            raise TriggerAlreadyExists(function_name, name)
        now = self.clock.now_ms()
        raw = self.ids.hex(32, "trigger")
        trigger = Trigger(
            function_name=function_name, trigger_name=name, trigger_type=spec.trigger_type,
            trigger_config=spec.trigger_config or "",
            trigger_id=f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}",
            created_ms=now, modified_ms=now, target_arn=self._target_arn(function, qualifier),
            qualifier=qualifier, invocation_role=spec.invocation_role or "",
            source_arn=spec.source_arn or "", description=spec.description or "")
        mine[name] = trigger
        self._apply(trigger, parsed, anchor=now)
        return trigger

    def get_trigger(self, function_name: str, trigger_name: str) -> Trigger:
        self._function(function_name)
        trigger = self.triggers.get(function_name, {}).get(trigger_name)
        if trigger is None:
            raise TriggerNotFound(function_name, trigger_name)
        return trigger

    def update_trigger(self, function_name: str, trigger_name: str,
                       spec: TriggerSpec) -> Trigger:
        """UpdateTrigger: ``triggerConfig``, ``qualifier``, ``invocationRole`` and
        ``description``; a new config is checked in full first, and only a changed one
        re-arms a timer from now (its interval or cron is counted afresh)."""
        trigger = self.get_trigger(function_name, trigger_name)
        function = self._function(function_name)
        config = trigger.trigger_config if spec.trigger_config is None else spec.trigger_config
        changed = config != trigger.trigger_config
        try:
            parsed = parse_config(trigger.trigger_type, config, trigger.source_arn)
        except TriggerConfigError as exc:
            raise InvalidArgument(str(exc)) from None
        qualifier = trigger.qualifier if spec.qualifier is None else \
            self._trigger_qualifier(function, spec.qualifier)
        trigger.trigger_config = config
        trigger.qualifier = qualifier
        trigger.target_arn = self._target_arn(function, qualifier)
        if spec.invocation_role is not None:
            trigger.invocation_role = spec.invocation_role
        if spec.description is not None:
            trigger.description = spec.description
        trigger.modified_ms = self.clock.now_ms()
        if changed:  # a description, role or qualifier leaves the schedule as it was
            self._apply(trigger, parsed, anchor=trigger.modified_ms)
        return trigger

    def list_triggers(self, function_name: str, prefix: str = "", limit: int = 20,
                      next_token: str = "") -> tuple[list[Trigger], str]:
        """ListTriggers: by name from ``next_token`` on, those starting with ``prefix``."""
        self._function(function_name)
        mine = self.triggers.get(function_name, {})
        names = sorted(n for n in mine if n.startswith(prefix) and n >= next_token)
        return [mine[n] for n in names[:limit]], names[limit] if len(names) > limit else ""

    def delete_trigger(self, function_name: str, trigger_name: str) -> None:
        trigger = self.get_trigger(function_name, trigger_name)
        self._forget_trigger(trigger)

    def drop_triggers(self, function_name: str) -> None:
        """Forget every trigger of a function (it is being deleted)."""
        for trigger in list(self.triggers.get(function_name, {}).values()):
            self._forget_trigger(trigger)
        self.triggers.pop(function_name, None)

    # -- firing -----------------------------------------------------------------------

    def fire_trigger(self, function_name: str, trigger_name: str,
                     event: bytes | None = None) -> Task:
        """Start the invocation a trigger would start, now: with ``event``, else the
        trigger's own event (timer) or FC's documented sample for its type."""
        trigger = self.get_trigger(function_name, trigger_name)
        parsed = self._trigger_parsed.get((function_name, trigger_name))
        if event is None:
            if isinstance(parsed, TimerConfig):
                event = events.timer_event(trigger_name, self.clock.now_ms(), parsed.payload)
            elif trigger.trigger_type in events.SAMPLE_EVENTS:
                event = events.dumps(events.SAMPLE_EVENTS[trigger.trigger_type])
            else:
                raise InvalidArgument(
                    f"trigger '{trigger_name}' is of type {trigger.trigger_type}: give the "
                    "event to fire (the request body; see docs/triggers.md for the formats)")
        return self._start(trigger, event)

    def http_trigger_config(self, function_name: str, trigger_name: str) -> HttpConfig:
        """The HTTP trigger's config (TriggerNotFound when it is not an HTTP trigger)."""
        trigger = self.get_trigger(function_name, trigger_name)
        parsed = self._trigger_parsed.get((function_name, trigger.trigger_name))
        if not isinstance(parsed, HttpConfig):
            raise TriggerNotFound(function_name, trigger_name)
        return parsed

    async def invoke_http_trigger(self, function_name: str, trigger_name: str,
                                  request: events.HttpRequestParts, *, asynchronous: bool,
                                  task_id: str | None, delay_s: int,
                                  request_id: str | None = None) -> Any:
        """A request to an HTTP trigger's URL: the function runs with the HTTP-trigger
        event, synchronously or as an async task (``x-fc-invocation-type: Async``); returns
        InvokeFunction's :class:`~fcemu.engine.InvocationResult`. The request itself goes
        along: a custom runtime's web server gets it passed through (FC's web functions,
        "HTTP calls"), whichever version the trigger's qualifier resolves to."""
        config = self.http_trigger_config(function_name, trigger_name)
        if request.method not in config.methods:
            raise InvalidArgument(f"method {request.method} is not allowed by HTTP trigger "
                                  f"'{trigger_name}' (methods: {', '.join(config.methods)})")
        trigger = self.get_trigger(function_name, trigger_name)
        now = self.clock.now_ms()
        if request_id is None:  # the event's requestId is the invocation's (and an async
            # task's ID without x-fc-async-task-id, as a generated one is: fcemu.tasks)
            request_id = (self.ids.task_id() if asynchronous and task_id is None
                          else self.ids.request_id(now))
        event = events.http_event(
            request, account_id=self.settings.account_id, domain_prefix=trigger.trigger_id,
            region=self.settings.region, request_id=request_id, now_ms=now)
        return await self.invoke_function(function_name, event, qualifier=trigger.qualifier,
                                          asynchronous=asynchronous, task_id=task_id,
                                          delay_s=delay_s, request_id=request_id,
                                          http_call=events.http_call(request))

    def all_triggers(self, function_name: str | None = None) -> list[Trigger]:
        """Every trigger (of ``function_name`` only, when given; a filter, not a lookup),
        by function then name."""
        return [self.triggers[fn][name] for fn in sorted(self.triggers)
                if function_name in (None, fn) for name in sorted(self.triggers[fn])]

    def next_fire(self, function_name: str, trigger_name: str) -> int | None:
        """When an armed timer trigger fires next (``None``: not a timer, or disabled)."""
        timer = self._trigger_timers.get((function_name, trigger_name))
        return None if timer is None or timer.cancelled or timer.fired else timer.due_ms

    def next_trigger_fires(self) -> list[tuple[str, str, int]]:
        """``(function, trigger, due ms)`` of every armed timer trigger, in due order."""
        armed = [(key[0], key[1], timer.due_ms) for key, timer in self._trigger_timers.items()
                 if not timer.cancelled and not timer.fired]
        return sorted(armed, key=lambda item: (item[2], item[0], item[1]))

    # -- internals --------------------------------------------------------------------

    def _trigger_qualifier(self, function: Function, qualifier: str | None) -> str:
        return self._qualifier(function, qualifier or LATEST)

    def _target_arn(self, function: Function, qualifier: str) -> str:
        return function.arn if qualifier == LATEST else f"{function.arn}:{qualifier}"

    def _apply(self, trigger: Trigger, parsed: ParsedConfig, *, anchor: int) -> None:
        key = (trigger.function_name, trigger.trigger_name)
        self._trigger_parsed[key] = parsed
        self._trigger_anchor[key] = anchor
        self._disarm(key)
        if isinstance(parsed, TimerConfig) and parsed.enable:
            self._arm(key, parsed, anchor)
        if isinstance(parsed, QueueConfig) and parsed.enable:
            self._consume_soon(parsed.queue, self.clock.now_ms())
        else:
            self._hook_sends()  # the trigger may have stopped watching its queue

    def _forget_trigger(self, trigger: Trigger) -> None:
        key = (trigger.function_name, trigger.trigger_name)
        self._disarm(key)
        self._trigger_parsed.pop(key, None)
        self._trigger_anchor.pop(key, None)
        self.triggers.get(trigger.function_name, {}).pop(trigger.trigger_name, None)
        self._hook_sends()

    def _disarm(self, key: _Key) -> None:
        timer = self._trigger_timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _arm(self, key: _Key, config: TimerConfig, after_ms: int) -> None:
        due = config.schedule.next_after(after_ms, self._trigger_anchor[key])
        if due is None:
            return
        self._trigger_timers[key] = self.scheduler.call_at(
            due, self._timer_fired(key, config, due), name=f"trigger {key[0]}/{key[1]}",
            kind="trigger")

    def _timer_fired(self, key: _Key, config: TimerConfig, due: int) -> Callable[[], None]:
        def fire() -> None:
            self._trigger_timers.pop(key, None)
            trigger = self.triggers.get(key[0], {}).get(key[1])
            if trigger is None or self._trigger_parsed.get(key) is not config:
                return
            self._arm(key, config, due)
            self._start_or_log(trigger, events.timer_event(key[1], due, config.payload))
            self.store_touched()  # durable mode: the next due time with this fire's task
        return fire

    def _start(self, trigger: Trigger, event: bytes) -> Task:
        """The async invocation of a fire, on the trigger's qualifier (an FcError when FC
        would refuse it: the function's invocation disabled, the qualifier gone)."""
        function = self._function(trigger.function_name)
        qualifier = self._qualifier(function, trigger.qualifier)
        self._check_enabled(function)
        return self.tasks.submit(function, qualifier, event, task_id=None, delay_s=0)

    def _start_or_log(self, trigger: Trigger, event: bytes) -> bool:
        """:meth:`_start` for fires nobody asked for (timer, topic, queue): a refusal is
        logged, not raised (the fire is lost, as FC's would be)."""
        try:
            self._start(trigger, event)
        except FcError as exc:
            log.warning("trigger %s of function %s: not invoked: %s: %s", trigger.trigger_name,
                        trigger.function_name, exc.code, exc.message)
            return False
        return True

    def _watching(self, kind: type, match: Callable[[ParsedConfig], bool]) -> list[Trigger]:
        found = []
        for (fn, name), parsed in self._trigger_parsed.items():
            if isinstance(parsed, kind) and match(parsed) and fn in self.functions:
                found.append(self.triggers[fn][name])
        return found

    def _topic_published(self, topic: str, message: Message, tag: str) -> None:
        """An SMQ hook: a message published to ``topic``."""
        for trigger in self._watching(TopicConfig, lambda p: isinstance(p, TopicConfig)
                                      and p.topic == topic
                                      and (not p.filter_tag or p.filter_tag == tag)):
            parsed = self._trigger_parsed[(trigger.function_name, trigger.trigger_name)]
            assert isinstance(parsed, TopicConfig)
            self._start_or_log(trigger, events.topic_event(
                fmt=parsed.notify_content_format, owner=self.settings.account_id, topic=topic,
                subscription=trigger.trigger_name, message_id=message.message_id,
                body=message.body, body_md5=message.body_md5, tag=tag,
                publish_ms=message.enqueue_time))
