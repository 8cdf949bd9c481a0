"""Running handlers: the contract between the engine and the runtimes.

The engine hands a :class:`Invocation` to :class:`Runtimes`, which picks the
implementation for the function (in-process callable, Python worker process,
custom runtime) and returns an :class:`Outcome`. Runtimes know nothing of
HTTP or of tasks; handler timeouts are enforced in real time (a handler
runs in real time even when the emulator clock is manual).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

OutcomeKind = Literal["ok", "error", "timeout", "crash", "stopped"]

UNHANDLED = "UnhandledInvocationError"


@dataclass(frozen=True)
class Credentials:
    """What the handler sees as ``context.credentials`` and in the credential env vars."""

    access_key_id: str = "STS.fcemu-local-access-key"
    access_key_secret: str = "fcemu-local-access-key-secret"
    security_token: str = "fcemu-local-security-token"


@dataclass(frozen=True)
class Invocation:
    """One execution request for a handler."""

    request_id: str
    function: Function
    payload: bytes
    qualifier: str
    region: str
    account_id: str
    credentials: Credentials = field(default_factory=Credentials)


@dataclass
class Outcome:
    """What one execution produced.

    ``body`` is the return value (``ok``) or the error JSON as bytes
    (``error``/``timeout``/``crash``/``stopped``), e.g.
    ``{"errorMessage": "...", "errorType": "...", "stackTrace": [...]}``.
    """

    kind: OutcomeKind
    body: bytes = b""
    error_type: str = ""
    duration_ms: int = 0
    max_memory_mb: int = 0
    instance_id: str = ""
    logs: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class Runtime(Protocol):
    """One kind of runtime (in-process, worker process, custom)."""

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the handler once; never raises for handler failures."""
        ...

    async def stop(self, request_id: str) -> bool:
        """Kill the execution running ``request_id``; False when none is running."""
        ...

    async def discard(self, function_name: str) -> None:
        """Drop warm instances of a function (after update or delete)."""
        ...

    async def close(self) -> None:
        """Stop every instance; no process may outlive this call."""
        ...


def timeout_outcome(timeout_s: int, duration_ms: int, max_memory_mb: int, **kw: str) -> Outcome:
    """The spec'd timeout error (decisions.md, "Destinations")."""
    message = f"Function timed out after {timeout_s} seconds (maxMemoryUsage: {max_memory_mb}MB)"
    return Outcome(
        "timeout", error_body(message), UNHANDLED, duration_ms, max_memory_mb, **kw
    )


def crash_outcome(
    duration_ms: int, max_memory_mb: int, kind: OutcomeKind = "crash", **kw: str
) -> Outcome:
    """A worker that died (or was killed by StopAsyncTask) mid-request."""
    message = (
        "Process exited unexpectedly before completing request "
        f"(duration: {duration_ms}ms, maxMemoryUsage: {max_memory_mb}MB)"
    )
    return Outcome(kind, error_body(message), UNHANDLED, duration_ms, max_memory_mb, **kw)


def error_body(message: str, error_type: str | None = None,
               stack: list[list[str]] | None = None) -> bytes:
    """The Python runtime's error JSON (spec §6.2), compact."""
    doc: dict[str, object] = {"errorMessage": message}
    if error_type is not None:
        doc["errorType"] = error_type
    if stack is not None:
        doc["stackTrace"] = stack
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


# -- choosing a runtime ----------------------------------------------------------------


