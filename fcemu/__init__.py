"""fcemu: a local emulator of Alibaba Cloud Function Compute 3.0 async tasks.

Public surface only; see :class:`Emulator`.
"""

from __future__ import annotations

from fcemu.clock import Clock, ManualClock, RealClock, SettleTimeout
from fcemu.errors import FcError, SmqError
from fcemu.models import TaskStatus
from fcemu.server import Emulator, EmulatorClock, MessageView, QueueView, ServerSideError
from fcemu.settings import Settings

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
    "SettleTimeout",
    "Settings",
    "SmqError",
    "TaskStatus",
]
