"""The ``fcemu`` command line: its parser (:mod:`~fcemu.cli.parser`; each command's help
page in :mod:`~fcemu.cli.help`), dispatch (:mod:`~fcemu.cli.main`), ``fcemu serve``
(:mod:`~fcemu.cli.serve`), the inspection commands (:mod:`~fcemu.cli.commands`) over an HTTP
client of a running emulator (:mod:`~fcemu.cli.client`), and what they print
(:mod:`~fcemu.cli.format`).

The CLI is the top layer: it reaches the emulator through :class:`fcemu.server.Emulator`'s
public methods, or over HTTP, never through the engine's parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fcemu.cli.main import main
from fcemu.cli.parser import build_parser

if TYPE_CHECKING:
    from fcemu.cli.serve import settings_from

__all__ = ["build_parser", "main", "settings_from"]


def __getattr__(name: str) -> Any:
    # settings_from is imported on first use: inspection commands do not load the server
    if name == "settings_from":
        from fcemu.cli.serve import settings_from

        return settings_from
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
