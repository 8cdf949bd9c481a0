"""Request signatures of verify mode: ACS3-HMAC-SHA256 (FC API) and MNS (SMQ API).

Signatures are not checked by default. With configured AccessKey pairs
(``Settings.access_keys``, ``fcemu serve --access-key ID:SECRET``) the FC API and
the MNS routes check every request (decisions.md "Accounts, regions,
credentials"). This module is the pure part: given what was received, each
``verify_*`` function returns ``None`` or raises the error the API answers
with; given what is about to be sent, each ``sign_*`` function returns the
headers the SDKs would send (the ``fcemu`` CLI signs with them). Both sides
build the canonical request / string to sign with the same helpers.

- :func:`verify_acs3` follows spec §2.1–2.2 and sdk-notes §1.5: canonical URI
  as sent, the query form-decoded (``+`` is a space on the wire) and
  re-encoded with RFC 3986 rules, canonical headers rebuilt from the received
  headers named in ``SignedHeaders`` (in that order; ``host`` as received),
  and ``x-acs-content-sha256`` checked against the body.
- :func:`verify_mns` follows spec §13.1 and sdk-notes §2.3: the ``x-mns-*``
  headers, the raw request URI, ``x-mns-date`` in place of a missing ``Date``,
  and an optional Content-MD5, checked after the signature: the SDK's
  non-standard form (Base64 of the hex MD5 string) or RFC 1864's.

- :func:`sign_acs3` and :func:`sign_mns` are the client side: the headers of
  spec §1.1 / §13.1, every one signed, as the SDKs sign them.

STS credentials are accepted when their AccessKey pair is configured (the
token itself is not checked). Bearer tokens are refused in verify mode.
Request dates and nonces are checked after the signature, by :mod:`fcemu.api.replay`.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import NoReturn, TypeAlias
from urllib.parse import parse_qsl, quote

from fcemu.errors import (
    AccessDenied,
    InvalidAccessKeyID,
    InvalidAuthorizationHeader,
    InvalidDegist,
    MissingAuthorizationHeader,
    MissingDateHeader,
    MissingRequiredHeader,
    SignatureDoesNotMatch,
    SignatureNotMatch,
    SmqInvalidAccessKeyId,
)

__all__ = ["ACS3", "FC_VERSION", "MNS_VERSION", "Headers", "canonical_query", "mns_content_md5",
           "mns_content_md5_matches", "mns_date", "sign_acs3", "sign_mns", "verify_acs3",
           "verify_mns"]

log = logging.getLogger("fcemu.signing")

#: The one ACS3 algorithm verify mode checks (the FC SDK's default, spec §2).
ACS3 = "ACS3-HMAC-SHA256"
#: ``x-acs-version`` of the FC 3.0 API (spec §1.1).
FC_VERSION = "2023-03-30"
#: ``x-mns-version`` of the SMQ (MNS) API (spec §13.1).
MNS_VERSION = "2015-06-06"

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
    _, credential, signed, signature = _parse_acs3(authorization[0])
    if credential not in secrets:
        raise InvalidAccessKeyID(credential)
    sts_key_id = received.get("x-acs-accesskey-id")
    if sts_key_id is not None and sts_key_id[0].strip() != credential:
        _mismatch(f"x-acs-accesskey-id {sts_key_id[0].strip()!r} is not the Credential "
                  f"{credential!r}")
    for name in _must_sign(received, has_body=bool(body)):
        if name not in {s.lower() for s in signed}:
            _mismatch(f"header {name!r} is not in SignedHeaders")

    payload = hashlib.sha256(body).hexdigest()
    declared = received.get("x-acs-content-sha256")
    if declared is not None and declared[0].strip().lower() != payload:
        _mismatch(f"x-acs-content-sha256 {declared[0].strip()!r} is not the SHA-256 of the "
                  f"{len(body)}-byte body ({payload})")

    for name in signed:
        if name.lower() not in received:
            _mismatch(f"signed header {name!r} is not in the request")
    canonical_request = _acs3_canonical_request(method, raw_path_and_query, received, signed,
                                                payload)
    expected = _acs3_signature(secrets[credential], canonical_request)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        _mismatch(f"signature of {credential!r} differs; canonical request:\n"
                  f"{canonical_request}")


def sign_acs3(method: str, raw_path_and_query: str, headers: Mapping[str, str], body: bytes,
              key_id: str, secret: str, *, host: str, action: str, date: str | None = None,
              nonce: str | None = None) -> dict[str, str]:
    """The headers of an FC API request signed with ACS3-HMAC-SHA256 (spec §1.1, §2.1).

    :param method: the request method.
    :param raw_path_and_query: the request target as it will be sent (percent-encoded path,
        ``urlencode`` query).
    :param headers: the request's own headers (``content-type``, ``x-fc-*``…); all are signed.
    :param body: the body bytes that will be sent (``b""`` when none).
    :param key_id: the AccessKeyId.
    :param secret: the AccessKeySecret.
    :param host: the ``host`` header that will be sent (``127.0.0.1:9000``).
    :param action: the operation name for ``x-acs-action`` (``InvokeFunction``…).
    :param date: ``x-acs-date``; now (UTC, whole seconds) when None.
    :param nonce: ``x-acs-signature-nonce``; 32 random hex characters when None.
    :returns: ``headers`` (names lower-cased) plus ``host``, ``x-acs-version``,
        ``x-acs-action``, ``x-acs-date``, ``x-acs-signature-nonce``,
        ``x-acs-content-sha256`` and ``authorization``.
    """
    payload = hashlib.sha256(body).hexdigest()
    out = {name.lower(): value for name, value in headers.items()}
    out.update({"host": host, "x-acs-version": FC_VERSION, "x-acs-action": action,
                "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
                "x-acs-content-sha256": payload})
    signed = sorted(out)
    canonical_request = _acs3_canonical_request(method, raw_path_and_query, _collect(out),
                                                signed, payload)
    out["authorization"] = (f"{ACS3} Credential={key_id},SignedHeaders={';'.join(signed)},"
                            f"Signature={_acs3_signature(secret, canonical_request)}")
    return out


def _acs3_canonical_request(method: str, raw_path_and_query: str,
                            values: Mapping[str, list[str]], signed: Sequence[str],
                            payload: str) -> str:
    """Spec §2.1 steps 2–5: every name in ``signed`` must be in ``values`` (lower-case)."""
    lines = "".join(f"{name}:{','.join(sorted(v.strip() for v in values[name.lower()]))}\n"
                    for name in signed)
    path, _, query = raw_path_and_query.partition("?")
    return "\n".join([method.upper(), path or "/", canonical_query(query), lines,
                      ";".join(signed), payload])


def _acs3_signature(secret: str, canonical_request: str) -> str:
    """Spec §2.1 steps 6–7: lower-case hex HMAC-SHA256 of the string to sign."""
    string_to_sign = f"{ACS3}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


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


def _must_sign(received: Mapping[str, list[str]], *, has_body: bool) -> list[str]:
    """Received headers an ACS3 signature has to cover: host, ``x-acs-*``, and content-type
    when there is a body. (The SDK's ``*_async`` methods send body-less calls through
    aiohttp, which adds an unsigned ``Content-Type: application/octet-stream``; it says
    nothing about a body that is not there.)"""
    return [name for name in received
            if name == "host" or name.startswith("x-acs-")
            or (name == "content-type" and has_body)]


def _mismatch(detail: str) -> NoReturn:
    log.warning("ACS3 signature rejected: %s", detail)
    raise SignatureNotMatch()


# -- SMQ: MNS -------------------------------------------------------------------------------


def verify_mns(method: str, raw_uri: str, headers: Headers, body: bytes,
               secrets: Mapping[str, str]) -> None:
    """Check an MNS API request signature, then its ``Content-MD5`` (spec §13.1, sdk-notes §2.3).

    ``Content-MD5`` is optional (an empty one counts as absent; the string to sign has an
    empty line for it); ``x-mns-date`` stands in for a missing ``Date`` (:func:`mns_date`).
    A ``Content-MD5`` is checked after the signature: a request that is not signed right
    is refused as such, whatever its body.

    :param method: the request method as received.
    :param raw_uri: the request target exactly as sent (path, ``?`` and raw query).
    :param headers: the received headers.
    :param body: the received body bytes.
    :param secrets: AccessKeySecret by AccessKeyId.
    :raises MissingAuthorizationHeader: no ``Authorization`` header (400).
    :raises InvalidAuthorizationHeader: not ``MNS <AccessKeyId>:<Signature>`` (400).
    :raises MissingDateHeader: neither ``Date`` nor ``x-mns-date`` (400).
    :raises SmqInvalidAccessKeyId: the AccessKeyId is not configured (403 ``InvalidAccessKeyId``).
    :raises SignatureDoesNotMatch: wrong signature (403).
    :raises InvalidDegist: a ``Content-MD5`` that is not the body's MD5 in either accepted
        form (400; :func:`mns_content_md5_matches`).
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
    if _mns_date(received) is None:
        raise MissingDateHeader()
    if key_id not in secrets:
        raise SmqInvalidAccessKeyId(f"The AccessKey Id you provided is not exist: {key_id}.")

    string_to_sign = _mns_string_to_sign(method, raw_uri, received)
    expected = _mns_signature(secrets[key_id], string_to_sign)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        _mns_mismatch(f"signature of {key_id!r} differs; string to sign:\n{string_to_sign}")
    content_md5 = _first(received, "content-md5").strip()
    if content_md5 and not mns_content_md5_matches(content_md5, body):
        log.warning("MNS Content-MD5 rejected: %r is not the MD5 of the %d-byte body",
                    content_md5, len(body))
        raise InvalidDegist(
            f"{InvalidDegist.default_message} {content_md5!r} is not the MD5 of the "
            f"{len(body)}-byte body: expected Base64 of its hex MD5 "
            f"({mns_content_md5(body)!r}, as the MNS SDK sends) or of its 16-byte digest "
            f"({_rfc1864_md5(body)!r}, RFC 1864).")


