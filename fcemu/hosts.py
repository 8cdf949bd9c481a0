"""Which ``Host`` and ``Origin`` values the emulator answers: the front door's policy.

fcemu runs the user's code, so a request that a web page made must not reach
it (issue 9, docs/security.md). Two browser attacks matter, and each has a
header the page cannot forge:

- **DNS rebinding.** A page on ``evil.example`` re-points its name at
  127.0.0.1 and reads the emulator's answers as same-origin responses. The
  browser still sends ``Host: evil.example``. :func:`host_allowed` accepts only
  loopback names and addresses (``localhost``, ``*.localhost``, 127.0.0.0/8,
  ``::1``), the configured ``--host``, the names given with ``--allow-host``,
  and Alibaba Cloud's own FC and MNS endpoint names (mock mode forwards those
  unchanged, and no web page can point ``*.aliyuncs.com`` at this machine).
- **Cross-site requests.** A page may POST ``text/plain`` to any address; the
  browser labels it with ``Origin`` and ``Sec-Fetch-Site``.
  :func:`origin_allowed` accepts an ``Origin`` the user listed with
  ``--allow-origin`` (``*`` for any) or the emulator's own origin
  (``http://`` + the ``Host`` it was reached by), and nothing that says
  ``Sec-Fetch-Site: cross-site`` unless its ``Origin`` is listed.

SDKs, curl and the CLI send neither ``Origin`` nor ``Sec-Fetch-Site``, and
reach the emulator by a loopback address: nothing changes for them. This
module is pure (no aiohttp); :mod:`fcemu.api.front_door` applies it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["ANY", "FC_ENDPOINT", "MNS_ENDPOINT", "host_allowed", "host_name", "normalize_origin",
           "origin_allowed"]

#: ``--allow-host '*'`` / ``--allow-origin '*'``: accept any value (the check is off).
ANY = "*"

#: Alibaba Cloud's FC endpoint names (spec §1: ``fcv3.<region>.aliyuncs.com``,
#: ``fc.<region>…``, ``[<account>.]<region>.fc.aliyuncs.com``); no port.
FC_ENDPOINT = (r"(?:fcv3|fc)(?:-[a-z0-9]+)?\.[a-z0-9-]+\.aliyuncs\.com"
               r"|(?:\d+\.)?[a-z0-9-]+\.fc\.aliyuncs\.com")
#: Alibaba Cloud's MNS endpoint names (spec §13.1: ``<account>.mns.<region>.aliyuncs.com``).
MNS_ENDPOINT = r"\d+\.mns\.[a-z0-9-]+\.aliyuncs\.com"
_CLOUD_NAME = re.compile(rf"^(?:{FC_ENDPOINT}|{MNS_ENDPOINT})$")
#: Listening on every interface names no host a client would use.
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$")


def host_name(value: str) -> str | None:
    """The host name (lower case, no port, no brackets, no final dot) of a ``Host`` value.

    The FC SDK sends the configured endpoint string as it is, so
    ``http://127.0.0.1:9000`` is a ``Host`` it may send (spec §1.1); the scheme
    is dropped. None when the value names no host.
    """
    text = value.strip().lower()
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name = text[1:end]
    elif text.count(":") == 1:
        name = text.partition(":")[0]
    else:  # a plain name, or a bare IPv6 address
        name = text
    name = name.rstrip(".")
    return name or None


@functools.lru_cache(maxsize=256)  # per request: parse each name once (issue 13)
def _is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def host_allowed(value: str | None, listen_host: str, allowed: Iterable[str]) -> bool:
    """Whether a request with this ``Host`` header may be answered.

    :param value: the ``Host`` header; None when the request has none (not a
        browser: HTTP/1.1 browsers always send it), which is allowed.
    :param listen_host: the interface the emulator listens on (``Settings.host``).
    :param allowed: the extra names of ``Settings.allow_hosts`` (``*`` allows any).
    """
    if value is None:
        return True
    return _host_allowed(value, listen_host, tuple(allowed))


@functools.lru_cache(maxsize=256)  # per request: one answer per Host value (issue 13)
def _host_allowed(value: str, listen_host: str, allowed: tuple[str, ...]) -> bool:
    name = host_name(value)
    if name is None:
        return False
    extra = {n.strip().lower().rstrip(".") for n in allowed}
    if ANY in extra or name in extra or _is_loopback(name) or _CLOUD_NAME.match(name):
        return True
    listen = listen_host.strip().lower().strip("[]").rstrip(".")
    return listen not in _WILDCARDS and name == listen


def normalize_origin(value: str) -> str:
    """An origin as compared: lower case, no trailing ``/``; ``*`` and ``null`` kept.

    :raises ValueError: not ``scheme://host[:port]``, ``null`` or ``*``.
    """
    text = value.strip().lower().rstrip("/")
    if text in (ANY, "null") or _ORIGIN.match(text):
        return text
    raise ValueError(f"an origin is scheme://host[:port] (e.g. http://localhost:3000), "
                     f"'null' or '*'; got {value!r}")


def origin_allowed(origin: str | None, fetch_site: str | None, host: str | None,
                   allowed: Iterable[str]) -> bool:
    """Whether a request with these ``Origin`` and ``Sec-Fetch-Site`` headers may be answered.

    :param origin: the ``Origin`` header, or None.
    :param fetch_site: the ``Sec-Fetch-Site`` header, or None.
    :param host: the ``Host`` header (already accepted by :func:`host_allowed`).
    :param allowed: ``Settings.allow_origins`` (normalized; ``*`` allows any).
    """
    if origin is not None and listed(origin, allowed):
        return True
    if fetch_site is not None and fetch_site.strip().lower() == "cross-site":
        return False
    return origin is None or same_origin(origin, host)


def listed(origin: str, allowed: Iterable[str]) -> bool:
    """Whether ``origin`` is one the user allowed (``--allow-origin``)."""
    wanted = set(allowed)
    return ANY in wanted or origin.strip().lower().rstrip("/") in wanted


def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` is the emulator's own: ``http(s)://`` + the ``Host`` it was reached by."""
    if host is None:
        return False
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    reached = host.strip().lower()
    for scheme in ("http://", "https://"):
        if reached.startswith(scheme):
            reached = reached[len(scheme):]
    return parts.netloc == reached.rstrip("/")
