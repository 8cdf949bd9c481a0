"""Typed aiohttp application keys (aiohttp's ``AppKey``; string keys warn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from fcemu.api.replay import Nonces
    from fcemu.engine import Engine

#: The :class:`fcemu.engine.Engine` serving requests. ``Engine.reset()`` rebuilds the
#: engine in place, so the object behind this key never changes.
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
#: The root app's memory of used ``x-acs-signature-nonce`` values (verify mode): one per
#: server, kept across resets, so a reset is no way to replay a request.
NONCES: web.AppKey[Nonces] = web.AppKey("nonces")
