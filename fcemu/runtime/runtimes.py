"""Choosing a runtime: :class:`Runtimes`, the one object the engine runs handlers through.

The engine builds one :class:`Runtimes` (or is handed one: ``Engine(runtimes=...)``)
and uses only its public methods: :meth:`~Runtimes.invoke`, :meth:`~Runtimes.stop`,
:meth:`~Runtimes.discard`, :meth:`~Runtimes.retire_version`, :meth:`~Runtimes.close`,
and for the control API :meth:`~Runtimes.instances` and :meth:`~Runtimes.usage`. It keeps
no count of what is running: each runtime knows its own executions (the engine keeps the
one count its concurrency limits need).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from fcemu.runtime.contain import MODES, Containment
from fcemu.runtime.contain import containment as contained
from fcemu.runtime.invocation import Invocation, Outcome, Runtime
from fcemu.runtime.pool import IdleTimer, InstancePool, PoolUsage
from fcemu.runtime.protocol import UNHANDLED, error_body
from fcemu.settings import check_pass_env

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function


class Runtimes:
    """Every runtime of one engine: picks one per invocation.

    A function with ``inprocess_handler`` runs in-process; a ``python3.x``
    function runs in a worker process started with ``python``; a ``nodejs*`` function
    in a Node.js worker process started with ``node`` (a path or command name; default
    ``$FCEMU_NODE``, else ``node`` on PATH: :mod:`fcemu.runtime.nodejs`); a ``custom*``
    function runs its ``customRuntimeConfig`` command as an HTTP server. Worker
    and custom instances share one :class:`~fcemu.runtime.pool.InstancePool`:
    at most ``max_instances`` processes alive at once, idle ones stopped after
    ``idle_seconds`` of real time (``idle_timer`` starts that timer; the loop's
    ``call_later`` unless a test hands in its own). The implementations are
    created on first use.

    Worker and custom-runtime handlers see only FC's environment plus the server
    variables named in ``pass_env`` (:mod:`fcemu.runtime.environ`), and run
    contained (:mod:`fcemu.runtime.contain`): ``containment`` (``"pidns"``,
    ``"subreaper"``, ``"group"``) forces a mode, None picks the strongest there is.
    """

    def __init__(self, ids: IdGenerator, *, max_instances: int = 16,
                 idle_seconds: float = 300.0, python: str = sys.executable,
                 pass_env: Iterable[str] = (), containment: str | None = None,
                 idle_timer: IdleTimer | None = None, node: str | None = None) -> None:
        self._ids = ids
        #: The Node.js interpreter of ``nodejs*`` functions (:mod:`fcemu.runtime.nodejs`).
        self._node = node or os.environ.get("FCEMU_NODE") or "node"
        self._max_instances = max_instances
        self._python = python
        self._pass_env = check_pass_env(pass_env)
        if containment is not None and containment not in MODES:
            raise ValueError(f"containment must be one of {', '.join(MODES)}, got {containment!r}")
        #: How worker and custom-runtime instances are contained (:mod:`fcemu.runtime.contain`):
        #: a forced mode is checked now; None is chosen (and probed, off the loop) by the
        #: first instance that starts, so an emulator that runs no handler never probes.
        self.containment: Containment | None = (
            None if containment is None else contained(containment))
        #: The instance pool the worker and custom runtimes share.
        self.pool = InstancePool(max_instances, idle_seconds, idle_timer=idle_timer)
        self._inprocess: Runtime | None = None
        self._worker: Runtime | None = None
        self._custom: Runtime | None = None
        self._nodejs: Runtime | None = None
        #: The process runtime of each ``runtime`` value already seen (what _runtime_for
        #: chose for a function without an in-process handler: it never changes).
        self._by_runtime: dict[str, Runtime] = {}
        self._closed = False

    def invoke(self, invocation: Invocation) -> Coroutine[Any, Any, Outcome]:
        """Run the handler once; handler failures come back as outcomes, never raised.

        The runtime's own coroutine, not one wrapped around it (one level less to resume
        per invocation); nothing runs until it is awaited but the choice of the runtime."""
        function = invocation.function
        if not self._closed:
            runtime = (self._by_runtime.get(function.runtime)
                       if function.inprocess_handler is None else self._inprocess)
            if runtime is not None:  # chosen before (_runtime_for)
                return runtime.invoke(invocation)
        return self._invoke(invocation)

    async def _invoke(self, invocation: Invocation) -> Outcome:
        function = invocation.function
        if self._closed:
            return Outcome("error", error_body("fcemu is shutting down: the runtimes are closed",
                                               "RuntimeClosed"), UNHANDLED)
        runtime = self._runtime_for(function)
        if runtime is None:
            return _unsupported(function)
        return await runtime.invoke(invocation)

    async def stop(self, request_id: str) -> bool:
        """Stop the execution of ``request_id`` (its outcome is ``stopped``); False if none.

        Each runtime registers an execution before its first ``await``, so one that
        :meth:`invoke` has accepted is always found here.
        """
        for runtime in self._created():
            if await runtime.stop(request_id):
                return True
        return False

    async def discard(self, function_name: str) -> None:
        """Drop a function's warm instances (after an update or delete)."""
        for runtime in self._created():
            await runtime.discard(function_name)

    async def retire_version(self, function_name: str, version_id: str) -> None:
        """A deleted version's process instances go, each once its requests have ended
        (in-process handlers keep one instance ID per function: nothing to do there)."""
        await self.pool.retire_version(function_name, version_id)

    async def close(self) -> None:
        """Stop every execution and instance; no process outlives this call."""
        self._closed = True
        for runtime in self._created():
            await runtime.close()
        await self.pool.close()

    def instances(self) -> list[dict[str, Any]]:
        """Every process instance alive in the pool: ID, function, pid, slots in use."""
        return [i.describe() for i in self.pool.instances()]

    def usage(self) -> PoolUsage:
        """Processes alive now, the most ever alive at once, and the cap."""
        return self.pool.usage()

    def _created(self) -> list[Runtime]:
        return [r for r in (self._inprocess, self._worker, self._custom, self._nodejs)
                if r is not None]

    def _runtime_for(self, function: Function) -> Runtime | None:
        if function.inprocess_handler is not None:
            if self._inprocess is None:
                from fcemu.runtime.inprocess import InProcessRuntime

                self._inprocess = InProcessRuntime(self._ids, max_workers=self._max_instances)
            return self._inprocess
        runtime = self._process_runtime(function.runtime)
        if runtime is not None:
            self._by_runtime[function.runtime] = runtime
        return runtime

    def _process_runtime(self, name: str) -> Runtime | None:
        if name.startswith("python"):
            if self._worker is None:
                from fcemu.runtime.worker import WorkerRuntime

                self._worker = WorkerRuntime(self._ids, self.pool, python=self._python,
                                             pass_env=self._pass_env,
                                             contained=self.containment)
            return self._worker
        if name.startswith("nodejs"):
            if self._nodejs is None:
                from fcemu.runtime.nodejs import NodeRuntime

                self._nodejs = NodeRuntime(self._ids, self.pool, node=self._node,
                                           pass_env=self._pass_env, contained=self.containment)
            return self._nodejs
        if name == "custom" or name.startswith("custom."):
            if self._custom is None:
                from fcemu.runtime.custom import CustomRuntime

                self._custom = CustomRuntime(self._ids, self.pool, pass_env=self._pass_env,
                                             contained=self.containment)
            return self._custom
        return None


def _unsupported(function: Function) -> Outcome:
    message = (
        f"runtime '{function.runtime}' of function '{function.name}' is not supported by "
        "fcemu: use a python3.x, nodejs12-20 or custom runtime, or register an in-process "
        "handler"
    )
    return Outcome("error", error_body(message, "RuntimeNotSupported"), UNHANDLED)
