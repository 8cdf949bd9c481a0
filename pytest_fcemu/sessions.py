"""The session's emulators (one per clock mode, started on first use) and one test's
emulator between the ``fcemu`` fixture's set-up and teardown, which settles it and surfaces
its server-side errors at the test's end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from fcemu.scheduler import SettleTimeout

if TYPE_CHECKING:
    from fcemu import Emulator
    from fcemu.settings import Settings

#: Real seconds the end of a test waits for in-flight work before checking for errors.
END_SETTLE_S = 5.0


class Servers:
    """The session's emulators, one per clock mode, started on first use, each on ``port``
    (0: a free one), whatever port the settings they are given say (an overridden
    ``fcemu_settings`` that builds ``fcemu.Settings(...)`` has its default, 9000)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.running: dict[str, Emulator] = {}

    def get(self, settings: Settings) -> Emulator:
        emu = self.running.get(settings.clock)
        if emu is None:
            from fcemu import Emulator

            emu = self.running[settings.clock] = Emulator(settings.replace(port=self.port))
        emu.start()
        return emu

    def stop_all(self) -> None:
        while self.running:
            self.running.popitem()[1].stop()


@dataclass
class Running:
    """One test's emulator, between the ``fcemu`` fixture's set-up and teardown."""

    emulator: Emulator
    expect_errors: bool
    finished: bool = False

    def finish(self, item: pytest.Item, *, failed: bool, teardown: bool = False) -> None:
        """Stop following the test's time, settle briefly, surface server-side errors."""
        __tracebackhide__ = True
        emu = self.emulator
        if not emu.running or (self.finished and not teardown):
            return
        self.finished = True
        emu.set_following(False)  # follow mode: the test's frozen time is over
        try:
            emu.settle(timeout=END_SETTLE_S)
        except SettleTimeout:
            pass  # still-running handlers die at the next reset
        from fcemu import ServerSideError

        try:
            emu.check()
        except ServerSideError as exc:
            if failed:
                item.add_report_section("call", "fcemu server-side errors", str(exc))
            elif not self.expect_errors:
                raise ServerSideError(exc.failures) from None  # the server's traceback only
