"""Verify mode on the wire: signatures, dates and nonces checked before any handler runs.

Off unless ``Settings.access_keys`` is non-empty (decisions.md "Accounts,
regions, credentials"). Then:

- :func:`check_fc_signature` guards the FC sub-app *and* the control API
  (``/_fcemu``): an ACS3-HMAC-SHA256 signature made with a configured pair
  (:func:`fcemu.signing.verify_acs3`), an ``x-acs-date`` within 15 minutes of
  now and an unused ``x-acs-signature-nonce`` (:mod:`fcemu.api.replay`). Each
  sub-app's error middleware awaits it before the handler, so its failures
  render as FC error JSON;
- :func:`check_mns_signature` is called by
  :func:`fcemu.api.smq.smq_error_middleware`, so its failures render as MNS
  XML: the MNS signature, and a ``Date`` (or, without one, ``x-mns-date``)
  within 15 minutes of now.

Only the configured pairs are accepted. The credentials fcemu hands to
functions (``context.credentials``, :class:`fcemu.runtime.Credentials`) are a
fixed, public pair: they work in verify mode only when the user lists them
with ``--access-key`` too, as a function's role credentials work in the real
service only when the role allows the call.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fcemu import signing
from fcemu.api import replay
from fcemu.api.keys import ENGINE, NONCES

__all__ = ["check_fc_signature", "check_mns_signature", "secrets_of"]


def secrets_of(engine: Any) -> dict[str, str]:
    """AccessKeySecret by AccessKeyId in verify mode; empty when signatures are not checked."""
    keys: tuple[tuple[str, str], ...] = getattr(getattr(engine, "settings", None),
                                                "access_keys", ())
    return dict(keys)


async def check_fc_signature(request: web.Request, secrets: dict[str, str]) -> None:
    """Verify mode: the ACS3 signature, date and nonce of an FC or control API request
    (raising the FC errors). The sub-apps' error layer
    (:class:`fcemu.api.middleware.ErrorLayer`) awaits it before the handler when
    :func:`secrets_of` the engine is not empty."""
    body = await request.read()  # aiohttp keeps it: the handler's read() gets the same bytes
    signing.verify_acs3(request.method, request.raw_path, request.headers.items(), body,
                        secrets)
    request.config_dict[NONCES].check(request.headers.get("x-acs-date"),
                                      request.headers.get("x-acs-signature-nonce"))


async def check_mns_signature(request: web.Request) -> None:
    """Verify mode: the MNS signature, Content-MD5 and date (``Date``, else ``x-mns-date``)
    of an SMQ API request (raising the MNS errors)."""
    secrets = secrets_of(request.app.get(ENGINE))
    if secrets:
        body = await request.read()
        signing.verify_mns(request.method, request.raw_path, request.headers.items(), body,
                           secrets)
        replay.check_mns_date(signing.mns_date(request.headers.items()) or "")
