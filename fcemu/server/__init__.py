"""The Python API: :class:`Emulator`, which runs the app on its own loop thread.

- :mod:`fcemu.server.emulator`: :class:`Emulator` (start, stop, marshalling onto the loop,
  time and work);
- :mod:`fcemu.server.operations`: its operations (deploy, invoke, inspect, script);
- :mod:`fcemu.server.views`: what the test thread holds (queue and clock views, task
  events, server-side errors).
"""

from __future__ import annotations

from fcemu.server.emulator import Emulator
from fcemu.server.views import EmulatorClock, MessageView, QueueView, ServerSideError

__all__ = ["Emulator", "EmulatorClock", "MessageView", "QueueView", "ServerSideError"]
