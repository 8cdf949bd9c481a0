"""Running handlers: the contract between the engine and the runtimes (re-exports only).

The engine hands an :class:`Invocation` to :class:`Runtimes`
(:mod:`fcemu.runtime.runtimes`), which picks the implementation for the
function (in-process callable, Python worker process, custom runtime) and
returns an :class:`Outcome` (:mod:`fcemu.runtime.invocation`). Runtimes know
nothing of HTTP or of tasks; handler timeouts are enforced in real time (a
handler runs in real time even when the emulator clock is manual). No module
of this package imports the package itself: each imports the module that
owns a name.
"""

from __future__ import annotations

from fcemu.runtime.invocation import (
    Credentials,
    Invocation,
    Outcome,
    OutcomeKind,
    Runtime,
    crash_outcome,
    kb_to_mb,
    timeout_outcome,
)
from fcemu.runtime.pool import PoolUsage
from fcemu.runtime.protocol import INITIALIZATION_ERROR, UNHANDLED, error_body
from fcemu.runtime.runtimes import Runtimes

__all__ = [
    "INITIALIZATION_ERROR",
    "UNHANDLED",
    "Credentials",
    "Invocation",
    "Outcome",
    "OutcomeKind",
    "PoolUsage",
    "Runtime",
    "Runtimes",
    "crash_outcome",
    "error_body",
    "kb_to_mb",
    "timeout_outcome",
]
