"""Typed specs: what the engine's write operations take, checked when they are built.

The engine speaks Python: CreateFunction and UpdateFunction take a
:class:`FunctionSpec`, PutAsyncInvokeConfig an :class:`AsyncConfigSpec`. Every
builder (``api/inputs.py`` from request JSON, ``config/`` from deployment files,
``Emulator.register_function`` from keyword arguments) makes the same spec, and a
spec checks its values as it is built: an :class:`~fcemu.errors.InvalidArgument`
that names the FC field and what is allowed (decisions.md: "names the field and the
allowed range"). The FC names of the fields (:data:`FUNCTION_FIELDS`,
:data:`ASYNC_CONFIG_FIELDS`) are here because the messages use them and because
Python callers may pass them (``memorySize=256`` as well as ``memory_size=256``).
Also here: the rules for function names and task IDs that the engine checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fcemu.checks import (
    check_document,
    check_integer,
    check_mapping,
    check_string,
    list_of,
    printable,
)
from fcemu.errors import InvalidArgument

# spec §4.1: letters, digits, _ and -; not starting with a digit or -; 1–64 chars
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
#: A function of an FC 2.0 service as FC 3.0 names it, ``service$function``: FC 3.0 keeps
#: such functions (and updates them) but creates no new ones (docs/fidelity.md). Deployment
#: files converted from Serverless Devs 2.x (:mod:`fcemu.config.s2`) deploy them.
MIGRATED_FUNCTION_NAME = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_-]{0,127}\$[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# spec §4.1: x-fc-async-task-id
TASK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
# Looser rule for task IDs in paths: generated IDs and IDs from other tools.
TASK_ID_IN_PATH = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

PYTHON_RUNTIME = re.compile(r"^python3(\.\d+)?$")
#: FC 3.0's Node.js runtimes (docs/fidelity.md): run by fcemu.runtime.nodejs.
NODEJS_RUNTIMES = frozenset({"nodejs12", "nodejs14", "nodejs16", "nodejs18", "nodejs20"})
CUSTOM_RUNTIMES = frozenset({"custom", "custom.debian10", "custom.debian11", "custom.debian12"})

#: Fields fcemu accepts and echoes without modelling them (spec §11.1).
ECHOED_FIELDS = (
    "customContainerConfig", "customDNS", "disableInjectCredentials", "disableOndemand",
    "enableLongLiving", "gpuConfig", "idleTimeout", "instanceIsolationMode", "internetAccess",
    "juiceFsConfig", "layers", "logConfig", "microSandboxConfig", "nasConfig", "ossMountConfig",
    "polarFsConfig", "resourceGroupId", "role", "sessionAffinity", "sessionAffinityConfig",
    "tracingConfig", "vpcConfig",
)
#: The modelled CreateFunction / UpdateFunction fields: FC name -> :class:`FunctionSpec` field.
FUNCTION_FIELDS = {
    "runtime": "runtime", "handler": "handler", "timeout": "timeout",
    "memorySize": "memory_size", "diskSize": "disk_size",
    "instanceConcurrency": "instance_concurrency", "cpu": "cpu",
    "environmentVariables": "environment_variables", "description": "description",
    "customRuntimeConfig": "custom_runtime_config",
    "instanceLifecycleConfig": "instance_lifecycle_config", "tags": "tags",
}
#: PutAsyncInvokeConfig's fields: FC name -> :class:`AsyncConfigSpec` field.
ASYNC_CONFIG_FIELDS = {
    "asyncTask": "async_task", "maxAsyncRetryAttempts": "max_async_retry_attempts",
    "maxAsyncEventAgeInSeconds": "max_async_event_age_in_seconds",
}
#: Integer fields of a function: (field, FC name, lowest, highest, multiple of).
_INTEGERS = (("timeout", "timeout", 1, 86400, 1),
             ("memory_size", "memorySize", 128, 32768, 64),
             ("disk_size", "diskSize", 512, 10240, 1),
             ("instance_concurrency", "instanceConcurrency", 1, 200, 1))
#: Lifecycle hooks and their longest timeouts (FC 3.0 limits: Initializer 300 s, PreStop 90 s).
_HOOK_TIMEOUTS = {"initializer": 300, "preStop": 90}


@dataclass(frozen=True)
class FunctionSpec:
    """CreateFunction / UpdateFunction input, checked. ``None`` means "not given": the
    default at create, unchanged at update. ``name`` is needed at create only."""

    name: str | None = None
    runtime: str | None = None
    handler: str | None = None
    timeout: int | None = None
    memory_size: int | None = None
    disk_size: int | None = None
    instance_concurrency: int | None = None
    cpu: float | None = None
    environment_variables: Mapping[str, str] | None = None
    description: str | None = None
    custom_runtime_config: Mapping[str, Any] | None = None
    instance_lifecycle_config: Mapping[str, Any] | None = None
    #: The code package: a Base64 zip, as FC's ``code.zipFile``.
    zip_file: str | None = None
    #: Accepted fields fcemu does not model (:data:`ECHOED_FIELDS`), echoed back as given.
    extra: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            check_function_name(self.name)
        for name in FUNCTION_FIELDS.values():  # every value, also one built in Python
            value = getattr(self, name)
            if value is not None:
                check_document(value, _fc_name(name))
        if self.runtime is not None:
            check_runtime(self.runtime)
        if self.handler is not None:
            check_string(self.handler, "handler", max_len=128, min_len=1)
        for attr, key, low, high, step in _INTEGERS:
            self._set(attr, check_integer(getattr(self, attr), key, low, high, multiple_of=step))
        cpu = self.cpu
        if cpu is not None:
            if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or not 0.05 <= cpu <= 16:
                raise InvalidArgument(f"cpu must be a number between 0.05 and 16, got {cpu!r}")
            self._set("cpu", float(cpu))
        if self.environment_variables is not None:
            self._set("environment_variables", check_environment(self.environment_variables))
        if self.description is not None:
            check_string(self.description, "description", max_len=256)
        for attr, key, check in (("custom_runtime_config", "customRuntimeConfig",
                                  _custom_runtime),
                                 ("instance_lifecycle_config", "instanceLifecycleConfig",
                                  _lifecycle)):
            obj = getattr(self, attr)
            if obj is not None:
                check(check_mapping(obj, key))
        unknown = sorted(set(self.extra) - set(ECHOED_FIELDS))
        if unknown:
            raise InvalidArgument(f"unknown function field(s) {', '.join(unknown)}")
        check_document(dict(self.extra))
        list_of(self.extra.get("layers"), "layers", str, "ARN strings")
        if self.tags is not None:
            self._set("tags", tuple(list_of(self.tags, "tags", dict, "{Key, Value} objects")))
        if self.zip_file is not None and (not isinstance(self.zip_file, str)
                                          or not self.zip_file):
            raise InvalidArgument("code.zipFile must be a base64-encoded zip file")

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # a checked value, normalised (3.0 -> 3)

    def values(self) -> dict[str, Any]:
        """The modelled fields that were given, by :class:`~fcemu.models.Function` field
        (mappings copied, so the function never shares them with the caller)."""
        given = {}
        for name in FUNCTION_FIELDS.values():
            value = getattr(self, name)
            if value is not None and name != "tags":
                given[name] = dict(value) if isinstance(value, Mapping) else value
        return given

    @classmethod
    def of(cls, **given: Any) -> FunctionSpec:
        """A spec from keyword fields named either way: ``memory_size=256`` or
        ``memorySize=256``; ``functionName`` for ``name``, ``code`` for a Base64 zip,
        unmodelled FC fields (``vpcConfig=…``) into ``extra``."""
        kwargs: dict[str, Any] = {}
        extra = dict(given.pop("extra", None) or {})
        names = {f.name for f in fields(cls)}
        for key, value in given.items():
            if key in ECHOED_FIELDS:
                extra[key] = value
                continue
            name = {"functionName": "name", "code": "zip_file",
                    "zipFile": "zip_file"}.get(key) or FUNCTION_FIELDS.get(key, key)
            if name not in names or name == "extra":
                raise TypeError(f"unknown function field {key!r}: use the CreateFunction "
                                f"fields ({', '.join(FUNCTION_FIELDS)}) or {', '.join(names)}")
            kwargs[name] = tuple(value) if name == "tags" and isinstance(value, list) else value
        return cls(**kwargs, extra=extra)


@dataclass(frozen=True)
class AsyncConfigSpec:
    """PutAsyncInvokeConfig input, checked; omitted fields take FC's defaults (spec §7.1).
    ``on_success`` / ``on_failure`` are destination ARNs (the engine reads them)."""

    async_task: bool = False
    max_async_retry_attempts: int = 3
    max_async_event_age_in_seconds: int = 86400
    on_success: str | None = None
    on_failure: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.async_task, bool):
            raise InvalidArgument(f"asyncTask must be true or false, got {self.async_task!r}")
        object.__setattr__(self, "max_async_retry_attempts", check_integer(
            self.max_async_retry_attempts, "maxAsyncRetryAttempts", 0, 8))
        object.__setattr__(self, "max_async_event_age_in_seconds", check_integer(
            self.max_async_event_age_in_seconds, "maxAsyncEventAgeInSeconds", 1, 604800))
        for key in ("onSuccess", "onFailure"):
            arn = getattr(self, "on_success" if key == "onSuccess" else "on_failure")
            if arn is not None and (not isinstance(arn, str) or len(arn) > 512):
                raise InvalidArgument(f"destinationConfig.{key}.destination must be an ARN "
                                      "string of at most 512 characters")
            if isinstance(arn, str):
                check_document(arn, f"destinationConfig.{key}.destination")

    @classmethod
    def of(cls, **given: Any) -> AsyncConfigSpec:
        """A spec from keyword fields named either way (``asyncTask=True`` or
        ``async_task=True``); ``None`` values take the defaults."""
        names = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in given.items():
            name = ASYNC_CONFIG_FIELDS.get(key, key)
            if name not in names:
                raise TypeError(f"unknown async invoke config field {key!r}: use "
                                f"{', '.join(ASYNC_CONFIG_FIELDS)} (or their snake_case "
                                "names), on_success, on_failure")
            if value is not None:
                kwargs[name] = value
        return cls(**kwargs)


# -- names and IDs ------------------------------------------------------------------------

def check_function_name(name: Any, *, migrated: bool = True) -> str:
    """A function name; ``migrated=False`` (CreateFunction over the wire) refuses FC 2.0's
    ``service$function`` form, as FC 3.0 does for new functions."""
    if isinstance(name, str) and migrated and MIGRATED_FUNCTION_NAME.match(name):
        return name
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise InvalidArgument(
            f"invalid functionName {name!r}: use 1-64 letters, digits, '_' or '-', "
            "not starting with a digit or '-'"
        )
    return name


def check_task_id(task_id: str) -> str:
    """A caller-chosen ``x-fc-async-task-id`` (spec §4.1)."""
    if not TASK_ID.match(task_id):
        raise InvalidArgument(
            f"invalid x-fc-async-task-id {task_id!r}: it must start with a letter or '_' and "
            "contain only letters, digits, '_' and '-', at most 128 characters"
        )
    return task_id


def check_request_id(request_id: str, *, becomes_task_id: bool) -> str:
    """A caller-chosen request ID (``x-fc-trace-id``, docs/fidelity.md): letters, digits,
    '_' and '-', at most 128 characters; one that becomes the task ID (an async invocation
    without ``x-fc-async-task-id``) must also be a valid task ID."""
    if not TASK_ID_IN_PATH.match(request_id):
        raise InvalidArgument(
            f"invalid x-fc-trace-id {request_id!r}: a request ID contains only letters, "
            "digits, '_' and '-', at most 128 characters")
    if becomes_task_id and not TASK_ID.match(request_id):
        raise InvalidArgument(
            f"invalid x-fc-trace-id {request_id!r}: without x-fc-async-task-id the request ID "
            "becomes the task ID, so it must start with a letter or '_'")
    return request_id


def check_task_id_in_path(task_id: str) -> str:
    if not TASK_ID_IN_PATH.match(task_id):
        raise InvalidArgument(
            f"invalid taskId {task_id!r}: task IDs contain only letters, digits, '_' and '-', "
            "at most 128 characters"
        )
    return task_id


def check_environment(value: Any) -> dict[str, str]:
    env = check_mapping(value, "environmentVariables")
    for k, v in env.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise InvalidArgument(f"environmentVariables: invalid variable name "
                                  f"{printable(str(k))!r}")
        if not isinstance(v, str):
            raise InvalidArgument(f"environmentVariables.{k} must be a string, got {v!r}")
        if "\0" in v:
            raise InvalidArgument(f"environmentVariables.{k} must not contain a NUL character")
    return env


def check_runtime(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("runtime is required, e.g. python3.10")
    if PYTHON_RUNTIME.match(value) or value in CUSTOM_RUNTIMES or value in NODEJS_RUNTIMES:
        return value
    raise InvalidArgument(
        f"runtime {value!r} is not supported by fcemu: use python3 or any python3.N, e.g. "
        "python3.10 or python3.12 (served by the local interpreter), nodejs12, nodejs14, "
        "nodejs16, nodejs18, nodejs20 (served by the local node) or custom / "
        "custom.debian10-12"
    )


def _custom_runtime(config: Mapping[str, Any]) -> None:
    """The parts of ``customRuntimeConfig`` fcemu runs: a start command that can start."""
    for key in ("command", "args"):
        value = config.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            raise InvalidArgument(f"customRuntimeConfig.{key} must be a list of strings, "
                                  f"got {value!r}")
    port = config.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        raise InvalidArgument(f"customRuntimeConfig.port must be a port number (1-65535), "
                              f"got {port!r}")


def _lifecycle(config: Mapping[str, Any]) -> None:
    """``instanceLifecycleConfig``: each hook an object ``{handler, timeout}``."""
    for hook, longest in _HOOK_TIMEOUTS.items():
        entry = config.get(hook)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise InvalidArgument(f"instanceLifecycleConfig.{hook} must be an object "
                                  f"{{handler, timeout}}, got {entry!r}")
        if entry.get("handler") is not None and not isinstance(entry["handler"], str):
            raise InvalidArgument(f"instanceLifecycleConfig.{hook}.handler must be a string, "
                                  f"got {entry['handler']!r}")
        try:
            check_integer(entry.get("timeout"), "timeout", 1, longest)
        except InvalidArgument as exc:
            raise InvalidArgument(f"instanceLifecycleConfig.{hook}.{exc.message}") from None


def _fc_name(name: str) -> str:
    return next(key for key, attr in FUNCTION_FIELDS.items() if attr == name)
