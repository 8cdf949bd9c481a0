"""Reading FC input documents: names, types and ranges, each failure a clear 400.

The engine calls these on the JSON documents of CreateFunction,
UpdateFunction and PutAsyncInvokeConfig (wire casing, as the SDK sends them)
and on task IDs and query values. Every rejection is an
:class:`~fcemu.errors.InvalidArgument` that names the field and what is
allowed (decisions.md: "names the field and the allowed range").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from fcemu.errors import InvalidArgument

# spec §4.1: letters, digits, _ and -; not starting with a digit or -; 1–64 chars
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# spec §4.1: x-fc-async-task-id
TASK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
# Looser rule for task IDs in paths: generated IDs and IDs from other tools.
TASK_ID_IN_PATH = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

PYTHON_RUNTIME = re.compile(r"^python3(\.\d+)?$")
CUSTOM_RUNTIMES = frozenset({"custom", "custom.debian10", "custom.debian11", "custom.debian12"})

#: Fields fcemu accepts and echoes without modelling them (spec §11.1).
ECHOED_FIELDS = (
    "customContainerConfig", "customDNS", "disableInjectCredentials", "disableOndemand",
    "enableLongLiving", "gpuConfig", "idleTimeout", "instanceIsolationMode", "internetAccess",
    "juiceFsConfig", "layers", "logConfig", "microSandboxConfig", "nasConfig", "ossMountConfig",
    "polarFsConfig", "resourceGroupId", "role", "sessionAffinity", "sessionAffinityConfig",
    "tracingConfig", "vpcConfig",
)
#: Deepest nesting of arrays and objects a JSON document may have (fcemu's limit: FC's
#: documents are a few levels deep; deeper ones only exhaust the stack).
MAX_JSON_DEPTH = 100


def check_document(doc: Any, where: str = "") -> None:
    """Every string of a decoded JSON document, keys included, is valid Unicode (no lone
    surrogate such as ``"\\ud800"``), and arrays and objects nest at most
    :data:`MAX_JSON_DEPTH` deep; an InvalidArgument naming the field otherwise.
    """
    # (value, depth, trail): trail is (parent trail, key or index), turned into a path
    # such as ``environmentVariables.A`` or ``tags[0].Key`` only for an error message
    stack: list[tuple[Any, int, Any]] = [(doc, 0, None)]
    while stack:
        value, depth, trail = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                _check_text(value, partial(_path, where, trail))
        elif isinstance(value, list):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(_path(where, trail))
            stack.extend((v, depth + 1, (trail, i)) for i, v in enumerate(value))
        elif isinstance(value, dict):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(_path(where, trail))
            for key, item in value.items():
                if isinstance(key, str) and not key.isascii():
                    _check_text(key, partial(_key_of, where, trail))
                stack.append((item, depth + 1, (trail, key)))


def _path(where: str, trail: Any) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        parts.append(f"[{key}]" if isinstance(key, int) else "." + printable(str(key)))
    path = (where + "".join(reversed(parts))).lstrip(".") or "the request body"
    return path if len(path) <= 120 else path[:100] + "..."


def _key_of(where: str, trail: Any) -> str:
    return "a key of " + _path(where, trail)


def _too_deep(path: str) -> InvalidArgument:
    return InvalidArgument(f"{path} is nested more than {MAX_JSON_DEPTH} levels deep")


def _check_text(text: str, path: Callable[[], str]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start].encode("utf-8", "backslashreplace").decode("ascii")
        raise InvalidArgument(f"{path()} is not valid Unicode: it holds a lone surrogate "
                              f"({bad})") from None


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes (safe in messages)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_function_name(name: str) -> str:
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


def check_task_id_in_path(task_id: str) -> str:
    if not TASK_ID_IN_PATH.match(task_id):
        raise InvalidArgument(
            f"invalid taskId {task_id!r}: task IDs contain only letters, digits, '_' and '-', "
            "at most 128 characters"
        )
    return task_id


def integer(doc: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None,
            *, multiple_of: int = 1) -> int | None:
    """An integer field within ``[low, high]``; ``default`` when absent."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidArgument(f"{key} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidArgument(f"{key} must be between {low} and {high}, got {value}")
    if value % multiple_of:
        raise InvalidArgument(f"{key} must be a multiple of {multiple_of}, got {value}")
    return value


