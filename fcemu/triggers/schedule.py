"""Timer-trigger schedules: parsing ``cronExpression`` and computing the next fire time.

FC's time triggers take two forms of expression (TimerTriggerConfig, "Time triggers"):

- ``@every <duration>``: a Go duration (``@every 4m``, ``@every 1h30m``, ``@every 1.5h``;
  units ``h``, ``m``, ``s``, ``ms``, ``us``/``µs``, ``ns``), at least one second, kept
  to whole seconds. It fires every interval from its anchor (when the trigger was created,
  enabled or given a new expression);
- six cron fields with seconds, ``sec min hour day-of-month month day-of-week``, with
  ``*``, ``?`` (day fields), lists ``,``, ranges ``-``, steps ``/``, month names
  (``JAN``…) and day names (``SUN``…, 0 or 7 = Sunday), in UTC unless prefixed with
  ``CRON_TZ=<IANA zone>``. As in Vixie cron (and robfig/cron, which FC's syntax
  follows), when both day fields are restricted a day matching either one fires.

Across a daylight-saving change a local time that does not exist is skipped and a local
time that happens twice fires once (at its first occurrence); FC warns that runs may be
repeated or missed there. Pure functions of epoch milliseconds: no clock, no engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fcemu.checks import check_decimal
from fcemu.errors import InvalidArgument

__all__ = ["Cron", "Every", "Schedule", "ScheduleError", "parse_schedule"]

#: How far ahead a cron expression is searched for its next fire (then: never fires).
_HORIZON_DAYS = 366 * 5

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

_EXAMPLES = ("use '@every 4m' (a Go duration such as 1h30m) or six cron fields with "
             "seconds, e.g. '0 0 4 * * *', optionally prefixed with 'CRON_TZ=Asia/Shanghai '")


class ScheduleError(ValueError):
    """A ``cronExpression`` FC would refuse; the message says what to fix."""


@dataclass(frozen=True)
class Every:
    """``@every <duration>``: fires at ``anchor + k * interval`` for k = 1, 2, …"""

    expression: str
    interval_ms: int

    def next_after(self, after_ms: int, anchor_ms: int) -> int | None:
        """The first fire strictly after ``after_ms``."""
        if after_ms < anchor_ms:
            return anchor_ms + self.interval_ms
        steps = (after_ms - anchor_ms) // self.interval_ms + 1
        return anchor_ms + steps * self.interval_ms


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("seconds", 0, 59), _Field("minutes", 0, 59), _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31), _Field("month", 1, 12, tuple(_MONTHS), 1),
    _Field("day-of-week", 0, 7, tuple(_DAYS), 0),
)


@dataclass(frozen=True)
class Cron:
    """Six cron fields (with seconds) in a time zone."""

    expression: str
    zone: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_any: bool
    weekdays_any: bool

    def next_after(self, after_ms: int, anchor_ms: int = 0) -> int | None:
        """The first fire strictly after ``after_ms`` (``None``: none within five years)."""
        zone = ZoneInfo(self.zone) if self.zone != "UTC" else timezone.utc
        start = datetime.fromtimestamp(after_ms // 1000, tz=timezone.utc).astimezone(zone)
        # Existing local times map to UTC in order (a repeated one at its first occurrence),
        # so nothing before ``start``'s own wall time can be after it.
        floor = start.replace(tzinfo=None)
        day = floor.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                found = self._first_in_day(day, floor, after_ms, zone)
                if found is not None:
                    return found
            day += timedelta(days=1)
        return None

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_any or self.weekdays_any:
            return in_month and in_week
        return in_month or in_week

    def _first_in_day(self, day: date, floor: datetime, after_ms: int,
                      zone: timezone | ZoneInfo) -> int | None:
        same_day = day == floor.date()
        for hour in self.hours:
            if same_day and hour < floor.hour:
                continue
            for minute in self.minutes:
                if same_day and (hour, minute) < (floor.hour, floor.minute):
                    continue
                for second in self.seconds:
                    if same_day and (hour, minute, second) < (floor.hour, floor.minute,
                                                              floor.second):
                        continue
                    local = datetime(day.year, day.month, day.day, hour, minute, second)
                    ms = _local_ms(local, zone)
                    if ms is not None and ms > after_ms:
                        return ms
        return None


Schedule = Every | Cron


def _local_ms(local: datetime, zone: timezone | ZoneInfo) -> int | None:
    """Epoch ms of a local wall time (its first occurrence); ``None`` when it does not exist."""
    aware = local.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    if back != local:
        return None
    return int(aware.timestamp()) * 1000


def parse_schedule(expression: object) -> Schedule:
    """Parse a ``cronExpression``; :class:`ScheduleError` says what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError(f"cronExpression is required: {_EXAMPLES}")
    text = expression.strip()
    if text.startswith("@every"):
        return Every(text, _duration_ms(text[len("@every"):].strip(), text))
    if text.startswith("@"):
        raise ScheduleError(f"cronExpression {text!r}: the only descriptor is @every; "
                            f"{_EXAMPLES}")
    zone = "UTC"
    if text.startswith("CRON_TZ="):
        head, _, text = text.partition(" ")
        zone = head[len("CRON_TZ="):]
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"cronExpression {expression!r}: unknown time zone {zone!r} "
                                "in CRON_TZ (use an IANA name such as Asia/Shanghai)") from None
        text = text.strip()
    parts = text.split()
    if len(parts) != 6:
        raise ScheduleError(f"cronExpression {expression!r} has {len(parts)} fields, expected "
                            f"6 (seconds minutes hours day-of-month month day-of-week): "
                            f"{_EXAMPLES}")
    values = [_parse_field(part, spec, expression)
              for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[5])
    return Cron(expression.strip(), zone, tuple(sorted(values[0])), tuple(sorted(values[1])),
                tuple(sorted(values[2])), frozenset(values[3]), frozenset(values[4]),
                weekdays, days_any=parts[3] in ("*", "?"), weekdays_any=parts[5] in ("*", "?"))


