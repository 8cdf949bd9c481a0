"""The Python API's version, alias and invocation-switch operations.

A mixin of :class:`fcemu.server.Emulator`: each method is one engine call marshalled
onto the emulator loop; versions and aliases come back as the wire dicts
PublishFunctionVersion and GetAlias answer with (``versionId``, ``aliasName``,
``additionalVersionWeight`` …). ``qualifier=`` on :meth:`~fcemu.Emulator.invoke` and
:meth:`~fcemu.Emulator.put_async_invoke_config` names a version or an alias.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fcemu.api.versions import alias, version
from fcemu.engine import AliasSpec, Engine

T = TypeVar("T")

__all__ = ["EmulatorVersions"]


class EmulatorVersions:
    """Versions, aliases, DisableFunctionInvocation from Python (see the module docstring)."""

    def call(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = 600.0) -> T:
        raise NotImplementedError

    def publish_version(self, function_name: str, description: str = "") -> dict[str, Any]:
        """PublishFunctionVersion: the function's code and configuration now, as version N."""

        async def publish(engine: Engine) -> dict[str, Any]:
            return version(engine.publish_function_version(function_name, description))

        return self.call(publish)

    def list_versions(self, function_name: str) -> list[dict[str, Any]]:
        """ListFunctionVersions, oldest first (every page)."""

        async def listing(engine: Engine) -> list[dict[str, Any]]:
            found, token = [], ""
            while True:
                page, token = engine.list_function_versions(
                    function_name, direction="FORWARD", limit=100, next_token=token)
                found += [version(v) for v in page]
                if not token:
                    return found

        return self.call(listing)

    def create_alias(self, function_name: str, alias_name: str, version_id: str, *,
                     weights: dict[str, float] | None = None,
                     description: str | None = None) -> dict[str, Any]:
        """CreateAlias; ``weights`` is ``additionalVersionWeight`` (``{"2": 0.1}``)."""
        spec = AliasSpec(alias_name=alias_name, version_id=version_id, description=description,
                         additional_version_weight=weights)

        async def create(engine: Engine) -> dict[str, Any]:
            return alias(engine.create_alias(function_name, spec))

        return self.call(create)

    def update_alias(self, function_name: str, alias_name: str, *,
                     version_id: str | None = None, weights: dict[str, float] | None = None,
                     description: str | None = None) -> dict[str, Any]:
        """UpdateAlias: what is given changes (``weights={}`` ends a canary)."""
        spec = AliasSpec(version_id=version_id, description=description,
                         additional_version_weight=weights)

        async def update(engine: Engine) -> dict[str, Any]:
            return alias(engine.update_alias(function_name, alias_name, spec))

        return self.call(update)

    def delete_alias(self, function_name: str, alias_name: str) -> None:
        async def delete(engine: Engine) -> None:
            engine.delete_alias(function_name, alias_name)

        self.call(delete)

    def disable_invocation(self, function_name: str, *, reason: str = "",
                           abort_ongoing_request: bool = False) -> None:
        """DisableFunctionInvocation: invocations are refused, queued tasks wait."""

        async def disable(engine: Engine) -> None:
            engine.disable_function_invocation(
                function_name, abort_ongoing_request=abort_ongoing_request, reason=reason)

        self.call(disable)

    def enable_invocation(self, function_name: str) -> None:
        """EnableFunctionInvocation: the waiting tasks run at once."""

        async def enable(engine: Engine) -> None:
            engine.enable_function_invocation(function_name)

        self.call(enable)
