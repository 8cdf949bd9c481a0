"""pytest_fcemu: the pytest plugin of fcemu (fixtures ``fcemu``, ``fc_client``, ...).

The plugin itself is :mod:`pytest_fcemu.plugin`, registered through the
``pytest11`` entry point. This package re-exports what a test needs for
annotations and mock mode; emulator types come from :mod:`fcemu`.
"""

from __future__ import annotations

from pytest_fcemu.mock import MockEndpoints, mock_endpoints
from pytest_fcemu.plugin import FunctionFactory

__all__ = ["FunctionFactory", "MockEndpoints", "mock_endpoints"]