def _duration_ms(text: str, expression: str) -> int:
    position, total_ns = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total_ns += float(match[1]) * _UNITS_NS[match[2]]
        position = match.end()
    if not text or position != len(text):
        raise ScheduleError(f"cronExpression {expression!r}: {text!r} is not a duration; "
                            "write it as a Go duration, e.g. @every 4m, @every 1h30m")
    seconds = int(total_ns // 1_000_000_000)
    if seconds < 1:
        raise ScheduleError(f"cronExpression {expression!r}: the interval must be at least "
                            "one second")
    return seconds * 1000


def _parse_field(text: str, spec: _Field, expression: object) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(item, spec, expression)
    return values


def _parse_item(item: str, spec: _Field, expression: object) -> set[int]:
    def bad(why: str) -> ScheduleError:
        return ScheduleError(f"cronExpression {expression!r}: {spec.name} field {item!r}: "
                             f"{why}")

    body, _, step_text = item.partition("/")
    step = 1
    if step_text:
        step = _digits(step_text, bad, "the step after '/' must be a whole number of at "
                       "least 1")
        if step < 1:
            raise bad("the step after '/' must be a whole number of at least 1")
    if body in ("*", "?"):
        if body == "?" and spec.name not in ("day-of-month", "day-of-week"):
            raise bad("'?' is only allowed in the day-of-month and day-of-week fields")
        low, high = spec.low, spec.high if spec.name != "day-of-week" else 6
    else:
        first, dash, last = body.partition("-")
        low = _value(first, spec, bad)
        high = _value(last, spec, bad) if dash else (spec.high if step_text else low)
        if low > high:
            raise bad(f"the range starts after it ends ({low} > {high})")
    return set(range(low, high + 1, step))


def _value(text: str, spec: _Field, bad: Callable[[str], ScheduleError]) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.names.index(upper) + spec.name_base
    value = _digits(text, bad, f"{text!r} is not a number" + (
        f" or a name ({', '.join(spec.names)})" if spec.names else ""))
    if not spec.low <= value <= spec.high:
        raise bad(f"{value} is outside {spec.low}-{spec.high}")
    return value


def _digits(text: str, bad: Callable[[str], ScheduleError], why: str) -> int:
    """ASCII digits (:func:`~fcemu.checks.check_decimal`: ``str.isdigit`` also takes
    ``²`` and other scripts' digits, which ``int()`` reads or refuses), of any size a
    cron field may hold."""
    try:
        return check_decimal(text, "", 0, 10**18)
    except InvalidArgument:
        raise bad(why) from None
