"""Deployment-file plumbing: YAML with line numbers, the ``fcemu.yaml`` JSON Schema, a validator.

:mod:`fcemu.config` reads ``s.yaml`` and ``fcemu.yaml`` with :func:`load_yaml`,
which keeps where every mapping key and list item came from, so that any
problem found later can be reported as ``file:line: field: what is wrong``.

:data:`SCHEMA` is the JSON Schema (draft 2020-12) of ``fcemu.yaml``; its
``$defs/function`` also describes the ``fc3`` props fcemu models in
``s.yaml``. ``fcemu config-schema`` prints it for editors. :func:`validate`
checks a document against the subset of JSON Schema that :data:`SCHEMA` uses
(no third-party validator needed at run time).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

__all__ = ["SCHEMA", "ConfigError", "MarkedDict", "MarkedList", "Where", "coerce", "load_yaml",
           "validate"]


@dataclass(frozen=True)
class Where:
    """A place in a deployment file: path and 1-based line."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class ConfigError(ValueError):
    """A deployment file is wrong; the message names the file, the line and the field.

    :param where: file and line, or None when the problem is not tied to a line.
    :param field: dotted path of the field (``functions.job.timeout``), or "".
    :param message: what is wrong and, where possible, what to write instead.
    """

    def __init__(self, where: Where | Path | None, field: str, message: str) -> None:
        self.where, self.field, self.message = where, field, message
        place = f"{where}: " if where is not None else ""
        super().__init__(f"{place}{field + ': ' if field else ''}{message}")


class MarkedDict(dict[str, Any]):
    """A YAML mapping that remembers where it and each of its keys are."""

    where: Where
    key_where: dict[str, Where]

    def at(self, key: str) -> Where:
        """Where ``key`` is written, or where the mapping starts when it is absent."""
        return self.key_where.get(key, self.where)


class MarkedList(list[Any]):
    """A YAML sequence that remembers where it and each of its items are."""

    where: Where
    item_where: list[Where]

    def at(self, index: int) -> Where:
        return self.item_where[index] if index < len(self.item_where) else self.where


def marked_dict(where: Where, items: dict[str, Any] | None = None,
                key_where: dict[str, Where] | None = None) -> MarkedDict:
    """A new :class:`MarkedDict` (used when values are rebuilt: merges, references)."""
    result = MarkedDict(items or {})
    result.where = where
    result.key_where = dict(key_where or {})
    return result


class _Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    path: Path


