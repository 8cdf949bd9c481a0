"""A custom runtime's configuration: how to start its server.

``customRuntimeConfig`` (``command``, ``args``, ``port``) says how to start a
custom-runtime function's server. :mod:`fcemu.runtime.custom` runs the servers and
:mod:`fcemu.runtime.custom_wire` speaks to them.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fcemu.runtime.sandbox import map_fc_path

if TYPE_CHECKING:
    from fcemu.models import Function

DEFAULT_PORT = 9000  # spec §12.2: FC's default listening port


@dataclass(frozen=True)
class CustomRuntimeConfig:
    """``customRuntimeConfig``: the start command, its arguments and the configured port."""

    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    port: int = DEFAULT_PORT

    @classmethod
    def of(cls, function: Function) -> CustomRuntimeConfig:
        """Read the function's config; ValueError naming the bad field."""
        doc = function.custom_runtime_config or {}
        parts: dict[str, list[str]] = {}
        for key in ("command", "args"):
            value = doc.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"customRuntimeConfig.{key} must be a list of strings, "
                                 f"got {value!r}")
            parts[key] = value
        port = doc.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"customRuntimeConfig.port must be a port number, got {port!r}")
        return cls(parts["command"], parts["args"], port)

    def argv_as_written(self) -> list[str]:
        """The command line as FC runs it (in a sandbox: ``/code`` is there, the port free)."""
        return [*(self.command or ["/code/bootstrap"]), *self.args]  # FC's default command

    def argv(self, code_dir: Path, port: int, opt_dir: Path | None = None) -> list[str]:
        """The command line of one instance outside a sandbox: ``/code`` and ``/opt``
        mapped to the real directories, the configured port replaced by ``port``."""
        command = self.command or ["/code/bootstrap"]  # FC's default start command
        number = re.compile(rf"(?<!\d){self.port}(?!\d)")
        args = [number.sub(str(port), arg) for arg in self.args]
        return [map_fc_path(part, code_dir, opt_dir) for part in [*command, *args]]


def map_code(part: str, code_dir: Path) -> str:
    """A leading ``/code`` (FC's code directory) in a command part, mapped to ``code_dir``."""
    return map_fc_path(part, code_dir, None)


def make_executable(program: str, code_dir: Path) -> None:
    """Zip files lose their mode bits: a start command shipped in the code gets +x back."""
    path = (code_dir / program) if not os.path.isabs(program) else Path(program)
    with contextlib.suppress(OSError):
        if path.is_file() and code_dir.resolve() in path.resolve().parents:
            mode = path.stat().st_mode
            if not mode & stat.S_IXUSR:
                path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
