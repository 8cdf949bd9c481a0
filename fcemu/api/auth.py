"""Verify mode on the wire: request signatures checked before the FC and MNS handlers run.

Off unless ``Settings.access_keys`` is non-empty (decisions.md "Accounts,
regions, credentials"). :func:`fc_signature_middleware` sits inside the FC
sub-app's error middleware, so its failures render as FC error JSON;
:func:`check_mns_signature` is called by :func:`fcemu.api.smq.smq_error_middleware`,
so its failures render as MNS XML. The control API (``/_fcemu``) is never checked.

Besides the configured pairs, the credentials fcemu hands to functions
(``context.credentials``, :class:`fcemu.runtime.Credentials`) are valid, as a
function's role credentials are in the real service: a handler may call back
into the emulator's FC or SMQ API with them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from fcemu import signing
from fcemu.api.keys import ENGINE
from fcemu.runtime import Credentials

__all__ = ["check_mns_signature", "fc_signature_middleware", "secrets_of"]

_FUNCTION_CREDENTIALS = Credentials()


def secrets_of(engine: Any) -> dict[str, str]:
    """AccessKeySecret by AccessKeyId in verify mode; empty when signatures are not checked."""
    keys: tuple[tuple[str, str], ...] = getattr(getattr(engine, "settings", None),
                                                "access_keys", ())
    if not keys:
        return {}
    secrets = {_FUNCTION_CREDENTIALS.access_key_id: _FUNCTION_CREDENTIALS.access_key_secret}
    secrets.update(dict(keys))
    return secrets


@web.middleware
async def fc_signature_middleware(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
    """ACS3-HMAC-SHA256 check of an FC API request (raises the FC 403s), then the handler."""
    secrets = secrets_of(request.app[ENGINE])
    if secrets:
        body = await request.read()  # aiohttp keeps it: the handler's read() gets the same bytes
        signing.verify_acs3(request.method, request.raw_path, request.headers.items(), body,
                            secrets)
    return await handler(request)


async def check_mns_signature(request: web.Request) -> None:
    """MNS signature check of an SMQ API request (raises the MNS errors) in verify mode."""
    secrets = secrets_of(request.app.get(ENGINE))
    if secrets:
        body = await request.read()
        signing.verify_mns(request.method, request.raw_path, request.headers.items(), body,
                           secrets)