# Dates stay strings: FC fields are strings, and fcemu converts times itself.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    result = marked_dict(Where(loader.path, node.start_mark.line + 1))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        where = Where(loader.path, key_node.start_mark.line + 1)
        if not isinstance(key, str):
            # YAML 1.1 reads `on:`/`yes:`/`1:` as bool/int keys; every key we read is a name
            key = "true" if key is True else "false" if key is False else str(key)
        if key in result:
            raise ConfigError(where, key, f"duplicate key (first written on line "
                                          f"{result.key_where[key].line})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_where[key] = where
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.where = Where(loader.path, node.start_mark.line + 1)
    result.item_where = [Where(loader.path, child.start_mark.line + 1) for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; mappings become :class:`MarkedDict`, lists :class:`MarkedList`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    loader = _Loader(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(path, mark.line + 1) if mark is not None else path
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(where, "", f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


# -- the schema ---------------------------------------------------------------------------

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"  # spec §4.1
_SMQ_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,255}$"  # spec §13.4


def _int(low: int, high: int | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, **extra}
    if high is not None:
        schema["maximum"] = high
    return schema


_DESTINATION = {
    "description": "An ARN (acs:mns:…:/queues/<q>/messages, acs:mns:…:/topics/<t>/messages, "
                   "acs:fc:…:functions/<name>, acs:eventbridge:…:eventbus/<bus>), or a bare "
                   "queue name (fcemu shorthand). {accountid} and {region} are replaced.",
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 512},
        {"type": "object", "properties": {"destination": {"type": "string", "maxLength": 512}},
         "additionalProperties": False},
    ],
}

_FUNCTION_PROPERTIES: dict[str, Any] = {
    "functionName": {"type": "string", "pattern": _NAME},
    "runtime": {"type": "string", "description": "python3, python3.x (the local "
                "interpreter) or custom, custom.debian10-12"},
    "handler": {"type": "string", "minLength": 1, "maxLength": 128},
    "code": {
        "description": "A directory or .zip file, relative to this file",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "properties": {
                "src": {"type": "string", "minLength": 1},
                "zipFile": {"type": "string", "minLength": 1},
                "ossBucketName": {"type": "string"},
                "ossObjectName": {"type": "string"},
                "checksum": {"type": "string"},
            }, "additionalProperties": False},
        ],
    },
    "timeout": _int(1, 86400),
    "memorySize": _int(128, 32768, multipleOf=64),
    "cpu": {"type": "number", "minimum": 0.05, "maximum": 16},
    "diskSize": {"enum": [512, 10240]},
    "instanceConcurrency": _int(1, 200),
    "environmentVariables": {
        "type": "object",
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "description": {"type": "string", "maxLength": 256},
    "customRuntimeConfig": {"type": "object", "properties": {
        "command": {"type": "array", "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
        "port": _int(1, 65535),
        "healthCheckConfig": {"type": "object"},
    }, "additionalProperties": False},
    "instanceLifecycleConfig": {"type": "object", "properties": {
        "initializer": {"$ref": "#/$defs/hook"},
        "preStop": {"$ref": "#/$defs/hook"},
    }, "additionalProperties": False},
    "asyncInvokeConfig": {"$ref": "#/$defs/asyncInvokeConfig"},
    "concurrencyConfig": {"type": "object", "properties": {
        "reservedConcurrency": _int(0),
    }, "required": ["reservedConcurrency"], "additionalProperties": False},
}

_FUNCTION = {
    "type": "object",
    "description": "A function: the fc3 component's props (FC 3.0 CreateFunction fields).",
    "properties": _FUNCTION_PROPERTIES,
    # fc3 props fcemu accepts without modelling (reported once as ignored)
    "additionalProperties": True,
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://fcemu.invalid/fcemu.schema.json",
    "title": "fcemu.yaml",
    "description": "fcemu's own deployment file: functions, async configs, queues, topics and "
                   "emulator settings. Unknown keys are errors, except not-modelled fc3 "
                   "function props, which are reported as ignored.",
    "type": "object",
    "properties": {
        "version": {"const": 1},
        "settings": {"type": "object", "properties": {
            "host": {"type": "string"},
            "port": _int(0, 65535),
            "clock": {"enum": ["real", "manual"]},
            "start": {"type": ["string", "integer"],
                      "description": "manual clock start: ISO 8601 or epoch milliseconds"},
            "seed": {"type": ["integer", "null"]},
            "region": {"type": "string", "pattern": r"^[a-z0-9-]+$"},
            "accountId": {"type": ["string", "integer"], "pattern": r"^[0-9]+$"},
            "retryBaseMs": _int(0),
            "destinationEncoding": {"enum": ["raw", "base64"]},
            "strictDestinations": {"type": "boolean"},
            "maxInstances": _int(1),
            "instanceIdleSeconds": {"type": "number", "minimum": 0,
                                    "description": "real seconds an idle instance stays warm "
                                                   "before it is stopped (default 300)"},
            "settleTimeout": {"type": "number", "minimum": 0},
            "accessKeys": {"type": "array", "items": {"type": "string", "pattern": r"^[^:]+:."},
                           "description": "verify mode: AccessKey pairs as ID:SECRET; FC and "
                                          "SMQ request signatures are checked against them"},
            "allowHosts": {"type": "array", "items": {"type": "string", "minLength": 1},
                           "description": "Host names answered besides loopback names and "
                                          "addresses and host ('*': any)"},
            "allowOrigins": {"type": "array", "items": {
                "type": "string",
                "pattern": r"^(\*|null|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+/?)$"},
                "description": "browser origins (http://localhost:3000) whose requests are "
                               "answered, with CORS headers ('*': any)"},
            "passEnv": {"type": "array",
                        "items": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                        "description": "names of the server's environment variables that "
                                       "handlers get too (by default only FC's, the "
                                       "function's and PATH, HOME, LANG, TZ...)"},
        }, "additionalProperties": False},
        "vars": {"type": "object", "description": "values for {name} placeholders in "
                 "destination ARNs"},
        "functions": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/function"},
                                               {"type": "null"}]},
        },
        "queues": {
            "type": "object",
            "propertyNames": {"pattern": _SMQ_NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/queue"}, {"type": "null"}]},
        },
        "topics": {
            "type": "object",
            "propertyNames": {"pattern": _SMQ_NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/topic"}, {"type": "null"}]},
        },
    },
    "additionalProperties": False,
    "$defs": {
        "function": _FUNCTION,
        "hook": {"type": "object", "properties": {
            "handler": {"type": "string"}, "timeout": _int(1, 900),
            "command": {"type": "array", "items": {"type": "string"}},
        }, "additionalProperties": False},
        "asyncInvokeConfig": {"type": "object", "properties": {
            "asyncTask": {"type": "boolean"},
            "statefulInvocation": {"type": "boolean", "description": "FC 2.0 name of asyncTask"},
            "maxAsyncRetryAttempts": _int(0, 8),
            "maxAsyncEventAgeInSeconds": _int(1, 604800),
            "qualifier": {"type": "string"},
            "destinationConfig": {"type": "object", "properties": {
                "onSuccess": _DESTINATION, "onFailure": _DESTINATION,
            }, "additionalProperties": False},
        }, "additionalProperties": False},
        "queue": {"type": "object", "properties": {
            "delaySeconds": _int(0, 604800),
            "maximumMessageSize": _int(1024, 65536),
            "messageRetentionPeriod": _int(60, 604800),
            "visibilityTimeout": _int(1, 43200),
            "pollingWaitSeconds": _int(0, 30),
            "loggingEnabled": {"type": "boolean"},
        }, "additionalProperties": False},
        "topic": {"type": "object", "properties": {
            "maximumMessageSize": _int(1024, 65536),
            "subscriptions": {
                "type": "object",
                "propertyNames": {"pattern": _SMQ_NAME},
                "additionalProperties": {"type": "object", "properties": {
                    "queue": {"type": "string", "pattern": _SMQ_NAME},
                    "filterTag": {"type": "string", "maxLength": 16},
                    "notifyContentFormat": {"enum": ["XML", "JSON", "SIMPLIFIED"]},
                    "notifyStrategy": {"enum": ["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]},
                }, "required": ["queue"], "additionalProperties": False},
            },
        }, "additionalProperties": False},
    },
}

#: Function props fcemu models; every other prop is accepted and reported as ignored.
MODELLED_PROPS = frozenset(_FUNCTION_PROPERTIES)


# -- the validator (the JSON Schema subset SCHEMA uses) ------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


def validate(value: Any, schema: dict[str, Any], where: Where, field: str,
             root: dict[str, Any] = SCHEMA) -> None:
    """Check ``value`` against ``schema``; the first problem is a :class:`ConfigError`."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        _one_of(value, schema["oneOf"], where, field, root)
        return
    if "const" in schema and value != schema["const"]:
        raise ConfigError(where, field, f"must be {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        raise ConfigError(where, field, f"must be one of {allowed}; got {value!r}")
    if "type" in schema and not _is_type(value, schema["type"]):
        raise ConfigError(where, field, f"must be {_type_words(schema['type'])}, "
                                        f"got {_describe(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, where, field)
    if isinstance(value, str):
        _check_string(value, schema, where, field)
    if isinstance(value, dict):
        _check_object(value, schema, where, field, root)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            at = value.at(index) if isinstance(value, MarkedList) else where
            validate(item, schema["items"], at, f"{field}[{index}]", root)


def coerce(value: Any, schema: dict[str, Any], root: dict[str, Any] = SCHEMA) -> Any:
    """Text where the schema wants a number or a boolean, converted (``${env('X')}`` gives text).

    Only whole integers, numbers and ``true``/``false`` are converted; anything
    else is left for :func:`validate` to report.
    """
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, MarkedDict):
        for option in schema.get("oneOf", ()):  # the mapping branch of a oneOf
            if _option_type(option, root) == "object":
                return coerce(value, option, root)
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        out = marked_dict(value.where, dict(value), value.key_where)
        for key, item in value.items():
            if key in properties:
                out[key] = coerce(item, properties[key], root)
            elif isinstance(extra, dict):
                out[key] = coerce(item, extra, root)
        return out
    if not isinstance(value, str):
        return value
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    enum = schema.get("enum", [])
    text = value.strip()
    if ("integer" in kinds or "number" in kinds or any(isinstance(e, int) for e in enum)) \
            and re.fullmatch(r"-?\d+", text):
        return int(text)
    if "number" in kinds and re.fullmatch(r"-?\d*\.\d+", text):
        return float(text)
    if "boolean" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _one_of(value: Any, options: list[dict[str, Any]], where: Where, field: str,
            root: dict[str, Any]) -> None:
    """The first option whose ``type`` matches decides (our oneOf branches differ by type)."""
    for option in options:
        resolved = root["$defs"][option["$ref"].rsplit("/", 1)[1]] if "$ref" in option else option
        if _is_type(value, resolved.get("type", "object")):
            validate(value, resolved, where, field, root)
            return
    kinds = " or ".join(_type_words(_option_type(o, root)) for o in options)
    raise ConfigError(where, field, f"must be {kinds}, got {_describe(value)}")


def _option_type(option: dict[str, Any], root: dict[str, Any]) -> str | list[str]:
    if "$ref" in option:
        option = root["$defs"][option["$ref"].rsplit("/", 1)[1]]
    return option.get("type", "object")  # type: ignore[no-any-return]


def _check_number(value: float, schema: dict[str, Any], where: Where, field: str) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(where, field, f"must be {span}, got {value}")
    step = schema.get("multipleOf")
    if step and value % step:
        raise ConfigError(where, field, f"must be a multiple of {step}, got {value}")


def _check_string(value: str, schema: dict[str, Any], where: Where, field: str) -> None:
    if len(value) < schema.get("minLength", 0):
        raise ConfigError(where, field, "must not be empty")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ConfigError(where, field, f"must be at most {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise ConfigError(where, field, f"{value!r} does not match {schema['pattern']}")


def _check_object(value: dict[str, Any], schema: dict[str, Any], where: Where, field: str,
                  root: dict[str, Any]) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        at = value.at(key) if isinstance(value, MarkedDict) else where
        path = f"{field}.{key}" if field else key
        if names is not None and not re.search(names["pattern"], key):
            raise ConfigError(at, path, f"invalid name {key!r}: must match {names['pattern']}")
        if key in properties:
            validate(item, properties[key], at, path, root)
        elif extra is False:
            hint = difflib.get_close_matches(key, list(properties), n=1)
            known = f"did you mean {hint[0]!r}?" if hint else "known: " + ", ".join(properties)
            raise ConfigError(at, path, f"unknown field ({known})")
        elif isinstance(extra, dict):
            validate(item, extra, at, path, root)
    for key in schema.get("required", ()):
        if key not in value:
            raise ConfigError(where, f"{field}.{key}" if field else key, "is required")


def _is_type(value: Any, kind: str | list[str]) -> bool:
    kinds = [kind] if isinstance(kind, str) else kind
    for name in kinds:
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, _TYPES[name]):
            return True
    return False


def _type_words(kind: str | list[str]) -> str:
    kinds = [kind] if isinstance(kind, str) else kind
    words = {"object": "a mapping", "array": "a list", "null": "empty", "integer": "an integer",
             "number": "a number", "string": "a string", "boolean": "true or false"}
    return " or ".join(words[k] for k in kinds)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)
