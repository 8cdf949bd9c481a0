"""The engine's whole state as data, and restoring it (issue 17).

A mixin of :class:`fcemu.engine.Engine`. :meth:`StateOperations.capture_state` gathers
each part's plain data (each part owns its ``to_state``/``load_state``:
:class:`~fcemu.tasks.AsyncTasks`, :class:`~fcemu.smq.Smq`,
:class:`~fcemu.ids.IdGenerator`) with the engine's own records (functions, async configs,
concurrency, versions and aliases with their canary generators, triggers with their next
fire, layers, EventBridge log: the entries whose tasks' records are still kept), the clock and
the seed. :meth:`restore_state` empties the
engine as a reset does (every instance and execution ends), then loads that data: the
next IDs, the clock, the queue order and every waiting task's timer are what they were
(timers are rebuilt from task data, never pickled callbacks). What is not state stays out:
handler instances, running executions (a task captured Running had its attempt cut
short: it counts as an instance crash and follows its retry policy), metrics windows,
scripted faults (test scripts: a restore clears them, like a reset) and long polls.

Snapshots of that state, kept by ID and written to files: :mod:`fcemu.engine.snapshots`.
"""

from __future__ import annotations

import copy
import gc
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu import gcpolicy
from fcemu.clock import ManualClock, RealClock
from fcemu.errors import InvalidArgument
from fcemu.models import (
    Alias,
    AsyncConfig,
    Attempt,
    ConcurrencyConfig,
    Function,
    LayerVersion,
    Restriction,
    TaskEvent,
    TaskStatus,
    Version,
)
from fcemu.triggers.model import QueueConfig, TimerConfig, Trigger, parse_stored_config

if TYPE_CHECKING:
    from fcemu.code import CodeStore
    from fcemu.destinations import Delivery
    from fcemu.eventbus import EventBusLog
    from fcemu.follow import TimeFollower
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler, Timer
    from fcemu.settings import Settings
    from fcemu.smq import Smq
    from fcemu.tasks import AsyncTasks
    from fcemu.triggers.model import ParsedConfig

__all__ = ["FILE_TYPES", "STATE_VERSION", "StateOperations", "code_paths", "repoint"]

#: The version of :meth:`StateOperations.capture_state`'s layout.
STATE_VERSION = 1
#: The record types a snapshot file may hold (:mod:`fcemu.store.codec`).
FILE_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    Function, Restriction, Version, Alias, AsyncConfig, ConcurrencyConfig, LayerVersion,
    Trigger, Attempt, TaskEvent, TaskStatus)}


