"""The web console in a real browser: Debian's headless Chromium driven by Playwright.

One browser (a persistent context on a fresh profile directory) per test module, not per
session: while Playwright's sync API is open, its event loop counts as running in the
main thread, so a later test of another module that runs its own loop there would fail;
the module scope closes it before pytest moves on. One page per test, on an emulator of
its own (manual clock, seed 7). Playwright is
pointed at ``/usr/bin/chromium`` (``executable_path``): it never downloads a browser.
Without that binary, or without the ``playwright`` package, these tests skip with a
named reason (``.ci/run`` installs ``chromium``).

Every test saves screenshots under ``test-artifacts/console/`` (gitignored). With
``FCEMU_UPDATE_SCREENSHOTS=1`` the README's ones (``docs/images/console-*.png``) are
rewritten too. Waiting is Playwright's own bounded polling (``expect``, 10 s): no sleeps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import fcemu

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
DOC_IMAGES = ROOT / "docs" / "images"
UPDATE = os.environ.get("FCEMU_UPDATE_SCREENSHOTS") == "1"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def _playwright() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium; "
                    ".ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the module, on a fresh profile directory (see the docstring)."""
    sync_playwright = _playwright()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport=DESKTOP, locale="en-US", timezone_id="UTC", service_workers="block")
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def emu() -> Iterator[fcemu.Emulator]:
    with fcemu.Emulator(clock="manual", seed=7) as emulator:
        yield emulator


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    page = browser_context.new_page()
    page.set_viewport_size(DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"the console raised in the browser: {errors}"


def open_console(page: Any, emu: fcemu.Emulator, view: str = "tasks") -> None:
    """Open the console at ``#/<view>`` and wait until its live stream is connected."""
    from playwright.sync_api import expect

    page.goto(f"{emu.endpoint}/#/{view}")
    expect(page.locator("#live")).to_have_text("live")


Shoot = Callable[..., None]


@pytest.fixture
def shoot() -> Shoot:
    """``shoot(page, name)``: a 1280×800 and a mobile screenshot of the page as it is."""

    def take(page: Any, name: str, *, readme: bool = False) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        desktop = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(desktop), full_page=False)
        page.set_viewport_size(MOBILE)
        page.screenshot(path=str(ARTIFACTS / f"{name}-mobile.png"), full_page=False)
        page.set_viewport_size(DESKTOP)
        if readme and UPDATE:
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(desktop, DOC_IMAGES / f"console-{name}.png")

    return take
