"""A custom runtime's configuration and the HTTP contract's request headers.

``customRuntimeConfig`` (``command``, ``args``, ``port``) says how to start a
custom-runtime function's server; :func:`request_headers` are the headers FC
sends it with every ``/invoke`` and ``/initialize`` request (spec §12.2).
:mod:`fcemu.runtime.custom` runs the servers.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fcemu.runtime.instance import Initializer
from fcemu.runtime.sandbox import map_fc_path

if TYPE_CHECKING:
    from fcemu.models import Function
    from fcemu.runtime.invocation import Invocation

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


def request_headers(invocation: Invocation, init: Initializer | None) -> dict[str, str]:
    """The request headers FC sends to a custom runtime (spec §12.2 table)."""
    function, credentials = invocation.function, invocation.credentials
    headers = {
        "content-type": "application/octet-stream",
        "x-fc-request-id": invocation.request_id,
        "x-fc-access-key-id": credentials.access_key_id,
        "x-fc-access-key-secret": credentials.access_key_secret,
        "x-fc-security-token": credentials.security_token,
        "x-fc-function-name": function.name,
        "x-fc-function-handler": function.handler,
        "x-fc-function-memory": str(function.memory_size),
        "x-fc-function-timeout": str(function.timeout),
        "x-fc-region": invocation.region,
        "x-fc-account-id": invocation.account_id,
        "x-fc-qualifier": invocation.qualifier,
    }
    if function.version_id:  # a published version's invocation (FC 2.0's header list)
        headers["x-fc-version-id"] = function.version_id
    lifecycle = function.instance_lifecycle_config or {}
    init = init or Initializer.of(function)
    if init is not None:
        headers["x-fc-function-initializer"] = init.handler
        headers["x-fc-initialization-timeout"] = str(init.timeout)
    pre_stop = lifecycle.get("preStop")
    if isinstance(pre_stop, dict) and pre_stop.get("handler"):
        headers["x-fc-instance-lifecycle-pre-stop-handler"] = str(pre_stop["handler"])
    return headers


#: Request headers a passed-through HTTP call does not carry on: hop-by-hop and framing.
_NOT_PASSED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te",
                         "upgrade", "trailer", "proxy-connection"})
#: A web function's response headers FC does not pass on to the client (HTTP triggers,
#: "HTTP response limits": ``x-fc-*``, connection, content-length, date, keep-alive,
#: server, upgrade); the answering server sets its own framing.
_NOT_ANSWERED = frozenset({"connection", "content-length", "date", "keep-alive", "server",
                           "upgrade", "transfer-encoding"})


def call_headers(invocation: Invocation, client: Iterable[tuple[str, str]]
                 ) -> list[tuple[str, str]]:
    """The headers of a passed-through HTTP call (FC's "HTTP calls" of a web function):
    the client's as sent (less hop-by-hop ones and the ``x-fc-*`` headers FC itself
    reads), then FC's common ``x-fc-*`` request headers."""
    pairs = [(name, value) for name, value in client
             if name.lower() not in _NOT_PASSED and not name.lower().startswith("x-fc-")]
    common = request_headers(invocation, None)
    del common["content-type"]  # the client's own content type stands
    pairs.extend(common.items())
    return pairs


def answer_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The response headers of a web function that reach the client."""
    return tuple((name, value) for name, value in headers
                 if name.lower() not in _NOT_ANSWERED and not name.lower().startswith("x-fc-"))
