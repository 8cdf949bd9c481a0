"""Node.js runtime: ``nodejs12`` to ``nodejs20`` handlers in warm Node.js worker processes.

A Node.js instance is a :class:`~fcemu.runtime.worker.WorkerInstance` whose
process runs ``node fcemu/runtime/node/worker.js`` instead of the Python
worker: the same launch path (:mod:`fcemu.runtime.contain`, so a timeout, a
stop, ``memorySize`` or a reset kills the whole process group), the same
instance pool (``instanceConcurrency`` requests on one event loop, idle
reaping, the global cap), the same frames (:mod:`fcemu.runtime.protocol`)
and the same outcomes. ``worker.js`` describes the handler's side: callback
and async handlers, CommonJS and (from nodejs18) ES modules, FC's
``context``, its error JSON and its log lines.

The protocol pipes are moved off the standard descriptors before ``node``
starts (:data:`_SHIM`, one ``sh`` that ``exec``s node, so the handler's
process is still the instance's first one): frames arrive on fd 3 and leave
on fd 4, and fd 1 is fd 2, so nothing a handler prints reaches the protocol.

Which ``node`` runs is ``Settings.node`` (``--node PATH``), else the
``FCEMU_NODE`` environment variable, else ``node`` on the server's ``PATH``.
It is looked up, and its version read, once per interpreter (off the loop).
Without one, or with one older than the runtime asks for (``node`` 20 for
``nodejs20``), functions can still be created, and each invocation fails
with an error naming what to install.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.runtime.invocation import Invocation, Outcome
from fcemu.runtime.pool import Instance, InstancePool, Key
from fcemu.runtime.protocol import UNHANDLED, error_body
from fcemu.runtime.worker import WorkerInstance, WorkerRuntime

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function
    from fcemu.runtime.contain import Containment

WORKER_JS = str(Path(__file__).with_name("node") / "worker.js")
#: Moves the protocol pipes to fds 3 (in) and 4 (out), /dev/null on 0, 2 on 1; then node.
_SHIM = 'exec 3<&0 4>&1 </dev/null 1>&2 && exec "$0" "$@"'
_SH = "/bin/sh"
#: The environment variable naming the interpreter when ``--node`` is not given.
NODE_ENV = "FCEMU_NODE"
_RUNTIME = re.compile(r"^nodejs(\d+)$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
#: Real seconds ``node --version`` may take.
_PROBE_TIMEOUT_S = 20.0
_INSTALL = ("install Node.js {major} or later (Debian/Ubuntu: apt-get install nodejs; or "
            "https://nodejs.org) and put it on PATH, or choose an interpreter with "
            "--node PATH or the FCEMU_NODE environment variable")


def runtime_major(runtime: str) -> int | None:
    """The Node.js major version a ``nodejsNN`` runtime asks for; None for other runtimes."""
    match = _RUNTIME.match(runtime)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class NodeInterpreter:
    """What the chosen ``node`` is: its path (None: not found) and version."""

    wanted: str
    path: str | None
    version: tuple[int, int, int] | None
    problem: str = ""

    def refusal(self, function: Function) -> str | None:
        """Why ``function`` cannot run on this interpreter; None when it can."""
        major = runtime_major(function.runtime) or 0
        install = _INSTALL.format(major=major)
        where = f"runtime '{function.runtime}' of function '{function.name}' needs Node.js " \
                f"{major} or later"
        if self.path is None:
            return f"{where}, but no Node.js interpreter '{self.wanted}' was found: {install}"
        if self.version is None:
            return (f"{where}, but '{self.path} --version' failed ({self.problem}): {install}")
        if self.version[0] < major:
            found = ".".join(map(str, self.version))
            return f"{where}, but {self.path} is Node.js {found}: {install}"
        return None


_probed: dict[tuple[str, str], NodeInterpreter] = {}
_probe_lock = threading.Lock()


def probe(wanted: str) -> NodeInterpreter:
    """Find ``wanted`` (a path or a command name on the server's PATH) and read its version;
    remembered per interpreter and PATH."""
    key = (wanted, os.environ.get("PATH", ""))
    with _probe_lock:
        if key not in _probed:
            _probed[key] = _probe(wanted)
        return _probed[key]


def _probe(wanted: str) -> NodeInterpreter:
    path = shutil.which(wanted)
    if path is None:
        return NodeInterpreter(wanted, None, None)
    path = os.path.abspath(path)
    try:
        done = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return NodeInterpreter(wanted, path, None, str(exc))
    text = done.stdout.decode(errors="replace").strip()
    match = _VERSION.match(text)
    if done.returncode != 0 or match is None:
        return NodeInterpreter(wanted, path, None,
                               f"exit code {done.returncode}, output {text[:200]!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return NodeInterpreter(wanted, path, (major, minor, patch))


def node_path(function: Function) -> str:
    """``NODE_PATH``: the code's ``node_modules`` (``/code/node_modules``), then the layers'
    (``/opt/nodejs/node_modules``, FC's layer directory for Node.js), as host paths (a
    sandbox gives them as ``/code`` and ``/opt``: :mod:`fcemu.runtime.sandbox`)."""
    parts = [str(Path(str(function.code_dir), "node_modules"))]
    if function.opt_dir is not None:
        parts.append(str(Path(function.opt_dir, "nodejs", "node_modules")))
    return os.pathsep.join(parts)


class NodeInstance(WorkerInstance):
    """One Node.js worker process of one function.

    Its PreStop hook (``exports.preStop = (context, callback)`` or ``async (context)``)
    runs when the pool takes a started, idle instance out of service (idle expiry, an
    updated or deleted function, a reset, shutdown), within its timeout, before the
    instance is killed; not when a timeout, a stop, a crash or ``memorySize`` kills it
    (:class:`~fcemu.runtime.worker.WorkerInstance`'s, as for Python). What it logs is the
    instance's own log (FC shows hook logs in the instance's logs). Its context's
    qualifier is the last request's.
    """

    def __init__(self, function: Function, key: Key, instance_id: str, node: str,
                 pass_env: tuple[str, ...] = (), contained: Containment | None = None) -> None:
        super().__init__(function, key, instance_id, node, pass_env, contained)

    async def execute(self, invocation: Invocation) -> Outcome:
        self._qualifier = invocation.qualifier
        return await super().execute(invocation)

    def begin(self, invocation: Invocation, reply: asyncio.Future[Any]) -> bool:
        began = super().begin(invocation, reply)
        if began:
            self._qualifier = invocation.qualifier
        return began

    def command(self) -> list[str]:
        return [_SH, "-c", _SHIM, self.python, WORKER_JS]

    def environment(self, invocation: Invocation) -> dict[str, str]:
        env = super().environment(invocation)
        function = invocation.function
        if "NODE_PATH" not in function.environment_variables:
            env["NODE_PATH"] = node_path(function)
        return env


def _key(function: Function) -> Key:
    """What must match for a warm instance to be reused (an updated function is another)."""
    return ("nodejs", function.name, function.version_id, function.function_id,
            function.modified_ms, function.code_checksum, str(function.code_dir),
            str(function.opt_dir), function.handler, function.runtime,
            function.instance_concurrency, repr(function.instance_lifecycle_config))


class NodeRuntime(WorkerRuntime):
    """Runs ``nodejsNN`` handlers (``file.function`` in ``Function.code_dir``) in Node.js
    worker processes, pooled with the other process runtimes.

    :param node: the interpreter, a path or a command name (``node`` on PATH by default).
    """

    def __init__(self, ids: IdGenerator, pool: InstancePool, *, node: str = "node",
                 pass_env: tuple[str, ...] = (), contained: Containment | None = None) -> None:
        super().__init__(ids, pool, pass_env=pass_env, contained=contained)
        self._wanted = node
        self._node: NodeInterpreter | None = None

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the handler once; an error outcome naming what to install without a usable
        ``node``."""
        if self._node is None:
            self._node = await asyncio.to_thread(probe, self._wanted)
        refused = self._node.refusal(invocation.function)
        if refused is not None:
            return Outcome("error", error_body(refused, "NodeNotAvailable"), UNHANDLED)
        return await super().invoke(invocation)

    def _key(self, function: Function) -> Key:
        return _key(function)

    def _make(self, function: Function, key: Key) -> Instance:
        assert self._node is not None and self._node.path is not None
        return NodeInstance(function, key, self._ids.instance_id(), self._node.path,
                            self.pass_env, self.containment)
