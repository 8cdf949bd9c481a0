"""Where the plugin's settings come from: ``--fcemu-*`` options, ``FCEMU_*`` environment
variables, ``fcemu_*`` ini keys and the ``fcemu`` marker, each read as
:class:`fcemu.Settings` fields (relative deployment-file paths resolved from where they were
given)."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from fcemu.clock import to_epoch_ms
from fcemu.settings import Settings

#: --fcemu-NAME / FCEMU_NAME / fcemu_NAME ini key -> help
OPTIONS = {
    "clock": "emulator clock: manual (default), real or follow (the test's frozen time)",
    "start": "manual clock start: ISO 8601 or epoch ms (default 2024-05-01T00:00:00Z)",
    "seed": "seed of every generated ID (default 0)",
    "config": "deployment file (s.yaml / fcemu.yaml) applied after each reset; repeatable",
    "region": "region in ARNs and contexts (default cn-hangzhou)",
    "account_id": "account ID in ARNs and contexts (default 1234567890123456)",
    "pass_env": "environment variable handlers get besides FC's (repeatable; ini: a list)",
    "port": "the session emulator's port (default: a free one, whatever fcemu_settings "
            "says; a fixed port suits one pytest process, not xdist workers)",
}
#: The settings a running emulator cannot change: a marker may ask only for another clock.
SERVER_FIELDS = ("clock", "host", "port", "data_dir", "durability")
#: Where the session sets each of the others (a marker cannot).
SESSION_ONLY = {
    "host": "an overridden fcemu_settings fixture or a pytest_fcemu_settings hook",
    "port": "--fcemu-port, FCEMU_PORT or the fcemu_port ini key",
    "data_dir": "the settings: block of a --fcemu-config / fcemu_config file (dataDir), "
                "an overridden fcemu_settings fixture or a pytest_fcemu_settings hook",
    "durability": "the settings: block of a --fcemu-config / fcemu_config file, an "
                  "overridden fcemu_settings fixture or a pytest_fcemu_settings hook",
}


def configured(config: pytest.Config) -> dict[str, Any]:
    """Settings fields from options, environment and ini, in that order of precedence."""
    found: dict[str, Any] = {}
    for name in OPTIONS:
        value = config.getoption(f"fcemu_{name}")
        origin = config.invocation_params.dir
        if value is None and os.environ.get(f"FCEMU_{name.upper()}"):
            text = os.environ[f"FCEMU_{name.upper()}"]
            if name == "config":
                value = text.split(os.pathsep)
            elif name == "pass_env":  # FCEMU_PASS_ENV="A,B" or "A B"
                value = text.replace(",", " ").split()
            else:
                value = text
            origin = Path.cwd()
        if value is None or value == []:
            value, origin = config.getini(f"fcemu_{name}") or None, config.rootpath
        if value is not None:
            found.update(setting_fields(name, value, origin))
    return found


def marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The test's ``fcemu`` markers merged (the closest wins), checked and read as
    Settings fields, with ``expect_errors`` and ``snapshot`` as given."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("fcemu"))):  # closest wins
        if marker.args:
            raise pytest.UsageError("@pytest.mark.fcemu takes keyword arguments only, "
                                    f"got {marker.args!r}")
        merged.update(marker.kwargs)
    allowed = {f.name for f in fields(Settings)} - set(SERVER_FIELDS[1:])
    options: dict[str, Any] = {}
    for key, value in merged.items():
        if key in ("expect_errors", "snapshot"):
            options[key] = value
        elif key == "start" or key in allowed:
            options.update(setting_fields(key, value, request.path.parent))
        elif key in SESSION_ONLY:
            raise pytest.UsageError(f"@pytest.mark.fcemu cannot set {key!r}: the session's "
                                    f"emulator starts with it and cannot change it while "
                                    f"running; set it for the session with {SESSION_ONLY[key]}")
        else:
            raise pytest.UsageError(f"@pytest.mark.fcemu got an unknown setting {key!r}; use "
                                    f"expect_errors, snapshot, start or one of "
                                    f"{sorted(allowed)}")
    return options


def setting_fields(name: str, value: Any, origin: Path) -> dict[str, Any]:
    """One option value as Settings fields (relative config paths resolved from ``origin``)."""
    if name == "start":
        try:
            return {"start_ms": to_epoch_ms(value)}
        except (TypeError, ValueError) as exc:
            raise pytest.UsageError(f"fcemu start must be ISO 8601 or epoch milliseconds, "
                                    f"got {value!r}: {exc}") from None
    if name == "seed":
        return {"seed": None if value is None else _seed(value)}
    if name == "port":
        try:
            port = int(value)
        except (TypeError, ValueError):
            port = -1
        if not 0 <= port <= 65535:
            raise pytest.UsageError(f"fcemu port must be a whole number from 0 to 65535, "
                                    f"got {value!r}")
        return {"port": port}
    if name == "config":
        paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        return {"config": tuple(origin / Path(p) for p in paths)}
    if name == "pass_env":
        names = [value] if isinstance(value, str) else list(value)
        return {"pass_env": tuple(names)}
    if name == "clock" and value not in ("manual", "real", "follow"):
        raise pytest.UsageError(f"fcemu clock must be manual, real or follow, got {value!r}")
    return {name: value}


def _seed(value: Any) -> int:
    """A seed given as a whole number or its decimal text; else a usage error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise pytest.UsageError(f"fcemu seed must be a whole number, got {value!r}")
