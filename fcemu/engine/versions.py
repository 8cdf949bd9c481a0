"""The engine's version, alias and invocation-switch operations, and qualifier resolution.

A mixin of :class:`fcemu.engine.Engine`; the engine owns the state declared below
(``versions``, ``aliases``, built empty by :meth:`VersionOperations._build_versions`).

- PublishFunctionVersion snapshots LATEST's code and configuration as an immutable
  :class:`~fcemu.models.Version` (IDs ``1``, ``2`` … per function, never reused);
  ListFunctionVersions pages them (``direction`` ``BACKWARD``, the default, newest
  first, or ``FORWARD``); DeleteFunctionVersion refuses a version an alias points at.
  A version's code directory is LATEST's at publish time and outlives later updates of
  LATEST (:meth:`VersionOperations._code_in_use`).
- CreateAlias … DeleteAlias: an alias points at a version, with at most one canary
  version and weight (``additionalVersionWeight``). Each alias draws its canary split
  from its own generator, seeded from the emulator seed, the function and the alias
  name: the same seed gives the same split, whatever else runs.
- :meth:`VersionOperations._qualifier` checks a qualifier (LATEST, a version, an alias)
  for every operation that takes one; :meth:`VersionOperations.resolve_invocation` picks
  the snapshot an execution runs (the canary draw happens there, once per execution).
- DisableFunctionInvocation / EnableFunctionInvocation: a disabled function refuses
  invocations (:class:`~fcemu.errors.PreconditionFailed`, naming the reason); its queued
  async tasks wait (:mod:`fcemu.tasks`) and are dispatched again when it is enabled.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.checks import check_decimal
from fcemu.errors import (
    AdditionalVersionContainsMajorVersion,
    AliasAlreadyExists,
    AliasNotFound,
    InvalidArgument,
    PreconditionFailed,
    VersionNotFound,
)
from fcemu.models import LATEST, Alias, AsyncConfig, Function, Restriction, Version
from fcemu.runtime import UNHANDLED, Invocation, Outcome, error_body

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.code import CodeStore
    from fcemu.engine.control import Runner
    from fcemu.ids import IdGenerator
    from fcemu.scheduler import Scheduler
    from fcemu.tasks import AsyncTasks

#: FC alias names: a letter or ``_`` first, then letters, digits, ``_`` and ``-``; 1–128.
ALIAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
DIRECTIONS = ("BACKWARD", "FORWARD")
#: The largest ListFunctionVersions ``nextToken`` (a version ID) read.
_MAX_TOKEN = 10**18


@dataclass(frozen=True)
class AliasSpec:
    """CreateAlias / UpdateAlias input, checked as it is built (None: not given).

    ``additional_version_weight`` maps at most one version ID to a weight in [0, 1].
    """

    alias_name: str | None = None
    version_id: str | None = None
    description: str | None = None
    additional_version_weight: dict[str, float] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.alias_name is not None:
            check_alias_name(self.alias_name)
        if self.version_id is not None:
            check_version_id(self.version_id, "versionId")
        if self.description is not None and (not isinstance(self.description, str)
                                             or len(self.description) > 256):
            raise InvalidArgument("description must be a string of at most 256 characters")
        if self.additional_version_weight is not None:
            object.__setattr__(self, "additional_version_weight",
                               check_weights(self.additional_version_weight))
            if self.version_id in self.additional_version_weight:
                raise AdditionalVersionContainsMajorVersion(self.additional_version_weight,
                                                            self.version_id)


def check_alias_name(name: Any) -> str:
    if not isinstance(name, str) or not ALIAS_NAME.match(name) or name == LATEST:
        raise InvalidArgument(
            f"aliasName {name!r} is invalid: 1-128 letters, digits, '_' or '-', starting with "
            "a letter or '_', and not LATEST")
    return name


def check_version_id(value: Any, key: str) -> str:
    if (not isinstance(value, str) or not value.isascii() or not value.isdigit()
            or value.startswith("0")):
        raise InvalidArgument(f"{key} must be a published version ID such as \"1\", "
                              f"got {value!r}")
    return value


def check_weights(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidArgument("additionalVersionWeight must be an object such as {\"2\": 0.1}")
    if len(value) > 1:
        raise InvalidArgument("additionalVersionWeight holds at most one canary version, "
                              f"got {len(value)}")
    weights: dict[str, float] = {}
    for version_id, weight in value.items():
        check_version_id(version_id, "additionalVersionWeight key")
        if isinstance(weight, bool) or not isinstance(weight, int | float) \
                or not 0 <= weight <= 1:
            raise InvalidArgument(f"additionalVersionWeight[{version_id!r}] must be a number "
                                  f"from 0 to 1, got {weight!r}")
        weights[version_id] = float(weight)
    return weights


class VersionOperations:
    """Versions, aliases, qualifiers and the invocation switch (see the module docstring)."""

    clock: RealClock | ManualClock
    ids: IdGenerator
    scheduler: Scheduler
    runtimes: Runner
    code: CodeStore
    tasks: AsyncTasks
    functions: dict[str, Function]
    async_configs: dict[tuple[str, str], AsyncConfig]
    _function: Callable[[str], Function]  # FunctionOperations's lookup (404 when unknown)
    #: function name -> version ID -> version, in publish order
    versions: dict[str, dict[str, Version]]
    #: function name -> alias name -> alias
    aliases: dict[str, dict[str, Alias]]

    def _build_versions(self) -> None:
        """The state of this mixin, empty (engine start and every reset)."""
        self.versions = {}
        self.aliases = {}
        self._last_version: dict[str, int] = {}
        self._canary: dict[tuple[str, str], random.Random] = {}
        #: function name -> request IDs executing now (DisableFunctionInvocation's abort;
        #: Engine.execute adds and removes them)
        self._executing: dict[str, set[str]] = {}

    # -- versions -------------------------------------------------------------------

    def publish_function_version(self, name: str, description: str = "") -> Version:
        """PublishFunctionVersion: LATEST's code and configuration, frozen as version N+1."""
        function = self._function(name)
        if not isinstance(description, str) or len(description) > 256:
            raise InvalidArgument("description must be a string of at most 256 characters")
        number = self._last_version.get(name, 0) + 1
        version_id = str(number)
        now = self.clock.now_ms()
        snapshot = dataclasses.replace(
            function, version_id=version_id, invocation_restriction=None,
            environment_variables=dict(function.environment_variables),
            custom_runtime_config=copy.deepcopy(function.custom_runtime_config),
            instance_lifecycle_config=copy.deepcopy(function.instance_lifecycle_config),
            extra=copy.deepcopy(function.extra), tags=copy.deepcopy(function.tags))
        version = Version(name, version_id, description, now, snapshot)
        self._last_version[name] = number
        self.versions.setdefault(name, {})[version_id] = version
        return version

    def list_function_versions(self, name: str, *, direction: str = "BACKWARD",
                               limit: int = 20, next_token: str = ""
                               ) -> tuple[list[Version], str]:
        """ListFunctionVersions: ``BACKWARD`` newest first (default), ``FORWARD`` oldest
        first; ``next_token`` is the version ID the page starts at."""
        self._function(name)
        if direction not in DIRECTIONS:
            raise InvalidArgument(f"direction must be BACKWARD or FORWARD, got {direction!r}")
        if next_token:
            check_version_id(next_token, "nextToken")
        backward = direction == "BACKWARD"
        ids = sorted((int(v) for v in self.versions.get(name, {})), reverse=backward)
        if next_token:  # digits (checked above), of a size int() reads
            start = check_decimal(next_token, "nextToken", 1, _MAX_TOKEN)
            ids = [i for i in ids if (i <= start if backward else i >= start)]
        page = [self.versions[name][str(i)] for i in ids[:limit]]
        return page, str(ids[limit]) if len(ids) > limit else ""

    def get_function_version(self, name: str, version_id: str) -> Version:
        version = self.versions.get(self._function(name).name, {}).get(version_id)
        if version is None:
            raise VersionNotFound(name, version_id)
        return version

    def delete_function_version(self, name: str, version_id: str) -> None:
        """DeleteFunctionVersion: refused while an alias points at the version (FC's
        versions page: remove the aliases pointing at a version before deleting it)."""
        version = self.get_function_version(name, version_id)
        users = sorted(a.alias_name for a in self.aliases.get(name, {}).values()
                       if a.version_id == version_id
                       or version_id in a.additional_version_weight)
        if users:
            raise PreconditionFailed(
                f"version '{version_id}' of function '{name}' is used by alias(es) "
                f"{', '.join(users)}: point them at another version or delete them first")
        del self.versions[name][version_id]
        self.async_configs.pop((name, version_id), None)
        self.scheduler.spawn(self._retire_version(name, version.snapshot),
                             name=f"retire version {name}:{version_id}")

    # -- aliases --------------------------------------------------------------------

    def create_alias(self, name: str, spec: AliasSpec) -> Alias:
        """CreateAlias: ``aliasName`` and ``versionId`` are required."""
        self._function(name)
        if spec.alias_name is None:
            raise InvalidArgument("aliasName is required")
        if spec.version_id is None:
            raise InvalidArgument("versionId is required: the version the alias points at")
        if spec.alias_name in self.aliases.get(name, {}):
            raise AliasAlreadyExists(name, spec.alias_name)
        weights = spec.additional_version_weight or {}
        self._check_targets(name, spec.version_id, weights)
        now = self.clock.now_ms()
        alias = Alias(name, spec.alias_name, spec.version_id, spec.description or "", now, now,
                      dict(weights))
        self.aliases.setdefault(name, {})[alias.alias_name] = alias
        return alias

    def get_alias(self, name: str, alias_name: str) -> Alias:
        alias = self.aliases.get(self._function(name).name, {}).get(alias_name)
        if alias is None:
            raise AliasNotFound(name, alias_name)
        return alias

    def update_alias(self, name: str, alias_name: str, spec: AliasSpec) -> Alias:
        """UpdateAlias: what ``spec`` gives replaces the alias's value; checked first."""
        alias = self.get_alias(name, alias_name)
        version_id = spec.version_id or alias.version_id
        weights = (alias.additional_version_weight if spec.additional_version_weight is None
                   else spec.additional_version_weight)
        self._check_targets(name, version_id, weights)
        alias.version_id, alias.additional_version_weight = version_id, dict(weights)
        if spec.description is not None:
            alias.description = spec.description
        alias.modified_ms = self.clock.now_ms()
        return alias

    def list_aliases(self, name: str, prefix: str = "", limit: int = 20,
                     next_token: str = "") -> tuple[list[Alias], str]:
        """ListAliases: by name, from ``next_token`` (an alias name) on."""
        self._function(name)
        aliases = self.aliases.get(name, {})
        names = sorted(a for a in aliases if a.startswith(prefix) and a >= next_token)
        return [aliases[a] for a in names[:limit]], names[limit] if len(names) > limit else ""

    def delete_alias(self, name: str, alias_name: str) -> None:
        self.get_alias(name, alias_name)
        del self.aliases[name][alias_name]
        self._canary.pop((name, alias_name), None)
        self.async_configs.pop((name, alias_name), None)

    def _check_targets(self, name: str, version_id: str, weights: dict[str, float]) -> None:
        if version_id in weights:
            raise AdditionalVersionContainsMajorVersion(weights, version_id)
        for target in (version_id, *weights):
            self.get_function_version(name, target)

    # -- qualifiers -----------------------------------------------------------------

    def _qualifier(self, function: Function, qualifier: str | None) -> str:
        """A qualifier as given, once checked: LATEST (also for none), a published version
        of the function, or one of its aliases; 404 ``VersionNotFound`` /
        ``AliasNotFound`` otherwise."""
        if qualifier in (None, "", LATEST):
            return LATEST
        assert qualifier is not None
        if qualifier.isdigit():
            if qualifier not in self.versions.get(function.name, {}):
                raise VersionNotFound(function.name, qualifier)
        elif qualifier not in self.aliases.get(function.name, {}):
            raise AliasNotFound(function.name, qualifier)
        return qualifier

    def _published(self, function: Function, qualifier: str) -> Function:
        """What a checked qualifier names: LATEST, a version's snapshot, or the snapshot of
        the version an alias points at (no canary draw)."""
        if qualifier == LATEST:
            return function
        if not qualifier.isdigit():
            qualifier = self.get_alias(function.name, qualifier).version_id
        return self.get_function_version(function.name, qualifier).snapshot

    def traffic_versions(self, function: Function, qualifier: str) -> frozenset[str]:
        """The versions a checked qualifier sends executions to ("" for LATEST): the one it
        names, or an alias's version and its canary version (ListInstances lists the
        instances on this traffic path)."""
        if qualifier == LATEST:
            return frozenset({""})
        if qualifier.isdigit():
            return frozenset({qualifier})
        alias = self.get_alias(function.name, qualifier)
        return frozenset({alias.version_id, *alias.additional_version_weight})

    def resolve(self, function: Function, qualifier: str) -> Function:
        """The function an execution through ``qualifier`` runs: LATEST itself, a version's
        snapshot, or an alias's version (its canary version with the canary weight)."""
        if qualifier == LATEST:
            return function
        if qualifier.isdigit():
            return self.get_function_version(function.name, qualifier).snapshot
        alias = self.get_alias(function.name, qualifier)
        version_id = alias.version_id
        for canary, weight in alias.additional_version_weight.items():
            if self._canary_rng(function.name, qualifier).random() < weight:
                version_id = canary
        return self.get_function_version(function.name, version_id).snapshot

    def resolve_invocation(self, invocation: Invocation) -> Invocation | Outcome:
        """The invocation with the function its qualifier runs, or the error outcome of a
        qualifier that is gone (an alias or version deleted while a task waited)."""
        try:
            function = self.resolve(invocation.function, invocation.qualifier)
        except (AliasNotFound, VersionNotFound) as exc:
            return Outcome("error", error_body(exc.message, exc.code), UNHANDLED)
        if function is invocation.function:
            return invocation
        return dataclasses.replace(invocation, function=function)

    def _canary_rng(self, name: str, alias: str) -> random.Random:
        rng = self._canary.get((name, alias))
        if rng is None:
            rng = self._canary[(name, alias)] = random.Random(
                f"{self.ids.seed}/canary/{name}/{alias}")
        return rng

    # -- code of versions -------------------------------------------------------------

    def _code_in_use(self, path: Path) -> bool:
        """Whether a published version (or a function) still runs from ``path``: its code
        directory, or its merged layers (``/opt``)."""
        functions = [v.snapshot for vs in self.versions.values() for v in vs.values()]
        functions += self.functions.values()
        return any(path in (f.code_dir, f.opt_dir) for f in functions)

    async def _retire_version(self, name: str, snapshot: Function) -> None:
        """A deleted version's instances go once their requests end (none can reach it any
        more; only UpdateFunction and DeleteFunction stop all of a function's instances),
        then its code directories, unless something else runs from them."""
        await self.runtimes.retire_version(name, snapshot.version_id)
        for path in (snapshot.code_dir, snapshot.opt_dir):
            if path is not None and not self._code_in_use(path):
                await self.code.remove(path)

    def _drop_versions(self, name: str) -> None:
        """DeleteFunction: its versions and aliases go, and their code directories."""
        self.aliases.pop(name, None)
        for key in [k for k in self._canary if k[0] == name]:
            del self._canary[key]
        self._last_version.pop(name, None)
        for version in self.versions.pop(name, {}).values():
            self.scheduler.spawn(self._retire_version(name, version.snapshot),
                                 name=f"retire version {name}:{version.version_id}")

    # -- disable / enable -------------------------------------------------------------

    def disable_function_invocation(self, name: str, *, abort_ongoing_request: bool = False,
                                    reason: str = "") -> None:
        """DisableFunctionInvocation: invocations are refused from now on; queued async
        tasks wait; with ``abort_ongoing_request`` the executions running now are stopped
        (an async attempt stopped so is retried once the function is enabled again)."""
        function = self._function(name)
        if not isinstance(reason, str) or len(reason) > 256:
            raise InvalidArgument("reason must be a string of at most 256 characters")
        function.invocation_restriction = Restriction(True, reason, self.clock.now_ms())
        if abort_ongoing_request:
            for request_id in sorted(self._executing.get(name, ())):
                self.scheduler.spawn(self.runtimes.stop(request_id),
                                     name=f"abort {name} {request_id}")

    def enable_function_invocation(self, name: str) -> None:
        """EnableFunctionInvocation: invocations are accepted again and the async tasks that
        waited are dispatched now (each still within its maxAsyncEventAgeInSeconds)."""
        function = self._function(name)
        function.invocation_restriction = Restriction(False, "", self.clock.now_ms())
        self.tasks.resume(name)

    def _check_enabled(self, function: Function) -> None:
        restriction = function.invocation_restriction
        if restriction is not None and restriction.disable:
            why = f" (reason: {restriction.reason})" if restriction.reason else ""
            raise PreconditionFailed(
                f"invocation of function '{function.name}' is disabled{why}: call "
                "EnableFunctionInvocation to invoke it again")
