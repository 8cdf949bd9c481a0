"""The emulator's domain objects: plain dataclasses and enums.

Functions, their restriction, versions and aliases, async and concurrency configs,
tasks with their attempts and logs, layer versions. A task's statuses and its packed
event log are :mod:`fcemu.eventlog`'s (:class:`TaskStatus`, :class:`TaskEvent` and
:class:`EventLog` are re-exported here, their import path).

No HTTP and no JSON casing here: ``api/wire.py`` turns these into the FC
wire shapes. Times are integer epoch milliseconds on the emulator clock.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fcemu.eventlog import EventLog as EventLog
from fcemu.eventlog import EventRecorder
from fcemu.eventlog import TaskEvent as TaskEvent
from fcemu.eventlog import TaskStatus as TaskStatus

LATEST = "LATEST"

#: Task records stay queryable this long after submission (decisions.md "Retention").
TASK_RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass
class Function:
    """A deployed function (the subset of FC's ``Function`` that fcemu models, plus echoes)."""

    name: str
    runtime: str
    handler: str
    arn: str
    function_id: str
    created_ms: int
    modified_ms: int
    timeout: int = 3
    memory_size: int = 128
    cpu: float | None = None
    disk_size: int = 512
    instance_concurrency: int = 1
    environment_variables: dict[str, str] = field(default_factory=dict)
    description: str = ""
    custom_runtime_config: dict[str, Any] | None = None
    instance_lifecycle_config: dict[str, Any] | None = None
    #: Directory the code zip was unpacked into (None for in-process handlers).
    code_dir: Path | None = None
    code_checksum: str = ""
    code_size: int = 0
    #: The function's layers merged into one directory, seen by its instances at ``/opt``
    #: (None when it has no layers). Filled in at deploy by the layer operations.
    opt_dir: Path | None = None
    #: ``FunctionLayer.size`` of each layer ARN whose package size is known (a layer
    #: version created here, or a mapped .zip file).
    layer_sizes: dict[str, int] = field(default_factory=dict)
    #: A Python callable registered through the Python API; runs in-process.
    inprocess_handler: Callable[..., Any] | None = None
    #: Accepted input fields fcemu does not model, echoed back as given (vpcConfig, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)
    #: The published version this is a snapshot of ("" for LATEST: :class:`Version`).
    version_id: str = ""
    #: DisableFunctionInvocation's state (None: never disabled; :class:`Restriction`).
    invocation_restriction: Restriction | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Function:
        """A deep copy made field by field: copy's default reads ``self.__dict__``, which in
        CPython 3.11 gives the instance a dict of its own for good, every attribute read of
        the live function then ~3x slower (issue 13: the Python API's, a snapshot's and
        durable mode's copies; a restore's functions are such copies)."""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        for each in fields(self):
            setattr(copied, each.name, copy.deepcopy(getattr(self, each.name), memo))
        return copied


@dataclass
class Restriction:
    """``FunctionRestriction``: whether invocations are disabled, and why."""

    disable: bool
    reason: str
    modified_ms: int


@dataclass
class Version:
    """A published version: an immutable snapshot of a function's code and configuration."""

    function_name: str
    version_id: str
    description: str
    created_ms: int
    #: The function as it was when published (its ``version_id`` set); never changed.
    snapshot: Function


@dataclass
class Alias:
    """An alias: a name pointing at a version, with an optional canary version and weight."""

    function_name: str
    alias_name: str
    version_id: str
    description: str
    created_ms: int
    modified_ms: int
    #: ``additionalVersionWeight``: at most one ``{versionId: weight}``, weight in [0, 1].
    additional_version_weight: dict[str, float] = field(default_factory=dict)


@dataclass
class AsyncConfig:
    """Per (function, qualifier) async invocation config (spec §7)."""

    function_name: str
    qualifier: str
    function_arn: str
    created_ms: int
    modified_ms: int
    async_task: bool = False
    max_async_retry_attempts: int = 3
    max_async_event_age_in_seconds: int = 86400
    on_success: str | None = None
    on_failure: str | None = None


@dataclass
class ConcurrencyConfig:
    function_name: str
    function_arn: str
    reserved_concurrency: int


#: :attr:`Attempt.logs` of an attempt whose handler printed nothing: one shared string
#: instead of its own two FC lines, about 175 bytes per retained attempt (issue 13);
#: :meth:`Task.attempt_log` frames it when read. A real log starts with ``FC ``.
QUIET_LOG = "(quiet)"


@dataclass(slots=True)
class Attempt:
    """One execution of a task's handler."""

    number: int
    started_ms: int
    instance_id: str = ""
    duration_ms: int = 0
    outcome: str = ""
    error_type: str = ""
    #: The attempt's log, framed by the FC Start/End lines; :data:`QUIET_LOG` when the
    #: handler printed nothing (read it through :meth:`Task.attempt_log`).
    logs: str = ""
    #: The scripted outcome that replaced the handler (:mod:`fcemu.faults`), or "".
    scripted: str = ""
    #: The peak memory the runtime measured for the attempt (MB; 0: not measured).
    max_memory_mb: int = 0


#: An HTTP trigger's request as it came: ``(method, target, headers, body)``; the target
#: is the path after the trigger's prefix with its query string (``/a/b?x=1``), the
#: headers ``(name, value)`` pairs in order. Plain data, so a task keeps it (snapshots,
#: the durable store).
HttpCall = tuple[str, str, tuple[tuple[str, str], ...], bytes]


@dataclass(slots=True, eq=False)
class Task(EventRecorder):
    """One asynchronous invocation (spec §9.1).

    Slotted and compared by identity: one is kept per retained task (issue 13, about
    1 KiB each), and the ordered indexes of :mod:`fcemu.taskindex` find it by identity.
    Its events are recorded and read through :class:`~fcemu.eventlog.EventRecorder`'s
    methods (:meth:`record_event`, :attr:`events`, ...).
    """

    task_id: str
    request_id: str
    function_name: str
    function_arn: str
    qualifier: str
    payload: bytes
    submitted_ms: int
    runnable_ms: int
    max_retries: int
    max_age_s: int
    on_success: str | None
    on_failure: str | None
    status: TaskStatus = TaskStatus.ENQUEUED
    #: Its status changes, packed (issue 13): 9 bytes per event (status code, timestamp),
    #: read as :class:`TaskEvent` objects through :attr:`events`.
    event_log: bytes = b""
    #: Event details by event index, for the few events that have one (None: none).
    event_details: dict[int, str] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    end_ms: int | None = None
    return_payload: bytes | None = None
    #: The error body (JSON text) of the last failed attempt.
    error_body: bytes | None = None
    error_type: str = ""
    destination_status: str = ""
    throttled: bool = False
    throttle_count: int = 0
    #: When the current run of throttled tries began (None: not throttled now); FC retries
    #: a throttled task for up to 5 hours (:mod:`fcemu.retry_policy`).
    throttled_since_ms: int | None = None
    #: The ``functionId`` of the function it was submitted to (a re-created function is another).
    function_id: str = ""
    #: Why the task ended, as the destination message's ``condition`` (decisions.md).
    condition: str = ""
    stop_requested: bool = False
    #: Scripted throttles since the last event, reported in the next event's detail.
    scripted_throttles: int = 0
    #: Its position in the ListAsyncTasks indexes: ``(submitted_ms << 40) | seq``
    #: (:mod:`fcemu.taskindex`); 0 until the task is indexed.
    index_key: int = 0
    #: The HTTP trigger's request that submitted it (None: not an HTTP call): a web
    #: function (custom runtime) gets it passed through when the task runs.
    http_call: HttpCall | None = None

    def attempt_log(self, attempt: Attempt) -> str:
        """One of its attempts' log, framed by the FC Start/End lines (spec §12.2; the same
        text as :func:`fcemu.runtime.logs.framed`, made here for a :data:`QUIET_LOG`)."""
        if attempt.logs != QUIET_LOG:
            return attempt.logs
        rid = self.request_id
        return f"FC Invoke Start RequestId: {rid}\nFC Invoke End RequestId: {rid}\n"

    @property
    def retried(self) -> int:
        """``alreadyRetriedTimes``: executions after the first."""
        return max(0, len(self.attempts) - 1)

    @property
    def duration_ms(self) -> int:
        return sum(a.duration_ms for a in self.attempts)

    @property
    def instance_id(self) -> str:
        return self.attempts[-1].instance_id if self.attempts else ""


@dataclass(frozen=True)
class TaskLogs:
    """What a task's handler printed and logged, attempt by attempt (fcemu's own)."""

    task_id: str
    request_id: str
    attempts: tuple[Attempt, ...]

    @property
    def text(self) -> str:
        """Every attempt's log in order, each framed by ``FC Invoke Start/End RequestId``."""
        return "".join(a.logs for a in self.attempts)


#: A layer version's ARN: ``acs:fc:{region}:{accountId}:layers/{layerName}/versions/{n}``
#: (FC 3.0 ``Layer.layerVersionArn``); official layers have ``official`` as the account.
LAYER_ARN = re.compile(r"^acs:fc:([a-z0-9-]+):([0-9]+|official):layers/([A-Za-z0-9_-]{1,64})"
                       r"/versions/([1-9][0-9]{0,8})$")


@dataclass
class LayerVersion:
    """One version of a layer (FC 3.0 ``Layer``), its code unpacked in ``code_dir``."""

    layer_name: str
    version: int
    arn: str
    created_ms: int
    code_dir: Path
    code_size: int
    code_checksum: str
    description: str = ""
    license: str = ""
    compatible_runtime: list[str] = field(default_factory=list)
    #: ``"0"`` private, ``"1"`` public (PutLayerACL sets it for every version of the layer).
    acl: str = "0"
