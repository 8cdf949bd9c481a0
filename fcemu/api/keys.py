"""Typed aiohttp application keys (aiohttp's ``AppKey``; string keys warn)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

#: The :class:`fcemu.engine.Engine` serving requests (typed loosely to avoid an import cycle).
ENGINE: web.AppKey[Any] = web.AppKey("engine")
