"""SMQ limits: resource names, attribute ranges and defaults, batch sizes (spec §13.4).

Validation raises the documented SMQ errors with messages that name the
element and its range, e.g. ``The value of VisibilityTimeout should be between
1 and 43200 seconds; got 0.``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fcemu.errors import SmqError, SmqInvalidArgument

#: ``waitseconds`` range for long polling (spec §13.4).
MAX_WAIT_SECONDS = 30
#: Batch operations take at most this many messages (spec §13.3).
MAX_BATCH = 16
#: BatchSendMessage: the bodies of one batch total at most this many bytes ("a maximum of
#: 16 messages at a time, with the total size not exceeding 64 KB",
#: https://www.alibabacloud.com/help/doc-detail/175586.htm).
MAX_BATCH_BYTES = 65536
#: ChangeMessageVisibility range; the SDK checks 0–43200 (spec §13.3).
MAX_VISIBILITY_TIMEOUT = 43200

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_MAX_NAME = 256
# spec §13.4: (low, high, unit, default) per numeric attribute.
QUEUE_SPECS: dict[str, tuple[int, int, str, int]] = {
    "DelaySeconds": (0, 604800, "seconds", 0),
    "MaximumMessageSize": (1024, 65536, "bytes", 65536),
    "MessageRetentionPeriod": (60, 604800, "seconds", 345600),
    "VisibilityTimeout": (1, 43200, "seconds", 30),
    "PollingWaitSeconds": (0, MAX_WAIT_SECONDS, "seconds", 0),
}
TOPIC_SPECS = {"MaximumMessageSize": QUEUE_SPECS["MaximumMessageSize"]}


def differences(have: Mapping[str, Any], asked: Mapping[str, Any]) -> str:
    """``VisibilityTimeout 30 (asked 60)``, for the *AlreadyExist* messages."""
    return ", ".join(f"{k} {have[k]} (asked {asked[k]})" for k in have if have[k] != asked[k])


def check_batch_bytes(bodies: Iterable[str]) -> None:
    """InvalidArgument when message bodies (as sent: after the client's Base64, UTF-8)
    total more than :data:`MAX_BATCH_BYTES`. No MNS error code is documented for it."""
    total = sum(len(b) if b.isascii() else len(b.encode("utf-8")) for b in bodies)
    if total > MAX_BATCH_BYTES:
        raise SmqInvalidArgument(f"The total size of the message bodies in a batch should be "
                                 f"at most {MAX_BATCH_BYTES} bytes; got {total} bytes.")


def page_names(items: Mapping[str, object], prefix: str, marker: str, limit: int) -> list[str]:
    """Sorted names with ``prefix``, from ``marker`` on, one more than ``limit`` if there are."""
    if limit < 1:
        raise SmqInvalidArgument(f"The value of ret-number should be between 1 and 1000; "
                                 f"got {limit}.")
    names = sorted(n for n in items if n.startswith(prefix) and n >= marker)
    return names[:limit + 1]


def check_name(name: str, invalid: type[SmqError], length: type[SmqError], what: str) -> None:
    """Letters, digits and ``-``, starting with a letter or digit, 1–256 long (spec §13.4)."""
    if not 1 <= len(name) <= _MAX_NAME:
        raise length(f"The length of {what} name should be between 1 and {_MAX_NAME}; "
                     f"got {len(name)}.")
    if not _NAME.match(name):
        raise invalid(f"The {what} name {name!r} is invalid: use letters, digits and '-', "
                      "starting with a letter or digit.")


def defaults(specs: dict[str, tuple[int, int, str, int]]) -> dict[str, Any]:
    """Every attribute at its default value."""
    return {name: spec[3] for name, spec in specs.items()} | {"LoggingEnabled": False}


def camel(key: str) -> str:
    """``visibility_timeout`` → ``VisibilityTimeout``; MNS names pass through."""
    return "".join(part[:1].upper() + part[1:] for part in key.split("_")) if "_" in key else key


def normalise(specs: dict[str, tuple[int, int, str, int]],
               attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate attributes given by MNS name (or snake_case), converting digit strings."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        name = camel(key)
        if name == "LoggingEnabled":
            out[name] = to_bool(name, value)
        elif name in specs:
            low, high, unit, _ = specs[name]
            out[name] = int_in_range(name, value, low, high, unit)
        else:
            raise SmqInvalidArgument(
                f"The XML you provided did not validate against our published schema, "
                f"cause by {key}.")
    return out


def to_bool(name: str, value: Any) -> bool:
    """``True``/``False`` (any case, as the SDK writes them) or a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise SmqInvalidArgument(f"The value of {name} should be True or False; got {value!r}.")


def int_in_range(name: str, value: Any, low: int, high: int, unit: str) -> int:
    """An integer (or digit string) within ``low..high``, else InvalidArgument naming both."""
    if type(value) is int and low <= value <= high:  # the usual case, first (issue 13)
        return value
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        # plain ASCII digits, few enough for int() (which refuses 4300+ digits)
        number = int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else None
    if number is None or not low <= number <= high:
        shown = repr(value) if len(str(value)) <= 40 else repr(str(value)[:40] + "...")
        raise SmqInvalidArgument(
            f"The value of {name} should be between {low} and {high}"
            f"{' ' + unit if unit else ''}; got {shown}.")
    return number


def one_of(element: str, value: str, allowed: tuple[str, ...]) -> None:
    """InvalidArgument naming ``element`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise SmqInvalidArgument(f"The value of {element} should be one of "
                                 f"{', '.join(allowed)}; got {value!r}.")
