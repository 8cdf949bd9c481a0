"""SMQ message properties: a message's user and system properties, their limits and state.

A message may carry properties (``UserProperties`` and ``SystemProperties`` in the XML of
SendMessage and BatchSendMessage), delivered with it by ReceiveMessage and PeekMessage
and their batch forms. The limits are those of SMQ's message-properties page
(https://help.aliyun.com/zh/mns/developer-reference/message-properties, in English
https://www.alibabacloud.com/help/en/mns/developer-reference/message-properties):

- at most :data:`MAX_PROPERTIES` (50) properties a message;
- a name is 1 to 256 characters of ``A-Z a-z 0-9 _ - .``, case-sensitive, unique within
  the message;
- the types are String, Number, Boolean and Binary; a value is at most
  :data:`MAX_VALUE` (4096) characters, a Binary one as its Base64 text; a Boolean is the
  string ``true`` or ``false``; a Number is *not* checked ("does not validate that the
  value is a number ... but processes it as a string").

Where the page says nothing (or the stored copy of it ends), fcemu decides, and
docs/smq.md says so: a type is read in any letter case and kept upper-case, as the MNS
SDKs send and read it (``STRING``); a Binary value must be Base64; the system properties
are the six names the MNS SDKs know (:data:`SYSTEM_NAMES`), of type String only, with
the user properties' value limit and not counted in the 50; properties do not count
toward the queue's ``MaximumMessageSize``, which measures the body. Every refusal is
``InvalidArgument`` (no other code is documented for them).

A message without properties holds ``None`` (:attr:`fcemu.smq.Message.properties`), so
it costs nothing more than the one slot.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from fcemu.errors import SmqInvalidArgument

__all__ = ["MAX_PROPERTIES", "MAX_VALUE", "PROPERTY_TYPES", "SYSTEM_NAMES", "Properties",
           "Property", "make_properties", "properties_from_state"]

#: A message holds at most this many user properties.
MAX_PROPERTIES = 50
#: A property value (a Binary one as Base64 text) is at most this many characters.
MAX_VALUE = 4096
#: The types, as the MNS SDKs spell them on the wire (``PropertyType`` in the Python and
#: Java SDKs: upper case; the docs write String, Number, Boolean, Binary).
PROPERTY_TYPES = ("STRING", "NUMBER", "BOOLEAN", "BINARY")
#: The system property names the MNS SDKs know (``SystemPropertyName`` of aliyun-mns-sdk
#: 1.3.0, ``MessageSystemPropertyName`` of the Java SDK): trace context and dead-letter.
SYSTEM_NAMES = ("traceparent", "tracestate", "baggage", "DLQMessageType", "DLQSourceArn",
                "DLQOriginMessageId")

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_MAX_NAME = 256

#: One property: ``(name, type, value)``, the type upper-case, the value as on the wire
#: (a Binary one in Base64).
Property = tuple[str, str, str]


class Properties(NamedTuple):
    """A message's properties, each kind in the order sent. Build one with
    :func:`make_properties`, which checks the limits."""

    user: tuple[Property, ...] = ()
    system: tuple[Property, ...] = ()

    def to_state(self) -> tuple[tuple[Property, ...], tuple[Property, ...]]:
        """Plain tuples (``marshal`` writes no named tuple): :func:`properties_from_state`
        reads them back."""
        return (self.user, self.system)


def make_properties(user: Iterable[tuple[str, str, str]] = (),
                    system: Iterable[tuple[str, str, str]] = (), *,
                    where: str = "") -> Properties | None:
    """Checked properties from ``(name, type, value)`` triples (a type in any case), or
    None when there are none. ``where`` prefixes every error message (``message 3: ``).
    Raises :class:`~fcemu.errors.SmqInvalidArgument` naming the property and the limit."""
    given_user, given_system = list(user), list(system)
    if not given_user and not given_system:
        return None
    if len(given_user) > MAX_PROPERTIES:
        raise SmqInvalidArgument(f"{where}UserProperties: a message has at most "
                                 f"{MAX_PROPERTIES} properties; got {len(given_user)}.")
    users = tuple(_checked(p, "UserProperties", where) for p in given_user)
    systems = tuple(_checked(p, "SystemProperties", where) for p in given_system)
    for kind, props in (("UserProperties", users), ("SystemProperties", systems)):
        seen: set[str] = set()
        for name, _, _ in props:
            if name in seen:
                raise SmqInvalidArgument(f"{where}{kind}: the property name {name!r} is given "
                                         "twice (names are unique within a message).")
            seen.add(name)
    return Properties(users, systems)


def _checked(prop: tuple[str, str, str], kind: str, where: str) -> Property:
    name, type_, value = prop
    at = f"{where}{kind}: "
    if kind == "SystemProperties":
        if name not in SYSTEM_NAMES:
            raise SmqInvalidArgument(f"{at}{name[:300]!r} is not a system property; they are "
                                     f"{', '.join(SYSTEM_NAMES)}.")
    elif not _NAME.fullmatch(name):
        raise SmqInvalidArgument(
            f"{at}the property name {name[:300]!r} is not valid: a name is 1 to {_MAX_NAME} "
            "characters of A-Z, a-z, 0-9, '_', '-' and '.'.")
    canonical = type_.upper() if type_.isascii() else type_
    allowed = ("STRING",) if kind == "SystemProperties" else PROPERTY_TYPES
    if canonical not in allowed:
        raise SmqInvalidArgument(f"{at}property {name!r} has Type {type_[:40]!r}; the types "
                                 f"are {', '.join(allowed)}.")
    if len(value) > MAX_VALUE:
        raise SmqInvalidArgument(f"{at}the value of property {name!r} is {len(value)} "
                                 f"characters; at most {MAX_VALUE}.")
    if canonical == "BOOLEAN" and value not in ("true", "false"):
        raise SmqInvalidArgument(f"{at}the Boolean property {name!r} is {value[:40]!r}; it "
                                 "must be the string 'true' or 'false'.")
    if canonical == "BINARY":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SmqInvalidArgument(f"{at}the Binary property {name!r} is not Base64 text: "
                                     f"{value[:40]!r}.") from None
    return (name, canonical, value)


def properties_from_state(state: Any) -> Properties:
    """The properties of :meth:`Properties.to_state`'s tuples (or lists read from JSON)."""
    user, system = state
    return Properties(tuple((str(n), str(t), str(v)) for n, t, v in user),
                      tuple((str(n), str(t), str(v)) for n, t, v in system))
