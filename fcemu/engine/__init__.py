"""The engine package: the one owner of emulator state and its one front door.

- :mod:`fcemu.engine.core`: :class:`Engine` (state, collaborators, reset, the async
  invoke config, concurrency, invocation and async-task operations);
- :mod:`fcemu.engine.functions`: the function operations (CreateFunction … DeleteFunction);
- :mod:`fcemu.engine.versions`: versions, aliases, qualifiers, Disable/EnableFunctionInvocation;
- :mod:`fcemu.engine.control`: fcemu's own control operations (clock, queues peeks, task
  logs, instances, scripted faults, follow mode).

Outer layers import from here, never from the modules inside.
"""

from __future__ import annotations

from fcemu.engine.core import (
    ASYNC_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    Engine,
    InvocationResult,
    Runner,
    RunnerFactory,
    ServerFailure,
    default_runtimes,
)
from fcemu.engine.snapshots import SnapshotInfo
from fcemu.engine.versions import AliasSpec

__all__ = ["ASYNC_PAYLOAD_LIMIT", "SYNC_PAYLOAD_LIMIT", "AliasSpec", "Engine", "InvocationResult",
           "Runner",
           "RunnerFactory", "ServerFailure", "SnapshotInfo", "default_runtimes"]
