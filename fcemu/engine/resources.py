"""The engine's ListInstances on FC's own route (``GET /2023-03-30/functions/{name}/instances``):
the handler instances of a function alive now, filtered and paged as FC's ListInstances
query asks (docs/fidelity.md "ListInstances").

A mixin of :class:`fcemu.engine.Engine`; the engine owns the state declared below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fcemu.errors import InvalidArgument
from fcemu.models import LATEST

if TYPE_CHECKING:
    from fcemu.engine.control import Runner
    from fcemu.models import Function

#: ``InstanceInfo.status`` of an instance alive now (fcemu lists no destroyed instances).
RUNNING = "Running"


@dataclass(frozen=True)
class InstanceInfo:
    """One ``InstanceInfo`` of ListInstances."""

    instance_id: str
    qualifier: str
    version_id: str
    status: str


@dataclass(frozen=True)
class InstanceQuery:
    """ListInstances' query: which instances, how many, from where."""

    instance_ids: Sequence[str] = ()
    statuses: Sequence[str] = ()
    limit: int = 1000
    start_key: str = ""
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    with_all_active: bool = False


class ResourceOperations:
    """ListInstances (see the module docstring)."""

    runtimes: Runner

    if TYPE_CHECKING:  # the engine's (fcemu.engine.functions)
        def _function(self, name: str) -> Function: ...

        def _qualifier(self, function: Function, qualifier: str | None) -> str: ...

    def list_instances(self, name: str, qualifier: str | None = None,
                       query: InstanceQuery | None = None) -> tuple[list[InstanceInfo], str]:
        """ListInstances: the function's instances alive now, by instance ID; the next page's
        ``startKey`` ("" at the end).

        Every listed instance is active (``Running``): fcemu keeps no destroyed instances,
        so ``withAllActive`` lists what a time range does, and ``startTimeMs``/``endTimeMs``
        (checked) keep every instance, each alive now. ``versionId`` is ``0`` for LATEST
        (FC's value), else the version the qualifier names."""
        query = query or InstanceQuery()
        qualifier = self._qualifier(self._function(name), qualifier)
        if (query.start_time_ms is not None and query.end_time_ms is not None
                and query.start_time_ms > query.end_time_ms):
            raise InvalidArgument(f"startTimeMs ({query.start_time_ms}) is after endTimeMs "
                                  f"({query.end_time_ms})")
        version = "0" if qualifier == LATEST else qualifier if qualifier.isdigit() else ""
        infos = sorted((InstanceInfo(str(i["instanceId"]), qualifier, version, RUNNING)
                        for i in self.runtimes.instances() if i.get("functionName") == name),
                       key=lambda info: info.instance_id)
        infos = [info for info in infos
                 if (not query.instance_ids or info.instance_id in query.instance_ids)
                 and (not query.statuses or info.status in query.statuses)
                 and info.instance_id > query.start_key]
        page = infos[:query.limit]
        more = len(infos) > query.limit and query.limit > 0
        return page, page[-1].instance_id if more and page else ""
