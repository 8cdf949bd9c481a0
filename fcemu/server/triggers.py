"""The Python API's trigger operations: CreateTrigger … DeleteTrigger, firing a trigger,
an HTTP trigger's URL and the next timer fires.

A mixin of :class:`fcemu.server.Emulator`: each method is one engine call marshalled
onto the emulator loop; triggers come back as the wire dicts GetTrigger answers with
(``triggerConfig`` a JSON string, ``httpTrigger.urlInternet`` pointing at this emulator).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fcemu.api.triggers import http_trigger_url, trigger
from fcemu.engine import Engine
from fcemu.triggers import TriggerSpec

T = TypeVar("T")

__all__ = ["EmulatorTriggers"]


def _config_text(config: dict[str, Any] | str | None) -> str | None:
    if config is None or isinstance(config, str):
        return config
    return json.dumps(config, separators=(",", ":"))


class EmulatorTriggers:
    """Triggers from Python (see the module docstring)."""

    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    def call(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = 600.0) -> T:
        raise NotImplementedError

    def create_trigger(self, function_name: str, trigger_name: str, trigger_type: str,
                       config: dict[str, Any] | str | None = None, *,
                       qualifier: str | None = None, source_arn: str | None = None,
                       invocation_role: str | None = None,
                       description: str | None = None) -> dict[str, Any]:
        """CreateTrigger; ``config`` is the ``triggerConfig`` (a dict is serialised)."""
        spec = TriggerSpec(trigger_name=trigger_name, trigger_type=trigger_type,
                           trigger_config=_config_text(config), qualifier=qualifier,
                           source_arn=source_arn, invocation_role=invocation_role,
                           description=description)
        base = self.endpoint

        async def create(engine: Engine) -> dict[str, Any]:
            return trigger(engine.create_trigger(function_name, spec), base)

        return self.call(create)

    def get_trigger(self, function_name: str, trigger_name: str) -> dict[str, Any]:
        base = self.endpoint

        async def get(engine: Engine) -> dict[str, Any]:
            return trigger(engine.get_trigger(function_name, trigger_name), base)

        return self.call(get)

    def update_trigger(self, function_name: str, trigger_name: str,
                       config: dict[str, Any] | str | None = None, *,
                       qualifier: str | None = None, invocation_role: str | None = None,
                       description: str | None = None) -> dict[str, Any]:
        """UpdateTrigger: what is given changes (a timer re-arms from now when its config
        changed)."""
        spec = TriggerSpec(trigger_config=_config_text(config), qualifier=qualifier,
                           invocation_role=invocation_role, description=description)
        base = self.endpoint

        async def update(engine: Engine) -> dict[str, Any]:
            return trigger(engine.update_trigger(function_name, trigger_name, spec), base)

        return self.call(update)

    def list_triggers(self, function_name: str, prefix: str = "") -> list[dict[str, Any]]:
        """Every trigger of a function (by name), ``prefix`` filtering."""
        base = self.endpoint

        async def listing(engine: Engine) -> list[dict[str, Any]]:
            token, out = "", list[dict[str, Any]]()
            while True:
                found, token = engine.list_triggers(function_name, prefix, 100, token)
                out.extend(trigger(t, base) for t in found)
                if not token:
                    return out

        return self.call(listing)

    def delete_trigger(self, function_name: str, trigger_name: str) -> None:
        async def delete(engine: Engine) -> None:
            engine.delete_trigger(function_name, trigger_name)

        self.call(delete)

    def fire_trigger(self, function_name: str, trigger_name: str,
                     event: bytes | str | dict[str, Any] | list[Any] | None = None) -> str:
        """Start the invocation the trigger would start, now; returns its task ID.
        ``event`` (a dict or list is serialised as JSON): the event to hand over; without
        it, the trigger's own (a timer's) or FC's documented sample for its type."""
        if isinstance(event, (dict, list)):
            event = json.dumps(event)
        data = event.encode("utf-8") if isinstance(event, str) else event

        async def fire(engine: Engine) -> str:
            return engine.fire_trigger(function_name, trigger_name, data).task_id

        return self.call(fire)

    def http_trigger_url(self, function_name: str, trigger_name: str, *,
                         intranet: bool = False) -> str:
        """The URL this emulator serves the HTTP trigger at (its ``urlInternet``; with
        ``intranet``, its ``urlIntranet``, open even with ``disableURLInternet``)."""
        base = self.endpoint

        async def url(engine: Engine) -> str:
            engine.http_trigger_config(function_name, trigger_name)
            return http_trigger_url(base, function_name, trigger_name, intranet=intranet)

        return self.call(url)

    def next_trigger_fires(self) -> list[tuple[str, str, int]]:
        """``(function, trigger, due epoch ms)`` of every armed timer trigger, in due order."""
        async def fires(engine: Engine) -> list[tuple[str, str, int]]:
            return engine.next_trigger_fires()

        return self.call(fires)
