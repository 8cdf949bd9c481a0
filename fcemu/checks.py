"""Checks of the values a request or a spec carries, each an
:class:`~fcemu.errors.InvalidArgument` that names the field and what is allowed
(decisions.md: "names the field and the allowed range"): a JSON document's strings are valid
Unicode and its nesting bounded, integers within a range (a JSON number, or the digits of a
header or query value), strings within a length, objects, lists of one kind.
:mod:`fcemu.specs` builds the function and async-config checks on these; the HTTP API
checks request bodies, headers and query values with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from fcemu.errors import InvalidArgument

#: Deepest nesting of arrays and objects a JSON document may have (fcemu's limit: FC's
#: documents are a few levels deep; deeper ones only exhaust the stack).
MAX_JSON_DEPTH = 100
#: A decimal integer in a header or query value (:func:`check_decimal`).
_DECIMAL = re.compile(r"-?[0-9]+")


def check_document(doc: Any, where: str = "") -> None:
    """Every string of a document, keys included, is valid Unicode (no lone surrogate
    such as ``"\\ud800"``), and arrays and objects nest at most :data:`MAX_JSON_DEPTH`
    deep; an InvalidArgument naming the field otherwise.
    """
    # (value, depth, trail): trail is (parent trail, key or index), turned into a path
    # such as ``environmentVariables.A`` or ``tags[0].Key`` only for an error message
    stack: list[tuple[Any, int, Any]] = [(doc, 0, None)]
    while stack:
        value, depth, trail = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                _check_text(value, partial(_path, where, trail))
        elif isinstance(value, (list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(_path(where, trail))
            stack.extend((v, depth + 1, (trail, i)) for i, v in enumerate(value))
        elif isinstance(value, Mapping):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(_path(where, trail))
            for key, item in value.items():
                if isinstance(key, str) and not key.isascii():
                    _check_text(key, partial(_key_of, where, trail))
                stack.append((item, depth + 1, (trail, key)))


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes (safe in messages)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_integer(value: Any, key: str, low: int, high: int, *,
                  multiple_of: int = 1) -> Any:
    """An integer within ``[low, high]`` (an integral float becomes an int); None stays."""
    if value is None:
        return None
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


def check_decimal(text: str, key: str, low: int, high: int) -> int:
    """A header or query value that is a decimal integer within ``[low, high]``: ASCII
    digits, with a ``-`` in front at most. Python's ``int()`` also takes ``1_0``, ``+5``,
    `` 5 `` and other scripts' digits (``١٠``); FC's integer parameters are digits."""
    if _DECIMAL.fullmatch(text) is None:
        raise InvalidArgument(f"{key} must be an integer, got {_shown(text)!r}")
    if len(text.lstrip("-").lstrip("0")) > 18:  # out of every range; int() refuses 4300+
        raise InvalidArgument(f"{key} must be between {low} and {high}, got {_shown(text)}")
    number = int(text)
    if not low <= number <= high:
        raise InvalidArgument(f"{key} must be between {low} and {high}, got {number}")
    return number


def check_string(value: Any, key: str, *, max_len: int, min_len: int = 0) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string, got {value!r}")
    if not min_len <= len(value) <= max_len:
        raise InvalidArgument(f"{key} must be {min_len}-{max_len} characters long")
    return value


def check_mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{key} must be a JSON object, got {value!r}")
    return dict(value)


def list_of(value: Any, key: str, kind: type, what: str) -> list[Any]:
    """A list (or tuple) whose items are all ``kind`` (``what`` names them in the error);
    None is the empty list."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, kind) for v in value):
        raise InvalidArgument(f"{key} must be a list of {what}")
    return list(value)


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


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
