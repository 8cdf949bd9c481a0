"""Project-wide test set-up: load our own plugin from here so its code is measured."""

from __future__ import annotations

import os

pytest_plugins = ("pytest_fcemu.plugin", "pytester")

# sdk-notes §1.2: the FC SDK forces HTTP(S)_PROXY even for 127.0.0.1, and NO_PROXY
# does not help; every test talks to loopback only.
for _name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