def mns_date(headers: Headers) -> str | None:
    """The date an MNS request is signed with: ``Date``, else ``x-mns-date`` (None: neither).

    MNS: ``x-mns-date`` "can be used to replace the Date parameter"; when both are sent,
    ``Date`` is the one in the string to sign (and the one the 15-minute check reads).
    """
    return _mns_date(_collect(headers))


def _mns_date(received: Mapping[str, list[str]]) -> str | None:
    for name in ("date", "x-mns-date"):
        if name in received:
            return received[name][0]
    return None


def sign_mns(method: str, raw_uri: str, headers: Mapping[str, str], body: bytes, key_id: str,
             secret: str, *, date: str | None = None) -> dict[str, str]:
    """The headers of an MNS API request with its signature (spec §13.1).

    :param method: the request method.
    :param raw_uri: the request target as it will be sent (path, ``?`` and raw query).
    :param headers: the request's own headers (``x-mns-*`` ones are signed).
    :param body: the body bytes that will be sent.
    :param key_id: the AccessKeyId.
    :param secret: the AccessKeySecret.
    :param date: the ``date`` header (RFC 1123 GMT); now when None.
    :returns: ``headers`` (names lower-cased) plus ``x-mns-version`` (unless given),
        ``date``, ``content-md5`` and ``content-type`` when there is a body (the SDK's
        ``text/xml;charset=UTF-8`` unless given), and ``authorization``.
    """
    out = {name.lower(): value for name, value in headers.items()}
    out.setdefault("x-mns-version", MNS_VERSION)
    out["date"] = date or email.utils.formatdate(usegmt=True)
    if body:
        out["content-md5"] = mns_content_md5(body)
        out.setdefault("content-type", "text/xml;charset=UTF-8")
    signature = _mns_signature(secret, _mns_string_to_sign(method, raw_uri, _collect(out)))
    out["authorization"] = f"MNS {key_id}:{signature}"
    return out


