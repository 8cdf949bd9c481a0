"""A state tree as JSON and back: the body of a snapshot file.

A state is plain data (None, booleans, numbers, strings, bytes, lists, tuples, dicts,
paths, packed integer arrays, enums) plus the dataclasses of the model that the caller
names in ``types``. JSON keeps the plain kinds as they are and tags the others with a
one-key object whose key starts with ``$``: ``$b`` bytes (Base64), ``$t`` a tuple, ``$d`` a
dict whose keys are not all plain strings, ``$p`` a path, ``$a`` an array, ``$e`` an enum,
``$c`` a dataclass (by the name it has in ``types``). Reading builds only those types: a
file can name no other class and runs no code (unlike pickle), so an uploaded snapshot is
safe to read. A value of any other kind (a Python callable) cannot be written:
:class:`NotPortable` names where it was.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import zlib
from array import array
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

__all__ = ["NotPortable", "StateFileError", "decode_state", "encode_state"]

#: The first bytes of a snapshot file, then a format version line.
MAGIC = b"fcemu-snapshot\n"
FORMAT = 1


class NotPortable(ValueError):
    """The state holds a value a file cannot carry (``where`` says which)."""


class StateFileError(ValueError):
    """Bytes that are not a snapshot file this version of fcemu reads."""


def encode_state(state: Any, types: Mapping[str, type]) -> bytes:
    """The snapshot file of ``state`` (zlib-compressed JSON after a header)."""
    names = {cls: name for name, cls in types.items()}
    body = json.dumps(_out(state, names, "state"), separators=(",", ":")).encode()
    return MAGIC + f"{FORMAT}\n".encode() + zlib.compress(body, 3)


def decode_state(data: bytes, types: Mapping[str, type]) -> Any:
    """The state of a file :func:`encode_state` wrote; :class:`StateFileError` otherwise."""
    if not data.startswith(MAGIC):
        raise StateFileError("not an fcemu snapshot file (it does not start with "
                             "'fcemu-snapshot'): upload a file from POST /_fcemu/snapshot"
                             "?download=1 or `fcemu snapshot save --file`")
    version, _, rest = data[len(MAGIC):].partition(b"\n")
    if version != str(FORMAT).encode():
        raise StateFileError(f"snapshot file format {version[:20].decode(errors='replace')!r} "
                             f"is not the one this fcemu reads ({FORMAT}): save it again "
                             "with this version")
    try:
        tree = json.loads(zlib.decompress(rest))
        return _in(tree, types)
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise StateFileError(f"the snapshot file is damaged: {exc}") from None


def _out(value: Any, names: Mapping[type, str], where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, enum.Enum):
            return {"$e": [type(value).__name__, value.value]}
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_out(v, names, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$t": [_out(v, names, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _out(v, names, f"{where}.{k}") for k, v in value.items()}
        return {"$d": [[_out(k, names, where), _out(v, names, f"{where}[{k!r}]")]
                       for k, v in value.items()]}
    if isinstance(value, PurePath):
        return {"$p": str(value)}
    if isinstance(value, array):
        return {"$a": [value.typecode, value.tolist()]}
    if isinstance(value, enum.Enum):
        return {"$e": [type(value).__name__, value.value]}
    name = names.get(type(value))
    if name is not None and dataclasses.is_dataclass(value):
        return {"$c": [name, {f.name: _out(getattr(value, f.name), names, f"{where}.{f.name}")
                              for f in dataclasses.fields(value)}]}
    raise NotPortable(f"{where} is a {type(value).__name__}, which a snapshot file cannot "
                      "hold")


def _in(value: Any, types: Mapping[str, type]) -> Any:
    if isinstance(value, list):
        return [_in(v, types) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, body), = value.items()
        if tag == "$b":
            return base64.b64decode(body, validate=True)
        if tag == "$t":
            return tuple(_in(v, types) for v in body)
        if tag == "$d":
            return {_in(k, types): _in(v, types) for k, v in body}
        if tag == "$p":
            return Path(body)
        if tag == "$a":
            return array(str(body[0]), body[1])
        if tag == "$e":
            cls = types.get(body[0])
            if cls is None or not issubclass(cls, enum.Enum):
                raise ValueError(f"unknown enum {body[0]!r}")
            return cls(body[1])
        if tag == "$c":
            cls = types.get(body[0])
            if cls is None or not dataclasses.is_dataclass(cls):
                raise ValueError(f"unknown record type {body[0]!r}")
            return cls(**{k: _in(v, types) for k, v in body[1].items()})
    return {k: _in(v, types) for k, v in value.items()}
