"""Reading MNS requests: the raw query, integer parameters, list headers, Create/Set
bodies, resource URLs, and the SMQ account a request is served by.

Every bad value is an :class:`~fcemu.errors.SmqInvalidArgument` naming the
parameter (spec §13.3), never a ValueError.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote
from xml.etree import ElementTree

from aiohttp import web

from fcemu.api.keys import ENGINE
from fcemu.api.smq import xml
from fcemu.errors import SmqInvalidArgument
from fcemu.smq import MAX_BATCH

if TYPE_CHECKING:
    from fcemu.smq import Smq

__all__ = ["attributes", "batch_count", "int_or", "int_param", "list_args", "override",
           "query", "smq_of", "url"]

_INTEGER = re.compile(r"-?[0-9]{1,18}")


def smq_of(request: web.Request) -> Smq:
    """The SMQ account the app serves."""
    smq: Smq = request.app[ENGINE].smq
    return smq


def query(request: web.Request) -> dict[str, str]:
    """Query parameters by lower-case name, from the raw request target: receipt handles
    arrive unencoded, so ``+`` must stay ``+`` (spec §13.3)."""
    out: dict[str, str] = {}
    for part in request.raw_path.partition("?")[2].split("&"):
        key, _, value = part.partition("=")
        if key:
            out.setdefault(unquote(key).lower(), unquote(value))
    return out


def int_param(name: str, value: str | None) -> int | None:
    """An integer parameter, ``None`` when absent; InvalidArgument naming it when it is not
    a plain decimal integer of at most 18 digits (every MNS range is far below that; Python
    would refuse 4300+ digits with a ValueError of its own)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise SmqInvalidArgument(f"The value of {name} should be an integer; got {shown!r}.")
    return int(text)


def int_or(name: str, value: str | None, default: int) -> int:
    """:func:`int_param`, with ``default`` when absent."""
    number = int_param(name, value)
    return default if number is None else number


def batch_count(value: str | None, name: str) -> int:
    """A message count of 1 (absent) to :data:`~fcemu.smq.MAX_BATCH`."""
    number = int_or(name, value, 1)
    if not 1 <= number <= MAX_BATCH:
        raise SmqInvalidArgument(f"The value of {name} should be between 1 and {MAX_BATCH}; "
                                 f"got {value!r}.")
    return number


def list_args(request: web.Request) -> tuple[str, str, int, bool]:
    """ListQueue / ListTopic / ListSubscriptionByTopic headers (spec §13.3)."""
    h = request.headers
    limit = int_or("x-mns-ret-number", h.get("x-mns-ret-number"), 1000)
    if not 1 <= limit <= 1000:
        raise SmqInvalidArgument(f"The value of x-mns-ret-number should be between 1 and "
                                 f"1000; got {limit}.")
    with_meta = h.get("x-mns-with-meta", "").lower() == "true"
    return h.get("x-mns-prefix", ""), h.get("x-mns-marker", ""), limit, with_meta


def url(request: web.Request, *parts: str) -> str:
    """The absolute URL of a resource on this server (``Location``, list entries)."""
    return f"{request.scheme}://{request.host}/" + "/".join(parts)


def override(request: web.Request) -> bool:
    """``?metaoverride=true``: a PUT sets attributes instead of creating."""
    return query(request).get("metaoverride", "").lower() == "true"


def attributes(root: ElementTree.Element | None, name: str) -> dict[str, str]:
    """Attribute elements of a Create/Set body; an empty body sets nothing."""
    return xml.fields(xml.expect(root, name) if root is not None else None)
