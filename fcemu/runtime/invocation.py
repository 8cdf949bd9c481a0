"""One execution of a handler: what the engine hands a runtime, and what comes back.

The engine hands an :class:`Invocation` to :class:`~fcemu.runtime.runtimes.Runtimes`,
which picks the implementation for the function and returns an :class:`Outcome`.
Every kind of runtime implements the :class:`Runtime` protocol. Handler failures,
timeouts, crashes and stops are outcomes, never exceptions; the outcome builders for
FC's own error messages live here, so every runtime words them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from fcemu.runtime.protocol import UNHANDLED, error_body

if TYPE_CHECKING:
    from fcemu.models import Function, HttpCall

OutcomeKind = Literal["ok", "error", "timeout", "crash", "stopped"]


@dataclass(frozen=True)
class Credentials:
    """What the handler sees as ``context.credentials`` and in the credential env vars."""

    access_key_id: str = "STS.fcemu-local-access-key"
    access_key_secret: str = "fcemu-local-access-key-secret"
    security_token: str = "fcemu-local-security-token"


#: The credentials of an invocation given none: one immutable object, shared (a new one per
#: invocation cost more than the rest of it).
LOCAL_CREDENTIALS = Credentials()


_set = object.__setattr__

#: A web function's answer to an :data:`HttpCall`: its status and headers (the body is the
#: outcome's ``body``).
HttpAnswer = tuple[int, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Invocation:
    """One execution request for a handler.

    ``http_call`` is set when an HTTP trigger started it: a custom runtime (a web
    function) gets that request passed through (FC's "HTTP calls"); every other runtime
    gets ``payload``, the HTTP-trigger event."""

    request_id: str
    function: Function
    payload: bytes
    qualifier: str
    region: str
    account_id: str
    credentials: Credentials = LOCAL_CREDENTIALS
    http_call: HttpCall | None = None

    def __init__(self, request_id: str, function: Function, payload: bytes, qualifier: str,
                 region: str, account_id: str, credentials: Credentials = LOCAL_CREDENTIALS,
                 http_call: HttpCall | None = None) -> None:
        # the frozen dataclass's own __init__ sets each field through object.__setattr__
        # (about 13k instructions, one in thirty of a warm worker task's: issue 13); this sets
        # the same instance __dict__ in one call (filling self.__dict__ key by key costs
        # less to build, but leaves a dict whose attributes read slower)
        _set(self, "__dict__", {
            "request_id": request_id, "function": function, "payload": payload,
            "qualifier": qualifier, "region": region, "account_id": account_id,
            "credentials": credentials, "http_call": http_call})


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
    #: A web function's status and headers, when it answered a passed-through HTTP call.
    http_answer: HttpAnswer | None = None

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


def timeout_outcome(timeout_s: int, duration_ms: int, max_memory_mb: int, *,
                    instance_id: str = "", logs: str = "") -> Outcome:
    """The spec'd timeout error (decisions.md, "Destinations")."""
    message = f"Function timed out after {timeout_s} seconds (maxMemoryUsage: {max_memory_mb}MB)"
    return Outcome("timeout", error_body(message), UNHANDLED, duration_ms, max_memory_mb,
                   instance_id, logs)


def crash_outcome(duration_ms: int, max_memory_mb: int, kind: OutcomeKind = "crash", *,
                  instance_id: str = "", logs: str = "") -> Outcome:
    """A worker that died (or was killed by StopAsyncTask) mid-request."""
    message = (
        "Process exited unexpectedly before completing request "
        f"(duration: {duration_ms}ms, maxMemoryUsage: {max_memory_mb}MB)"
    )
    return Outcome(kind, error_body(message), UNHANDLED, duration_ms, max_memory_mb, instance_id,
                   logs)


def kb_to_mb(kb: int) -> int:
    """KiB to whole MB, rounded up, at least 1 (FC never reports 0MB for a live process)."""
    mb = -(-kb // 1024)
    return mb if mb > 1 else 1
