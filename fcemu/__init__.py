"""fcemu: a local emulator of Alibaba Cloud Function Compute 3.0 async tasks.

Public surface only; see :class:`Emulator`. Names are imported on first use
(PEP 562), so that ``import fcemu.clock`` or a handler worker process does not
pay for aiohttp. ``fcemu.__version__`` is pyproject.toml's version (its one source): read
from the source tree when there is one, else from the installed metadata.
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
    "__version__",
]


def _version() -> str:
    """pyproject.toml's version in a source tree (a clone, an editable install: never stale),
    else the installed distribution's."""
    import re
    from importlib import metadata
    from pathlib import Path

    try:
        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text("utf-8")
    except OSError:
        text = ""
    if re.search(r'^name = "fcemu"$', text, re.M):
        found = re.search(r'^version = "([^"]+)"$', text, re.M)
        if found:
            return found.group(1)
    try:
        return metadata.version("fcemu")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'fcemu' has no attribute {name!r}")
