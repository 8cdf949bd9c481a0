"""Request signature checks of verify mode: ACS3-HMAC-SHA256 (FC API) and MNS (SMQ API).

Signatures are not checked by default. With configured AccessKey pairs
(``Settings.access_keys``, ``fcemu serve --access-key ID:SECRET``) the FC API and
the MNS routes check every request (decisions.md "Accounts, regions,
credentials"). This module is the pure part: given what was received, each
function returns ``None`` or raises the error the API answers with.

- :func:`verify_acs3` follows spec §2.1–2.2 and sdk-notes §1.5: canonical URI
  as sent, the query form-decoded (``+`` is a space on the wire) and
  re-encoded with RFC 3986 rules, canonical headers rebuilt from the received
  headers named in ``SignedHeaders`` (in that order; ``host`` as received),
  and ``x-acs-content-sha256`` checked against the body.
- :func:`verify_mns` follows spec §13.1 and sdk-notes §2.3: the ``x-mns-*``
  headers, the raw request URI, and the SDK's non-standard Content-MD5
  (Base64 of the hex MD5 string).

STS credentials are accepted when their AccessKey pair is configured (the
token itself is not checked). Bearer tokens are refused in verify mode.
Dates and nonces are not checked (spec §2.2: no documented window).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from typing import NoReturn, TypeAlias
from urllib.parse import parse_qsl, quote

from fcemu.errors import (
    AccessDenied,
    InvalidAccessKeyID,
    InvalidAuthorizationHeader,
    MissingAuthorizationHeader,
    MissingDateHeader,
    MissingRequiredHeader,
    SignatureDoesNotMatch,
    SignatureNotMatch,
    SmqInvalidAccessKeyId,
)

__all__ = ["ACS3", "Headers", "verify_acs3", "verify_mns"]

log = logging.getLogger("fcemu.signing")

#: The one ACS3 algorithm verify mode checks (the FC SDK's default, spec §2).
ACS3 = "ACS3-HMAC-SHA256"

#: Received headers: a mapping (a multidict's ``items()`` gives repeated names too) or
#: ``(name, value)`` pairs, names in any case.
Headers: TypeAlias = "Mapping[str, str] | Iterable[tuple[str, str]]"


def _collect(headers: Headers) -> dict[str, list[str]]:
    """Header values by lower-case name, in arrival order."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append(value)
    return out


# -- FC: ACS3-HMAC-SHA256 -------------------------------------------------------------------


def verify_acs3(method: str, raw_path_and_query: str, headers: Headers, body: bytes,
                secrets: Mapping[str, str]) -> None:
    """Check an FC API request signed with ACS3-HMAC-SHA256 (spec §2.2).

    :param method: the request method as received (``GET``, ``POST``…).
    :param raw_path_and_query: the request target exactly as sent (still percent-encoded).
    :param headers: the received headers.
    :param body: the received body bytes (``b""`` when none).
    :param secrets: AccessKeySecret by AccessKeyId.
    :raises MissingRequiredHeader: no ``Authorization`` header (400).
    :raises AccessDenied: a bearer-token request (403; verify mode takes AccessKey pairs only).
    :raises InvalidAccessKeyID: the ``Credential`` is not a configured AccessKeyId (403).
    :raises SignatureNotMatch: anything else that does not check out (403).
    """
    received = _collect(headers)
    if "x-acs-bearer-token" in received or any(
            v.strip().upper() == "BEARERTOKEN" for v in received.get("x-acs-signature-type", [])):
        raise AccessDenied("bearer tokens are not accepted: fcemu's signature verify mode "
                           "checks ACS3-HMAC-SHA256 signatures made with a configured "
                           "AccessKey pair")
    authorization = received.get("authorization")
    if not authorization:
        raise MissingRequiredHeader("Authorization")
    algorithm, credential, signed, signature = _parse_acs3(authorization[0])
    if credential not in secrets:
        raise InvalidAccessKeyID(credential)
    sts_key_id = received.get("x-acs-accesskey-id")
    if sts_key_id is not None and sts_key_id[0].strip() != credential:
        _mismatch(f"x-acs-accesskey-id {sts_key_id[0].strip()!r} is not the Credential "
                  f"{credential!r}")
    for name in _must_sign(received):
        if name not in {s.lower() for s in signed}:
            _mismatch(f"header {name!r} is not in SignedHeaders")

    payload = hashlib.sha256(body).hexdigest()
    declared = received.get("x-acs-content-sha256")
    if declared is not None and declared[0].strip().lower() != payload:
        _mismatch(f"x-acs-content-sha256 {declared[0].strip()!r} is not the SHA-256 of the "
                  f"{len(body)}-byte body ({payload})")

    lines = []
    for name in signed:
        values = received.get(name.lower())
        if values is None:
            _mismatch(f"signed header {name!r} is not in the request")
        lines.append(f"{name}:{','.join(sorted(v.strip() for v in values))}\n")
    path, _, query = raw_path_and_query.partition("?")
    canonical_request = "\n".join([
        method.upper(), path or "/", canonical_query(query), "".join(lines), ";".join(signed),
        payload])
    string_to_sign = f"{algorithm}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    expected = hmac.new(secrets[credential].encode(), string_to_sign.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        _mismatch(f"signature of {credential!r} differs; canonical request:\n"
                  f"{canonical_request}")


