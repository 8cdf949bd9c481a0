"""Typed aiohttp application keys (aiohttp's ``AppKey``; string keys warn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from fcemu.engine import Engine

#: The :class:`fcemu.engine.Engine` serving requests. ``Engine.reset()`` rebuilds the
#: engine in place, so the object behind this key never changes.
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