class Runtimes:
    """Every runtime of one engine: picks one per invocation and tracks what is running.

    A function with ``inprocess_handler`` runs in-process; a ``python3.x``
    function runs in a worker process started with ``python``; a ``custom*``
    function runs its ``customRuntimeConfig`` command as an HTTP server. Worker
    and custom instances share one :class:`~fcemu.runtime.pool.InstancePool`:
    at most ``max_instances`` processes alive at once, idle ones stopped after
    ``idle_seconds`` of real time. The implementations are created on first use.

    Worker and custom-runtime handlers see only FC's environment plus the server
    variables named in ``pass_env`` (:mod:`fcemu.runtime.environ`), and run
    contained (:mod:`fcemu.runtime.contain`): ``containment`` (``"pidns"``,
    ``"subreaper"``, ``"group"``) forces a mode, None picks the strongest there is.
    """

    def __init__(self, ids: IdGenerator, *, max_instances: int = 16,
                 idle_seconds: float = 300.0, python: str = sys.executable,
                 pass_env: Iterable[str] = (), containment: str | None = None) -> None:
        from fcemu.runtime.contain import MODES, Containment
        from fcemu.runtime.contain import containment as contained
        from fcemu.runtime.environ import check_pass_env
        from fcemu.runtime.pool import InstancePool

        self._ids = ids
        self._max_instances = max_instances
        self._python = python
        self._pass_env = check_pass_env(pass_env)
        if containment is not None and containment not in MODES:
            raise ValueError(f"containment must be one of {', '.join(MODES)}, got {containment!r}")
        #: How worker and custom-runtime instances are contained (:mod:`fcemu.runtime.contain`).
        self.containment: Containment = contained(containment)
        self.pool = InstancePool(max_instances, idle_seconds)
        self._inprocess: Runtime | None = None
        self._worker: Runtime | None = None
        self._custom: Runtime | None = None
        self._running: dict[str, tuple[str, Runtime]] = {}
        self._closed = False

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the handler once; handler failures come back as outcomes, never raised."""
        function = invocation.function
        if self._closed:
            return Outcome("error", error_body("fcemu is shutting down: the runtimes are closed",
                                               "RuntimeClosed"), UNHANDLED)
        runtime = self._runtime_for(function)
        if runtime is None:
            return _unsupported(function)
        self._running[invocation.request_id] = (function.name, runtime)
        try:
            return await runtime.invoke(invocation)
        finally:
            self._running.pop(invocation.request_id, None)

    async def stop(self, request_id: str) -> bool:
        """Stop the execution of ``request_id`` (its outcome is ``stopped``); False if none."""
        entry = self._running.get(request_id)
        return entry is not None and await entry[1].stop(request_id)

    async def discard(self, function_name: str) -> None:
        """Drop a function's warm instances (after an update or delete)."""
        for runtime in self._created():
            await runtime.discard(function_name)

    async def close(self) -> None:
        """Stop every execution and instance; no process outlives this call."""
        self._closed = True
        for runtime in self._created():
            await runtime.close()
        await self.pool.close()

    def busy(self) -> list[str]:
        """What is running, e.g. ``["my-func request 1-abc"]`` (for settle() reports)."""
        return [f"{name} request {request_id}"
                for request_id, (name, _) in self._running.items()]

    def in_flight(self, function_name: str) -> int:
        """Executions of a function accepted and not finished (running, or waiting for an
        instance); the engine's concurrency limits count these."""
        return sum(1 for name, _ in self._running.values() if name == function_name)

    def instances(self) -> list[dict[str, Any]]:
        """Every process instance alive in the pool: ID, function, pid, slots in use."""
        return [i.describe() for i in self.pool.instances()]

    def _created(self) -> list[Runtime]:
        return [r for r in (self._inprocess, self._worker, self._custom) if r is not None]

    def _runtime_for(self, function: Function) -> Runtime | None:
        if function.inprocess_handler is not None:
            if self._inprocess is None:
                from fcemu.runtime.inprocess import InProcessRuntime

                self._inprocess = InProcessRuntime(self._ids, max_workers=self._max_instances)
            return self._inprocess
        if function.runtime.startswith("python"):
            if self._worker is None:
                from fcemu.runtime.worker import WorkerRuntime

                self._worker = WorkerRuntime(self._ids, self.pool, python=self._python,
                                             pass_env=self._pass_env,
                                             contained=self.containment)
            return self._worker
        if function.runtime == "custom" or function.runtime.startswith("custom."):
            if self._custom is None:
                from fcemu.runtime.custom import CustomRuntime

                self._custom = CustomRuntime(self._ids, self.pool, pass_env=self._pass_env,
                                             contained=self.containment)
            return self._custom
        return None


def _unsupported(function: Function) -> Outcome:
    message = (
        f"runtime '{function.runtime}' of function '{function.name}' is not supported by "
        "fcemu: use a python3.x or custom runtime, or register an in-process handler"
    )
    return Outcome("error", error_body(message, "RuntimeNotSupported"), UNHANDLED)


# -- memory figures ----------------------------------------------------


def kb_to_mb(kb: int) -> int:
    """KiB to whole MB, rounded up, at least 1 (FC never reports 0MB for a live process)."""
    return max(1, -(-kb // 1024))