def string(doc: Mapping[str, Any], key: str, *, max_len: int, required: bool = False,
           min_len: int = 0) -> str | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise InvalidArgument(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string, got {value!r}")
    if not min_len <= len(value) <= max_len:
        raise InvalidArgument(f"{key} must be {min_len}-{max_len} characters long")
    return value


def boolean(doc: Mapping[str, Any], key: str, default: bool | None = None) -> bool | None:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidArgument(f"{key} must be true or false, got {value!r}")
    return value


def mapping(doc: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{key} must be a JSON object, got {value!r}")
    return value


def environment(doc: Mapping[str, Any]) -> dict[str, str] | None:
    env = mapping(doc, "environmentVariables")
    if env is None:
        return None
    for k, v in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise InvalidArgument(f"environmentVariables: invalid variable name "
                                  f"{printable(k)!r}")
        if not isinstance(v, str):
            raise InvalidArgument(f"environmentVariables.{k} must be a string, got {v!r}")
        if "\0" in v:
            raise InvalidArgument(f"environmentVariables.{k} must not contain a NUL character")
    return dict(env)


def runtime(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("runtime is required, e.g. python3.10")
    if PYTHON_RUNTIME.match(value) or value in CUSTOM_RUNTIMES:
        return value
    raise InvalidArgument(
        f"runtime {value!r} is not supported by fcemu: use python3.9, python3.10, python3.12 "
        "(served by the local interpreter) or custom / custom.debian10-12"
    )


@dataclass(frozen=True)
class FunctionFields:
    """The validated, modelled part of a CreateFunction / UpdateFunction document."""

    values: dict[str, Any]
    zip_file: str | None
    echoed: dict[str, Any]
    tags: list[Any]


def function_fields(doc: Mapping[str, Any], *, create: bool) -> FunctionFields:
    """Validate a ``CreateFunctionInput`` / ``UpdateFunctionInput`` (spec §11.1)."""
    if not isinstance(doc, Mapping):
        raise InvalidArgument("the function document must be a JSON object")
    check_document(doc)
    values: dict[str, Any] = {}
    if create or "runtime" in doc:
        values["runtime"] = runtime(doc.get("runtime"))
    handler = string(doc, "handler", max_len=128, min_len=1, required=create)
    if handler is not None:
        values["handler"] = handler
    for attr, key, low, high, step in (
        ("timeout", "timeout", 1, 86400, 1),
        ("memory_size", "memorySize", 128, 32768, 64),
        ("disk_size", "diskSize", 512, 10240, 1),
        ("instance_concurrency", "instanceConcurrency", 1, 200, 1),
    ):
        number = integer(doc, key, low, high, multiple_of=step)
        if number is not None:
            values[attr] = number
    if doc.get("cpu") is not None:
        cpu = doc["cpu"]
        if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or not 0.05 <= cpu <= 16:
            raise InvalidArgument(f"cpu must be a number between 0.05 and 16, got {cpu!r}")
        values["cpu"] = float(cpu)
    env = environment(doc)
    if env is not None:
        values["environment_variables"] = env
    description = string(doc, "description", max_len=256)
    if description is not None:
        values["description"] = description
    for attr, key, check in (("custom_runtime_config", "customRuntimeConfig", _custom_runtime),
                             ("instance_lifecycle_config", "instanceLifecycleConfig",
                              _lifecycle)):
        obj = mapping(doc, key)
        if obj is not None:
            check(obj)
            values[attr] = obj
    echoed = {k: doc[k] for k in ECHOED_FIELDS if k in doc}
    _list_of(echoed, "layers", str, "ARN strings")
    return FunctionFields(values, _zip_file(doc), echoed,
                          _list_of(doc, "tags", dict, "{Key, Value} objects"))


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


#: Lifecycle hooks and their longest timeouts (FC 3.0 limits: Initializer 300 s, PreStop 90 s).
_HOOK_TIMEOUTS = {"initializer": 300, "preStop": 90}


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
            integer(entry, "timeout", 1, longest)
        except InvalidArgument as exc:
            raise InvalidArgument(f"instanceLifecycleConfig.{hook}.{exc.message}") from None


def _list_of(doc: Mapping[str, Any], key: str, kind: type, what: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise InvalidArgument(f"{key} must be a list of {what}")
    return list(value)


def _zip_file(doc: Mapping[str, Any]) -> str | None:
    code = mapping(doc, "code")
    if code is None:
        return None
    if code.get("ossBucketName") or code.get("ossObjectName"):
        raise InvalidArgument(
            "code.ossBucketName/ossObjectName: fcemu runs offline and cannot fetch code from "
            "OSS; send the code as code.zipFile (a base64 zip)"
        )
    zip_file = code.get("zipFile")
    if not isinstance(zip_file, str) or not zip_file:
        raise InvalidArgument("code.zipFile must be a base64-encoded zip file")
    return zip_file


@dataclass(frozen=True)
class AsyncConfigFields:
    async_task: bool
    max_async_retry_attempts: int
    max_async_event_age_in_seconds: int
    on_success: str | None
    on_failure: str | None


def async_config_fields(doc: Mapping[str, Any]) -> AsyncConfigFields:
    """Validate a ``PutAsyncInvokeConfigInput`` (spec §7.1); omitted fields take defaults."""
    check_document(doc)
    destinations = mapping(doc, "destinationConfig") or {}
    return AsyncConfigFields(
        async_task=bool(boolean(doc, "asyncTask", False)),
        max_async_retry_attempts=integer(doc, "maxAsyncRetryAttempts", 0, 8, 3) or 0,
        max_async_event_age_in_seconds=integer(
            doc, "maxAsyncEventAgeInSeconds", 1, 604800, 86400
        ) or 86400,
        on_success=_destination(destinations, "onSuccess"),
        on_failure=_destination(destinations, "onFailure"),
    )


def _destination(config: Mapping[str, Any], key: str) -> str | None:
    entry = config.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise InvalidArgument(f"destinationConfig.{key} must be an object with a destination ARN")
    arn = entry.get("destination")
    if arn in (None, ""):
        return None
    if not isinstance(arn, str) or len(arn) > 512:
        raise InvalidArgument(f"destinationConfig.{key}.destination must be an ARN string of "
                              "at most 512 characters")
    return arn


def query_int(value: str | None, key: str, low: int, high: int, default: int | None) -> int | None:
    """An integer query parameter."""
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"{key} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise InvalidArgument(f"{key} must be between {low} and {high}, got {number}")
    return number


def query_bool(value: str | None, key: str, default: bool = False) -> bool:
    """A boolean query parameter; the SDK sends ``True``/``False`` (spec §2.1)."""
    if value in (None, ""):
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"{key} must be true or false, got {value!r}")
