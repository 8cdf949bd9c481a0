"""pytester set-up for the plugin's tests: inner runs are fresh downstream projects.

Most inner runs load only the plugin under test (``-p pytest_fcemu.plugin``
with plugin autoloading off), so that whatever else is installed on the
machine neither changes nor slows them; the end-to-end downstream test loads
it the way a downstream project does, through the ``pytest11`` entry point.
"""

from __future__ import annotations

import contextlib
import importlib
import os

import pytest

# Imported once here, so in-process inner runs (which drop the modules they import
# themselves) do not pay for importing aiohttp and the SDKs again each time.
for _module in ("fcemu.server", "fcemu.api", "alibabacloud_fc20230330.client", "mns.account",
                "freezegun", "time_machine", "responses"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)

#: Arguments of an inner run that loads the plugin explicitly.
ONLY_FCEMU = ("-p", "pytest_fcemu.plugin", "-p", "no:cacheprovider")

#: A handler module shared by several inner projects (in-process functions).
HANDLERS = '''
def ok(event, context):
    return b"ok:" + event

def fail(event, context):
    raise ValueError("bad event: " + event.decode())
'''


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The outer run's FCEMU_* settings must not leak into the inner projects.
    for name in [n for n in os.environ if n.startswith("FCEMU_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def only_fcemu(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A fresh project whose runs load no plugin but fcemu's (pass :data:`ONLY_FCEMU`)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(handlers=HANDLERS)
    pytester.syspathinsert()
    return pytester


@pytest.fixture
def downstream(pytester: pytest.Pytester) -> pytest.Pytester:
    """A fresh project with every installed plugin autoloaded, fcemu's included."""
    pytester.makepyfile(handlers=HANDLERS)
    pytester.syspathinsert()
    return pytester
