"""Emulator time: the clocks domain code reads, time parsing, and the loop's real time.

Every timestamp, TTL, backoff and retention cut-off in fcemu is read from a
:class:`Clock` in integer milliseconds since the epoch (FC's unit): a
:class:`RealClock` (wall time) or a :class:`ManualClock` (moves only when
told). The server's own event loop never reads that clock for its own
scheduling: it runs on real monotonic time (:class:`RealTimeEventLoop`),
immune to freezegun and time-machine. Timers on the emulator clock, and
moving a manual clock, are :mod:`fcemu.scheduler`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol, final

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple("_Ts")

# Captured once, inside containers that freezegun's module scan does not look
# into, so that freezing wall time in a test cannot stall the emulator's loop
# or move its real clock (DESIGN.md principle 2).
_REAL: Final[dict[str, Callable[[], Any]]] = {
    "monotonic": time.monotonic,
    "monotonic_ns": time.monotonic_ns,
    "time_ns": time.time_ns,
}
_WALL0_NS: Final[int] = _REAL["time_ns"]()
_MONO0_NS: Final[int] = _REAL["monotonic_ns"]()

#: The latest time a clock can show: 9999-12-31T23:59:59.999Z (the end of ISO 8601's
#: four-digit years, and of what ``datetime`` and FC's RFC 3339 times can write).
MAX_EPOCH_MS: Final[int] = 253_402_300_799_999
#: The longest duration :func:`to_duration_ms` takes, either way.
MAX_DURATION_MS: Final[int] = MAX_EPOCH_MS


def real_monotonic() -> float:
    """Real monotonic seconds, immune to freezegun and time-machine."""
    return _REAL["monotonic"]()  # type: ignore[no-any-return]  # a float: no float() call


def real_time_ns() -> int:
    """Real wall time in ns: the wall time at import plus real monotonic time since.

    time-machine patches ``time.time_ns`` at the C level, so a reference
    captured at import would still travel; monotonic time is never patched.
    """
    return _WALL0_NS + (int(_REAL["monotonic_ns"]()) - _MONO0_NS)


class Clock(Protocol):
    """The one source of emulator time.

    ``now_ms()`` returns integer milliseconds since the Unix epoch.
    ``mode`` is ``"real"`` or ``"manual"``.
    """

    mode: str

    def now_ms(self) -> int:
        """Current emulator time in epoch milliseconds."""
        ...


@final
class RealClock:
    """Wall time. ``time_source`` (epoch nanoseconds) can be pinned by tests."""

    mode = "real"

    def __init__(self, time_source: Callable[[], int] | None = None) -> None:
        self._time_source = time_source or real_time_ns

    def now_ms(self) -> int:
        return self._time_source() // 1_000_000

    def __repr__(self) -> str:
        return f"RealClock(now={format_ms(self.now_ms())})"


@final
class ManualClock:
    """A clock that moves only when told, never backwards."""

    mode = "manual"

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def move_to(self, ms: int) -> None:
        """Set the time; refuses to go backwards. Used by :class:`fcemu.scheduler.Scheduler`."""
        if ms < self._now:
            raise ValueError(
                f"time can't go backwards (now {format_ms(self._now)}, asked "
                f"{format_ms(ms)}); use reset() to start over"
            )
        self._now = int(ms)

    def rewind_to(self, ms: int) -> None:
        """Set the time, even backwards. Only follow mode does this, and only while
        nothing is scheduled or running (:mod:`fcemu.follow`)."""
        self._now = int(ms)

    def __repr__(self) -> str:
        return f"ManualClock(now={format_ms(self._now)})"


def format_ms(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, for messages and reprs."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_epoch_ms(value: int | float | str | datetime) -> int:
    """Normalise a point in time into integer epoch milliseconds.

    Accepts epoch milliseconds (int, or a digit string), a timezone-aware or
    UTC-naive :class:`datetime`, or an ISO 8601 string (``Z`` allowed).
    """
    if isinstance(value, bool):
        raise TypeError("a point in time cannot be a bool")
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return round(dt.timestamp() * 1000)
    if isinstance(value, (int, float)):
        return _epoch_in_range(value, value)
    text = str(value).strip()
    digits = text[1:] if text.startswith("-") else text  # one sign at most ("--5" is no time)
    if digits.isascii() and digits.isdigit():
        if len(text) > 20:  # far out of range, and int() refuses 4300+ digits
            raise ValueError(f"{text[:24]}... is not a time: epoch milliseconds must be at "
                             f"most {MAX_EPOCH_MS}")
        return _epoch_in_range(int(text), value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: give ISO 8601 (2024-05-01T00:00:00Z) "
            "or epoch milliseconds"
        ) from None
    return to_epoch_ms(parsed)


def _epoch_in_range(ms: float, given: object) -> int:
    if not -MAX_EPOCH_MS <= ms <= MAX_EPOCH_MS:  # NaN fails too
        raise ValueError(f"{given!r} is not a time: epoch milliseconds must be finite and at "
                         f"most {MAX_EPOCH_MS} (9999-12-31T23:59:59.999Z) either way")
    return int(ms)


def to_duration_ms(value: int | float | timedelta) -> int:
    """Normalise a duration (seconds, or a timedelta) into integer milliseconds.

    Raises ValueError for NaN, infinities and durations beyond :data:`MAX_DURATION_MS`.
    """
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not -MAX_DURATION_MS <= seconds * 1000 <= MAX_DURATION_MS:  # NaN fails too
        raise ValueError(f"{value!r} is not a duration fcemu can use: give a finite number of "
                         f"seconds, at most {MAX_DURATION_MS // 1000} either way")
    return round(seconds * 1000)


_Handle = asyncio.Handle


class RealTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is real monotonic time even under freezegun."""

    def __init__(self) -> None:
        super().__init__()
        #: The loop keeps asyncio's private state as :meth:`call_soon`'s lean way reads it
        #: (checked once: a CPython that changed it gets the stock call_soon).
        self._lean = _stock_shaped(self)

    def time(self) -> float:
        return _REAL["monotonic"]()  # type: ignore[no-any-return]  # real_monotonic's, inline

    def call_soon(self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        """The stock ``call_soon`` (the same handle, queued the same way) without its two
        inner Python calls, ``_check_closed`` and ``_call_soon``: a third of its
        instructions, twice per async task or more (a task's first step, a future's wake-up
        of its task: issue 13). A closed loop or debug mode takes the stock way (its error,
        its checks and the handle's traceback), as does a loop whose private state is not
        shaped as CPython 3.10-3.13 shape it (``_lean``)."""
        if not self._lean or self._closed or self._debug:  # type: ignore[attr-defined]
            return super().call_soon(callback, *args, context=context)
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle


def _stock_shaped(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` keeps the private state the stock ``call_soon`` uses as
    :meth:`RealTimeEventLoop.call_soon` reads it: a deque of ready handles (``_ready``) and
    two flags (``_closed``, ``_debug``), as asyncio's ``BaseEventLoop`` of CPython
    3.10-3.13 does."""
    return (type(getattr(loop, "_ready", None)) is collections.deque
            and type(getattr(loop, "_closed", None)) is bool
            and type(getattr(loop, "_debug", None)) is bool)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop the emulator runs on (see :class:`RealTimeEventLoop`)."""
    return RealTimeEventLoop()