def mns_content_md5(body: bytes) -> str:
    """The MNS SDK's non-standard Content-MD5: Base64 of the hex MD5 string (sdk-notes §2.3)."""
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


def mns_content_md5_matches(content_md5: str, body: bytes) -> bool:
    """Whether a received ``Content-MD5`` is the body's: the SDK's form
    (:func:`mns_content_md5`) or RFC 1864's (Base64 of the 16-byte digest)."""
    digest = hashlib.md5(body)
    return content_md5 in (base64.b64encode(digest.hexdigest().encode()).decode(),
                           base64.b64encode(digest.digest()).decode())


def _rfc1864_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _mns_string_to_sign(method: str, raw_uri: str, values: Mapping[str, list[str]]) -> str:
    """``VERB\nContent-MD5\nContent-Type\nDate\n`` + the ``x-mns-*`` headers + the URI."""
    mns_headers = "".join(f"{name}:{','.join(values[name])}\n"
                          for name in sorted(values) if name.startswith("x-mns-"))
    return (f"{method.upper()}\n{_first(values, 'content-md5')}\n"
            f"{_first(values, 'content-type')}\n{_mns_date(values) or ''}\n"
            f"{mns_headers}{raw_uri}")


def _mns_signature(secret: str, string_to_sign: str) -> str:
    """Base64 of HMAC-SHA1(secret, string to sign)."""
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(),
                                     hashlib.sha1).digest()).decode()


def _first(received: Mapping[str, list[str]], name: str) -> str:
    values = received.get(name)
    return values[0] if values else ""


def _mns_mismatch(detail: str) -> NoReturn:
    log.warning("MNS signature rejected: %s", detail)
    raise SignatureDoesNotMatch()
