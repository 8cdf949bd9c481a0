"""Wire input → typed specs: request JSON documents, query values and headers, checked.

The API's half of "the engine speaks Python, the API speaks wire": CreateFunction
and UpdateFunction bodies become :class:`~fcemu.specs.FunctionSpec`,
PutAsyncInvokeConfig bodies :class:`~fcemu.specs.AsyncConfigSpec`. What only a
JSON document can get wrong is checked here (its shape: objects where objects
belong, ``code.zipFile``, ``destinationConfig``; its depth and Unicode through
:func:`~fcemu.specs.check_document`); the values are checked by the spec as it is
built. Every rejection is an :class:`~fcemu.errors.InvalidArgument` that names
the field and what is allowed (decisions.md: "names the field and the allowed
range").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fcemu.checks import (
    MAX_JSON_DEPTH,
    check_decimal,
    check_document,
    check_integer,
    check_mapping,
    printable,
)
from fcemu.errors import InvalidArgument
from fcemu.specs import (
    ASYNC_CONFIG_FIELDS,
    ECHOED_FIELDS,
    FUNCTION_FIELDS,
    TASK_ID,
    AsyncConfigSpec,
    FunctionSpec,
    check_function_name,
    check_runtime,
)

__all__ = ["MAX_JSON_DEPTH", "TASK_ID", "async_config_spec", "check_document",
           "check_function_name", "function_spec", "integer", "printable", "query_bool",
           "query_int"]


def function_spec(doc: Any, *, create: bool) -> FunctionSpec:
    """A ``CreateFunctionInput`` / ``UpdateFunctionInput`` (spec §11.1) as a spec.

    CreateFunction needs ``functionName``, ``runtime`` and ``handler``; UpdateFunction
    changes only what it names.
    """
    if not isinstance(doc, Mapping):
        raise InvalidArgument("the function document must be a JSON object")
    check_document(doc)
    name = check_function_name(doc.get("functionName"), migrated=False) if create else None
    if create or "runtime" in doc:
        check_runtime(doc.get("runtime"))
    if create and doc.get("handler") is None:
        raise InvalidArgument("handler is required")
    fields = {attr: doc[key] for key, attr in FUNCTION_FIELDS.items()
              if doc.get(key) is not None}
    spec = FunctionSpec(name=name, extra={k: doc[k] for k in ECHOED_FIELDS if k in doc},
                        **fields)
    zip_file = _zip_file(doc)
    return spec if zip_file is None else replace(spec, zip_file=zip_file)


def async_config_spec(doc: Mapping[str, Any]) -> AsyncConfigSpec:
    """A ``PutAsyncInvokeConfigInput`` (spec §7.1) as a spec; omitted fields take defaults."""
    check_document(doc)
    destinations = doc.get("destinationConfig")
    destinations = {} if destinations is None else check_mapping(destinations,
                                                                  "destinationConfig")
    fields = {attr: doc[key] for key, attr in ASYNC_CONFIG_FIELDS.items()
              if doc.get(key) is not None}
    return AsyncConfigSpec(on_success=_destination(destinations, "onSuccess"),
                           on_failure=_destination(destinations, "onFailure"), **fields)


def integer(doc: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    """An integer field of a JSON document within ``[low, high]``; None when absent."""
    value: int | None = check_integer(doc.get(key), key, low, high)
    return value


def query_int(value: str | None, key: str, low: int, high: int, default: int | None) -> int | None:
    """An integer query parameter (or header value): digits (:func:`check_decimal`)."""
    if value is None or value == "":
        return default
    return check_decimal(value, key, low, high)


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


def _zip_file(doc: Mapping[str, Any]) -> str | None:
    code = doc.get("code")
    if code is None:
        return None
    code = check_mapping(code, "code")
    if code.get("ossBucketName") or code.get("ossObjectName"):
        raise InvalidArgument(
            "code.ossBucketName/ossObjectName: fcemu runs offline and cannot fetch code from "
            "OSS; send the code as code.zipFile (a base64 zip)"
        )
    zip_file = code.get("zipFile")
    if not isinstance(zip_file, str) or not zip_file:
        raise InvalidArgument("code.zipFile must be a base64-encoded zip file")
    return zip_file


def _destination(config: Mapping[str, Any], key: str) -> str | None:
    entry = config.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise InvalidArgument(f"destinationConfig.{key} must be an object with a destination ARN")
    arn = entry.get("destination")
    if arn in (None, ""):
        return None
    if not isinstance(arn, str):
        raise InvalidArgument(f"destinationConfig.{key}.destination must be an ARN string of "
                              "at most 512 characters")
    return arn
