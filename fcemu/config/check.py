"""Checking a deployment document against :data:`~fcemu.config.schema.SCHEMA`.

:func:`validate` checks a value against the subset of JSON Schema that the
schema uses (no third-party validator needed at run time); a problem is a
:class:`~fcemu.config.marked.ConfigError` naming the file, line and field, and
every field's problem is reported (:class:`~fcemu.config.marked.ConfigErrors`),
not only the first.
:func:`coerce` first turns text into numbers and booleans where the schema wants
them (``${env('X')}`` references give text).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from fcemu.config.marked import (
    ConfigError,
    ConfigErrors,
    MarkedDict,
    MarkedList,
    Where,
    marked_dict,
)
from fcemu.config.schema import SCHEMA

__all__ = ["coerce", "unknown_field", "validate"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


def validate(value: Any, schema: dict[str, Any], where: Where, field: str,
             root: dict[str, Any] = SCHEMA) -> None:
    """Check ``value`` against ``schema``: a :class:`ConfigError` for one problem, a
    :class:`ConfigErrors` holding each for several (the first problem of every field)."""
    errors: list[ConfigError] = []
    _validate(value, schema, where, field, root, errors)
    error = ConfigErrors.of(errors)
    if error is not None:
        raise error


def _validate(value: Any, schema: dict[str, Any], where: Where, field: str,
              root: dict[str, Any], errors: list[ConfigError]) -> None:
    """Check one value; its own problem raises, its members' problems go to ``errors``."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        _one_of(value, schema["oneOf"], where, field, root, errors)
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
        _check_object(value, schema, where, field, root, errors)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            at = value.at(index) if isinstance(value, MarkedList) else where
            _member(item, schema["items"], at, f"{field}[{index}]", root, errors)


def _member(value: Any, schema: dict[str, Any], where: Where, field: str,
            root: dict[str, Any], errors: list[ConfigError]) -> None:
    """Check a member of a mapping or list; its problem is noted and checking goes on."""
    try:
        _validate(value, schema, where, field, root, errors)
    except ConfigError as exc:
        errors.append(exc)


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
            root: dict[str, Any], errors: list[ConfigError]) -> None:
    """The first option whose ``type`` matches decides (our oneOf branches differ by type)."""
    for option in options:
        resolved = root["$defs"][option["$ref"].rsplit("/", 1)[1]] if "$ref" in option else option
        if _is_type(value, resolved.get("type", "object")):
            _validate(value, resolved, where, field, root, errors)
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
                  root: dict[str, Any], errors: list[ConfigError]) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        at = value.at(key) if isinstance(value, MarkedDict) else where
        path = f"{field}.{key}" if field else key
        if names is not None and not re.search(names["pattern"], key):
            errors.append(ConfigError(at, path, f"invalid name {key!r}: must match "
                                                f"{names['pattern']}"))
        elif key in properties:
            _member(item, properties[key], at, path, root, errors)
        elif extra is False:
            errors.append(unknown_field(at, path, key, properties))
        elif isinstance(extra, dict):
            _member(item, extra, at, path, root, errors)
    for key in schema.get("required", ()):
        if key not in value:
            errors.append(ConfigError(where, f"{field}.{key}" if field else key, "is required"))


def unknown_field(where: Where, path: str, key: str, known: Iterable[str],
                  otherwise: str = "") -> ConfigError:
    """``unknown field (did you mean 'timeout'?)``, or the known names (or ``otherwise``)
    when none is close."""
    names = list(known)
    hint = difflib.get_close_matches(key, names, n=1)
    said = (f"did you mean {hint[0]!r}?" if hint
            else otherwise or "known: " + ", ".join(names))
    return ConfigError(where, path, f"unknown field ({said})")


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
