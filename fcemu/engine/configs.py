"""The async invoke configs and concurrency configs of functions: Put, Get, Delete and List
of each (spec §5.1), and the async config a qualifier runs with
(:meth:`ConfigOperations.effective_async_config`: its own, else LATEST's, else the defaults).

A mixin of :class:`fcemu.engine.Engine`; the engine owns the state declared below.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fcemu.destinations import parse_destination
from fcemu.errors import AsyncConfigNotExists, ConcurrencyConfigNotFound, InvalidArgument
from fcemu.models import LATEST, AsyncConfig, ConcurrencyConfig

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.models import Function
    from fcemu.specs import AsyncConfigSpec


#: A ListAsyncInvokeConfigs ``nextToken``: ``<function>:<qualifier>`` (neither has a colon).
_CONFIG_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_$-]{0,199}):([A-Za-z0-9_-]{1,128})")


def config_token(key: tuple[str, str]) -> str:
    """The ``nextToken`` of a page whose next config is ``key`` (function, qualifier)."""
    return f"{key[0]}:{key[1]}"


def config_position(token: str) -> tuple[str, str]:
    """The (function, qualifier) a ``nextToken`` names, compared as the list is sorted (a
    position, not an existing config: one deleted meanwhile still names one); the first
    position for no token. InvalidArgument, as ListAsyncTasks's, when it names none."""
    if not token:
        return "", ""
    match = _CONFIG_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidArgument(f"invalid nextToken {token!r}: pass the nextToken "
                              "of the previous page unchanged")
    return match[1], match[2]


class ConfigOperations:
    """Async invoke configs and concurrency configs (see the module docstring)."""

    clock: RealClock | ManualClock
    async_configs: dict[tuple[str, str], AsyncConfig]
    concurrency: dict[str, ConcurrencyConfig]

    if TYPE_CHECKING:  # the engine's (fcemu.engine.functions, fcemu.engine.versions)
        def _function(self, name: str) -> Function: ...

        def _qualifier(self, function: Function, qualifier: str | None) -> str: ...

        def arn(self, function_name: str) -> str: ...

    # -- async invoke configs -------------------------------------------------------

    def put_async_invoke_config(self, name: str, qualifier: str | None,
                                spec: AsyncConfigSpec) -> AsyncConfig:
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        for key, arn in (("onSuccess", spec.on_success), ("onFailure", spec.on_failure)):
            if arn is not None:
                try:
                    parse_destination(arn)
                except InvalidArgument as exc:
                    raise InvalidArgument(f"destinationConfig.{key}: {exc.message}") from None
        now = self.clock.now_ms()
        previous = self.async_configs.get((name, qualifier))
        config = AsyncConfig(
            function_name=name, qualifier=qualifier,
            # a version's or alias's config names it in its ARN, as its result messages do
            function_arn=function.arn if qualifier == LATEST else f"{function.arn}/{qualifier}",
            created_ms=previous.created_ms if previous else now, modified_ms=now,
            async_task=spec.async_task, max_async_retry_attempts=spec.max_async_retry_attempts,
            max_async_event_age_in_seconds=spec.max_async_event_age_in_seconds,
            on_success=spec.on_success, on_failure=spec.on_failure,
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
        """ListAsyncInvokeConfigs: by (function, qualifier), from the position ``next_token``
        names on (:func:`config_position`): each config is listed once, and the last page
        has no token (spec §5.2)."""
        if function_name:
            self._function(function_name)
        start = config_position(next_token)
        keys = sorted(k for k in self.async_configs
                      if (not function_name or k[0] == function_name) and k >= start)
        page = [self.async_configs[k] for k in keys[:limit]]
        return page, (config_token(keys[limit]) if len(keys) > limit else "")

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