def canonical_query(raw_query: str) -> str:
    """The ACS3 canonical query string of a query as received on the wire.

    The SDK sends ``urlencode`` form (space as ``+``) but signs RFC 3986 values
    (space as ``%20``, ``+`` as ``%2B``): form-decode, sort by key, re-encode
    values only (spec §2.1 step 3, the "trap").
    """
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    return "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(pairs))


def _parse_acs3(authorization: str) -> tuple[str, str, list[str], str]:
    """``ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`` → its four parts."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ACS3:
        detail = "ACS3-HMAC-SHA256 is the only algorithm checked" if algorithm.startswith(
            "ACS3-") else "expected an ACS3-HMAC-SHA256 Authorization header"
        raise SignatureNotMatch(f"{SignatureNotMatch.default_message} ({detail}; "
                                f"got {algorithm!r})")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value.strip()
    credential, signed, signature = (parts.get("Credential"), parts.get("SignedHeaders"),
                                     parts.get("Signature"))
    if not credential or not signed or not signature:
        raise SignatureNotMatch(f"{SignatureNotMatch.default_message} (malformed "
                                "Authorization header: Credential, SignedHeaders and "
                                "Signature are all required)")
    return algorithm, credential, signed.split(";"), signature


def _must_sign(received: Mapping[str, list[str]]) -> list[str]:
    """Received headers an ACS3 signature has to cover: host, content-type, ``x-acs-*``."""
    return [name for name in received
            if name in ("host", "content-type") or name.startswith("x-acs-")]


def _mismatch(detail: str) -> NoReturn:
    log.warning("ACS3 signature rejected: %s", detail)
    raise SignatureNotMatch()


# -- SMQ: MNS -------------------------------------------------------------------------------


def verify_mns(method: str, raw_uri: str, headers: Headers, body: bytes,
               secrets: Mapping[str, str]) -> None:
    """Check an MNS API request signature (spec §13.1, sdk-notes §2.3).

    :param method: the request method as received.
    :param raw_uri: the request target exactly as sent (path, ``?`` and raw query).
    :param headers: the received headers.
    :param body: the received body bytes.
    :param secrets: AccessKeySecret by AccessKeyId.
    :raises MissingAuthorizationHeader: no ``Authorization`` header (400).
    :raises InvalidAuthorizationHeader: not ``MNS <AccessKeyId>:<Signature>`` (400).
    :raises MissingDateHeader: no ``Date`` header (400).
    :raises SmqInvalidAccessKeyId: the AccessKeyId is not configured (403 ``InvalidAccessKeyId``).
    :raises SignatureDoesNotMatch: wrong signature or Content-MD5 (403).
    """
    received = _collect(headers)
    authorization = received.get("authorization")
    if not authorization:
        raise MissingAuthorizationHeader()
    scheme, _, credentials = authorization[0].strip().partition(" ")
    key_id, sep, signature = credentials.strip().rpartition(":")
    if scheme != "MNS" or not sep or not key_id or not signature:
        raise InvalidAuthorizationHeader("The Authorization header format is invalid: "
                                         "expected 'MNS <AccessKeyId>:<Signature>'.")
    if "date" not in received:
        raise MissingDateHeader()
    if key_id not in secrets:
        raise SmqInvalidAccessKeyId(f"The AccessKey Id you provided is not exist: {key_id}.")

    content_md5 = _first(received, "content-md5")
    if body:
        expected_md5 = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()
        if content_md5 != expected_md5:
            _mns_mismatch(f"Content-MD5 {content_md5!r} is not Base64(hex MD5 of the body) "
                          f"{expected_md5!r}")
    mns_headers = "".join(f"{name}:{','.join(received[name])}\n"
                          for name in sorted(received) if name.startswith("x-mns-"))
    string_to_sign = (f"{method.upper()}\n{content_md5}\n{_first(received, 'content-type')}\n"
                      f"{_first(received, 'date')}\n{mns_headers}{raw_uri}")
    expected = base64.b64encode(hmac.new(secrets[key_id].encode(), string_to_sign.encode(),
                                         hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        _mns_mismatch(f"signature of {key_id!r} differs; string to sign:\n{string_to_sign}")


def _first(received: Mapping[str, list[str]], name: str) -> str:
    values = received.get(name)
    return values[0] if values else ""


def _mns_mismatch(detail: str) -> NoReturn:
    log.warning("MNS signature rejected: %s", detail)
    raise SignatureDoesNotMatch()
