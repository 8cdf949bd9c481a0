"""Follow mode: the emulator clock follows the test process's wall time, frozen or not.

Code under test that reads ``time.time()`` and the emulator then agree while
a test freezes or moves time with freezegun or time-machine: TTLs, retry
backoff and retention follow the test's time.

The mechanism, and why:

* The emulator runs a :class:`~fcemu.clock.ManualClock`, exactly as in
  ``manual`` mode; its event loop keeps running on real monotonic time
  (:class:`~fcemu.clock.RealTimeEventLoop`), so a frozen test never stalls it.
* The clock is *pulled* to the process's time at sync points, never pushed by
  a background timer: before every :class:`~fcemu.server.Emulator` call from
  the test thread (``settle()``, ``task()``, ``queue(...).messages()``,
  ``clock.now()`` ...) and before every HTTP request is handled (an aiohttp
  middleware). A sync that finds the process ahead of the emulator does what
  ``clock.set(process_time)`` does: it settles, fires every timer that fell
  due in due order with the clock at each timer's due time, and returns once
  their work has settled. So when a test moves frozen time, the next request
  is answered, and the next ``settle()`` returns, only after due timers fired.
* The process's time is read on the emulator's loop thread. time-machine
  patches the C-level clock, visible from every thread. freezegun replaces
  ``time.time`` with a function that inspects its caller's stack and answers
  *real* time when a ``threading`` frame is near (its default ignore list), as
  it is on a loop thread; so while freezegun is active its current frozen time
  is read directly (``freezegun.api.get_current_time``).
* The clock never runs backwards under work. When the process's time goes
  back (a test freezes a date earlier than the emulator's, typically after
  the ``fcemu`` fixture was set up on real time) and the emulator holds no
  timer and no work in flight, the clock is rewound with it: nothing
  scheduled can notice. With timers pending it is an error that says what to
  do: freeze time before deploying and invoking, or ``reset()``. An explicit
  ``clock.advance()``/``drain()`` may put the emulator ahead of the process;
  it then stays ahead until the process's time catches up.
* A sync that finds another sync in progress returns at once (a handler
  calling the emulator while a sync waits for that handler would otherwise
  deadlock).

The engine owns the follower (follow mode is a clock mode of the engine's):
``Engine.follow_time()`` is the sync point and ``Engine.set_following()`` pauses
and resumes it; the follower is handed the clock and the scheduler at each sync.

Ticking time (time-machine's default ``tick=True``) works but makes every
request a small clock move, so each one first settles in-flight work: freeze
with ``tick=False`` for deterministic tests.
"""

from __future__ import annotations

import calendar
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fcemu.clock import ManualClock, format_ms

if TYPE_CHECKING:
    from fcemu.clock import Clock
    from fcemu.scheduler import Scheduler


def process_time_ns() -> int:
    """The test process's wall time in ns, as freezegun or time-machine show it, from any thread."""
    freezegun = sys.modules.get("freezegun.api")
    factories = getattr(freezegun, "freeze_factories", None)
    if freezegun is not None and factories:
        now = freezegun.get_current_time()
        return int(calendar.timegm(now.timetuple()) * 1_000_000_000 + now.microsecond * 1000)
    return time.time_ns()


class TimeFollower:
    """Pulls a manual emulator clock to the process's time at each sync point.

    :param time_source: the process's time in epoch ns (:func:`process_time_ns` by default).
    """

    def __init__(self, time_source: Callable[[], int] | None = None) -> None:
        self._time_source = time_source or process_time_ns
        #: When false, syncs do nothing (the pytest plugin pauses following after a test body).
        self.enabled = True
        self._last_seen: int | None = None
        self._syncing = False

    def forget(self) -> None:
        """After a reset: the next sync anchors the fresh clock at the process's time."""
        self._last_seen = None

    async def sync(self, clock: Clock, scheduler: Scheduler,
                   record_failure: Callable[[str, BaseException], None], *,
                   strict: bool = True) -> None:
        """Bring the clock to the process's time (see the module docstring).

        With ``strict`` a refused backwards move raises :class:`ValueError`;
        otherwise it is passed to ``record_failure`` (kept for ``check()``).
        """
        if not self.enabled or self._syncing:
            return
        if not isinstance(clock, ManualClock):
            return
        target = self._time_source() // 1_000_000
        first, last_seen, self._last_seen = self._last_seen is None, self._last_seen, target
        now = clock.now_ms()
        if target > now:
            self._syncing = True
            try:
                await scheduler.set(target)
            finally:
                self._syncing = False
        elif target < now and (first or (last_seen is not None and target < last_seen)):
            self._rewind(clock, scheduler, target, strict, record_failure)

    def _rewind(self, clock: ManualClock, scheduler: Scheduler, target: int, strict: bool,
                record_failure: Callable[[str, BaseException], None]) -> None:
        if not scheduler.pending() and not scheduler.busy():
            clock.rewind_to(target)
            return
        error = ValueError(
            f"follow mode: the process's time went back to {format_ms(target)} but the emulator "
            f"is at {format_ms(clock.now_ms())} with {len(scheduler.pending())} timer(s) pending; "
            "its clock can't go back under work: freeze time before deploying and invoking, "
            "or call reset()"
        )
        if strict:
            raise error
        record_failure("follow-mode clock sync", error)
