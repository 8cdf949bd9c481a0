"""Project-wide test set-up: load our own plugin from here so its code is measured."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ("pytest_fcemu.plugin", "pytester")

# sdk-notes §1.2: the FC SDK forces HTTP(S)_PROXY even for 127.0.0.1, and NO_PROXY
# does not help; every test talks to loopback only.
for _name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True, scope="session")
def _share_test_files_with_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests hand handlers FIFOs and files under their ``tmp_path``: in bwrap containment
    pytest's temporary directory is shared with every sandbox (``FCEMU_SANDBOX_SHARE``,
    docs/runtimes.md); the rest of the host's ``/tmp`` stays hidden from handlers."""
    os.environ.setdefault("FCEMU_SANDBOX_SHARE", str(tmp_path_factory.getbasetemp()))


# CI sets FCEMU_NO_SKIPS=1 (.ci/run): every test the README's command collects must run there,
# so a skip (a module missing from the [test] extra, say) fails the run instead of hiding.
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FCEMU_NO_SKIPS") != "1" or hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == pytest.ExitCode.OK:
        reasons = sorted({(str(report.longrepr[2]) if isinstance(report.longrepr, tuple)
                           else str(report.longrepr)).removeprefix("Skipped: ")
                          for report in skipped})
        if reporter is not None:
            reporter.write_line(f"FCEMU_NO_SKIPS=1 and {len(skipped)} skipped: "
                                + "; ".join(reasons), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
