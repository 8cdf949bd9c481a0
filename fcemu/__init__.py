"""fcemu: a local emulator of Alibaba Cloud Function Compute 3.0 async tasks.

Public surface only; see :class:`Emulator`. Names are imported on first use
(PEP 562), so that ``import fcemu.clock`` or a handler worker process does not
pay for aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fcemu.clock import Clock, ManualClock, RealClock
    from fcemu.errors import FcError, SmqError
    from fcemu.models import TaskStatus
    from fcemu.scheduler import SettleTimeout
    from fcemu.server import Emulator
    from fcemu.server.views import EmulatorClock, MessageView, QueueView, ServerSideError
    from fcemu.settings import Settings

_WHERE = {
    "Clock": "fcemu.clock",
    "ManualClock": "fcemu.clock",
    "RealClock": "fcemu.clock",
    "SettleTimeout": "fcemu.scheduler",
    "FcError": "fcemu.errors",
    "SmqError": "fcemu.errors",
    "TaskStatus": "fcemu.models",
    "Emulator": "fcemu.server",
    "EmulatorClock": "fcemu.server.views",
    "MessageView": "fcemu.server.views",
    "QueueView": "fcemu.server.views",
    "ServerSideError": "fcemu.server.views",
    "Settings": "fcemu.settings",
}

__all__ = [
    "Clock",
    "Emulator",
    "EmulatorClock",
    "FcError",
    "ManualClock",
    "MessageView",
    "QueueView",
    "RealClock",
    "ServerSideError",
    "Settings",
    "SettleTimeout",
    "SmqError",
    "TaskStatus",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'fcemu' has no attribute {name!r}")