class StateOperations:
    """Capture and restore (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    tasks: AsyncTasks
    delivery: Delivery
    code: CodeStore
    functions: dict[str, Function]
    async_configs: dict[tuple[str, str], AsyncConfig]
    concurrency: dict[str, ConcurrencyConfig]
    versions: dict[str, dict[str, Version]]
    aliases: dict[str, dict[str, Alias]]
    _last_version: dict[str, int]
    _canary: dict[tuple[str, str], random.Random]
    triggers: dict[str, dict[str, Trigger]]
    _trigger_parsed: dict[tuple[str, str], ParsedConfig]
    _trigger_timers: dict[tuple[str, str], Timer]
    _trigger_anchor: dict[tuple[str, str], int]
    layer_versions: dict[str, dict[int, LayerVersion]]
    _layer_last: dict[str, int]
    _layer_acl: dict[str, str]
    _layer_map: dict[str, Path]
    eventbus_log: EventBusLog
    _smq: Smq
    _follower: TimeFollower | None

    close: Callable[[], Awaitable[None]]
    _build: Callable[[], None]
    _timer_fired: Callable[[tuple[str, str], TimerConfig, int], Callable[[], None]]
    _consume_soon: Callable[[str, int], None]

    # -- the state as data ------------------------------------------------------------

    def capture_state(self) -> dict[str, Any]:
        """The whole emulator state as data (see the module docstring). Model records are
        copies: later changes to the emulator do not reach the returned state."""
        return {
            "version": STATE_VERSION,
            "clock": {"mode": self.clock.mode, "now_ms": self.clock.now_ms()},
            "seed": self.settings.seed,
            "ids": self.ids.to_state(),
            **self.capture_records(),
            "smq": self._smq.to_state(),
            "tasks": self.tasks.to_state(),
        }

    def capture_records(self) -> dict[str, Any]:
        """The engine's own records (functions … EventBridge log), copied: the part of
        :meth:`capture_state` that is neither tasks, SMQ, IDs nor the clock."""
        memo = _handler_memo(self.functions.values(), self.versions)
        triggers = [t for by_name in self.triggers.values() for t in by_name.values()]
        fires = [(key[0], key[1], timer.due_ms) for key, timer in self._trigger_timers.items()
                 if not timer.cancelled and not timer.fired]
        return {
            "functions": copy.deepcopy(list(self.functions.values()), memo),
            "async_configs": copy.deepcopy(list(self.async_configs.values())),
            "concurrency": copy.deepcopy(list(self.concurrency.values())),
            "versions": copy.deepcopy(self.versions, memo),
            "aliases": copy.deepcopy(self.aliases),
            "last_version": dict(self._last_version),
            "canary": [(key[0], key[1], rng.getstate()) for key, rng in self._canary.items()],
            "triggers": copy.deepcopy(triggers),
            "trigger_anchor": [(k[0], k[1], at) for k, at in self._trigger_anchor.items()],
            "trigger_fires": fires,
            "layers": {"versions": copy.deepcopy(self.layer_versions),
                       "last": dict(self._layer_last), "acl": dict(self._layer_acl),
                       "map": dict(self._layer_map)},
            "eventbus_log": copy.deepcopy(self._eventbus_kept()),
        }

    async def restore_state(self, state: dict[str, Any]) -> None:
        """Put the emulator back to ``state`` (:meth:`capture_state`'s): everything now
        goes as at a reset, then the state is loaded. The clock mode stays the emulator's:
        a manual clock is set to the state's time, a real one keeps wall time."""
        if state.get("version") != STATE_VERSION:
            raise InvalidArgument(f"state version {state.get('version')!r} is not the one "
                                  f"this fcemu restores ({STATE_VERSION}): take it again")
        await self.close()
        if not isinstance(self.clock, RealClock):
            self.clock = ManualClock(int(state["clock"]["now_ms"]))
        if state["seed"] != self.settings.seed:
            self.settings = self.settings.replace(seed=state["seed"])
        self._build()
        self.ids.load_state(state["ids"])
        if self._follower is not None:
            self._follower.forget()
        collecting = gc.isenabled()
        gc.disable()  # a burst of new records, none garbage: no collection half-way
        try:
            self._load_records(state)
            self._smq.load_state(state["smq"])
            self.tasks.load_state(state["tasks"])
            self._load_triggers(state)
        finally:
            if collecting:
                gc.enable()
        gcpolicy.promote()  # the records just loaded are long-lived

    def _load_records(self, state: dict[str, Any]) -> None:
        memo = _handler_memo(state["functions"], state["versions"])
        for function in copy.deepcopy(state["functions"], memo):
            self.functions[function.name] = function
        for config in copy.deepcopy(state["async_configs"]):
            self.async_configs[(config.function_name, config.qualifier)] = config
        for reserved in copy.deepcopy(state["concurrency"]):
            self.concurrency[reserved.function_name] = reserved
        self.versions.update(copy.deepcopy(state["versions"], memo))
        self.aliases.update(copy.deepcopy(state["aliases"]))
        self._last_version.update(state["last_version"])
        for name, alias_name, rng_state in state["canary"]:
            rng = random.Random()
            rng.setstate(_as_tuple(rng_state))
            self._canary[(name, alias_name)] = rng
        layers = state["layers"]
        self.layer_versions.update(copy.deepcopy(layers["versions"]))
        self._layer_last.update(layers["last"])
        self._layer_acl.update(layers["acl"])
        self._layer_map.update(layers["map"])
        self.eventbus_log.load(copy.deepcopy(state["eventbus_log"]))

    def _eventbus_kept(self) -> list[dict[str, Any]]:
        """The EventBridge log's entries whose tasks' records are still kept."""
        self.eventbus_log.expire()
        return list(self.eventbus_log)

    def _load_triggers(self, state: dict[str, Any]) -> None:
        """Triggers, their parsed configs, and each timer trigger's next fire at the time
        it had; queue triggers look at their queue again."""
        for trigger in copy.deepcopy(state["triggers"]):
            key = (trigger.function_name, trigger.trigger_name)
            self.triggers.setdefault(key[0], {})[key[1]] = trigger
            self._trigger_parsed[key] = parse_stored_config(
                trigger.trigger_type, trigger.trigger_config or "", trigger.source_arn or "")
        for name, trigger_name, anchor in state["trigger_anchor"]:
            self._trigger_anchor[(name, trigger_name)] = int(anchor)
        now = self.clock.now_ms()
        for name, trigger_name, due in state["trigger_fires"]:
            key = (name, trigger_name)
            parsed = self._trigger_parsed.get(key)
            if isinstance(parsed, TimerConfig):
                at: int | None = int(due)
                if int(due) < now:  # a real clock after downtime: the slots missed are
                    # not made up, the schedule goes on from now (docs/triggers.md)
                    at = parsed.schedule.next_after(now, self._trigger_anchor.get(key, now))
                if at is None:
                    continue
                self._trigger_timers[key] = self.scheduler.call_at(
                    at, self._timer_fired(key, parsed, at),
                    name=f"trigger {name}/{trigger_name}", kind="trigger")
        for parsed in self._trigger_parsed.values():
            if isinstance(parsed, QueueConfig) and parsed.enable:
                self._consume_soon(parsed.queue, now)

def _functions_of(state: dict[str, Any]) -> list[Function]:
    found = list(state["functions"])
    found += [v.snapshot for by_id in state["versions"].values() for v in by_id.values()]
    return found


def code_paths(state: dict[str, Any]) -> list[Path]:
    """Every code directory the state's functions, versions and layer versions name."""
    paths = [p for f in _functions_of(state) for p in (f.code_dir, f.opt_dir) if p is not None]
    paths += [lv.code_dir for by_n in state["layers"]["versions"].values()
              for lv in by_n.values()]
    return paths


def repoint(state: dict[str, Any], moved: dict[Path, Path]) -> None:
    """Point the state's records at the moved code directories."""
    for function in _functions_of(state):
        if function.code_dir is not None:
            function.code_dir = moved.get(function.code_dir, function.code_dir)
        if function.opt_dir is not None:
            function.opt_dir = moved.get(function.opt_dir, function.opt_dir)
    for by_n in state["layers"]["versions"].values():
        for lv in by_n.values():
            lv.code_dir = moved.get(lv.code_dir, lv.code_dir)


def _handler_memo(functions: Any, versions: dict[str, dict[str, Version]]) -> dict[int, Any]:
    """A deepcopy memo that keeps in-process handlers as they are (a bound method would
    otherwise be copied with its object)."""
    every = list(functions) + [v.snapshot for vs in versions.values() for v in vs.values()]
    return {id(f.inprocess_handler): f.inprocess_handler for f in every
            if f.inprocess_handler is not None}


def _as_tuple(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value
