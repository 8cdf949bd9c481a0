"""Timer-trigger schedules (fcemu.triggers.schedule): both expression forms, CRON_TZ across
daylight-saving changes, and the errors that say what to fix. Pure: no emulator."""

from __future__ import annotations

import pytest

from fcemu.clock import format_ms, to_epoch_ms
from fcemu.triggers import Cron, Every, ScheduleError, parse_schedule
from tests.constants import HOUR_MS, T0


def fires(expression: str, start: str, count: int) -> list[str]:
    schedule = parse_schedule(expression)
    at, out = to_epoch_ms(start), []
    for _ in range(count):
        nxt = schedule.next_after(at, to_epoch_ms(start))
        assert nxt is not None
        out.append(format_ms(nxt)[:19] + "Z")
        at = nxt
    return out


@pytest.mark.parametrize(("text", "interval_ms"), [
    ("@every 4m", 4 * 60_000), ("@every 1h30m", 90 * 60_000), ("@every 1.5h", 90 * 60_000),
    ("@every 90s", 90_000), ("@every 2h0m10s", 2 * HOUR_MS + 10_000),
    ("@every 1500ms", 1000),  # Go durations; kept to whole seconds
])
def test_every_takes_go_durations(text, interval_ms):
    schedule = parse_schedule(text)
    assert isinstance(schedule, Every) and schedule.interval_ms == interval_ms


def test_every_counts_from_its_anchor():
    every = parse_schedule("@every 1h")
    assert every.next_after(T0, T0) == T0 + HOUR_MS
    assert every.next_after(T0 + HOUR_MS, T0) == T0 + 2 * HOUR_MS
    assert every.next_after(T0 + HOUR_MS - 1, T0) == T0 + HOUR_MS


def test_cron_six_fields_in_utc_by_default():
    assert fires("0 0 4 * * *", "2024-05-01T05:00:00Z", 2) == [
        "2024-05-02T04:00:00Z", "2024-05-03T04:00:00Z"]
    assert fires("30 */20 9-10 * * *", "2024-05-01T00:00:00Z", 4) == [
        "2024-05-01T09:00:30Z", "2024-05-01T09:20:30Z", "2024-05-01T09:40:30Z",
        "2024-05-01T10:00:30Z"]


def test_cron_names_lists_question_mark_and_day_or_rule():
    # 2024-05-01 is a Wednesday
    assert fires("0 0 12 ? * MON,fri", "2024-05-01T00:00:00Z", 2) == [
        "2024-05-03T12:00:00Z", "2024-05-06T12:00:00Z"]
    assert fires("0 0 0 1 JAN-DEC ?", "2024-05-01T00:00:00Z", 1) == ["2024-06-01T00:00:00Z"]
    # both day fields restricted: either matches (Vixie cron)
    assert fires("0 0 0 15 * SUN", "2024-05-01T00:00:00Z", 3) == [
        "2024-05-05T00:00:00Z", "2024-05-12T00:00:00Z", "2024-05-15T00:00:00Z"]
    assert fires("0 0 0 * * 7", "2024-05-01T00:00:00Z", 1) == ["2024-05-05T00:00:00Z"]


def test_cron_tz_follows_the_zone_and_daylight_saving():
    schedule = parse_schedule("CRON_TZ=Asia/Shanghai 0 0 4 1 * *")
    assert isinstance(schedule, Cron) and schedule.zone == "Asia/Shanghai"
    assert fires("CRON_TZ=Asia/Shanghai 0 0 4 1 * *", "2024-05-01T00:00:00Z", 1) == [
        "2024-05-31T20:00:00Z"]
    # Berlin springs forward on 2024-03-31 (02:00 -> 03:00): 02:30 does not exist that day
    assert fires("CRON_TZ=Europe/Berlin 0 30 2 * * *", "2024-03-29T00:00:00Z", 4) == [
        "2024-03-29T01:30:00Z", "2024-03-30T01:30:00Z", "2024-04-01T00:30:00Z",
        "2024-04-02T00:30:00Z"]
    # and falls back on 2024-10-27 (03:00 -> 02:00): 02:30 happens twice, fires once
    assert fires("CRON_TZ=Europe/Berlin 0 30 2 * * *", "2024-10-26T00:00:00Z", 3) == [
        "2024-10-26T00:30:00Z", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"]


def test_a_date_that_never_comes_has_no_fire():
    assert parse_schedule("0 0 0 31 FEB *").next_after(T0) is None


@pytest.mark.parametrize(("text", "says"), [
    ("", "cronExpression is required"),
    ("* * * * *", "has 5 fields, expected 6"),
    ("@every", "is not a duration"),
    ("@every 5 minutes", "is not a duration"),
    ("@every 500ms", "at least one second"),
    ("@daily", "the only descriptor is @every"),
    ("0 0 24 * * *", "hours field '24': 24 is outside 0-23"),
    ("0 0 0 * 13 *", "month field '13'"),
    ("0 0 0 * * MOON", "'MOON' is not a number or a name"),
    ("0 5-1 * * * *", "the range starts after it ends"),
    ("0 */0 * * * *", "the step after '/' must be"),
    # ASCII digits only: str.isdigit() takes these, int() reads one and refuses the other
    ("0 0 */\u0663 * * *", "hours field '*/\u0663': the step after '/' must be"),
    ("0 0 \u00b2 * * *", "hours field '\u00b2': '\u00b2' is not a number"),
    ("0 0 1-\u0663 * * *", "is not a number"),
    ("@every \u0663s", "is not a duration"),
    ("? * * * * *", "'?' is only allowed in the day-of-month and day-of-week"),
    ("CRON_TZ=Mars/Olympus 0 0 0 * * *", "unknown time zone 'Mars/Olympus'"),
])
def test_refused_expressions_say_what_to_fix(text, says):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    assert says in str(info.value)


def test_the_repeated_hour_of_a_fall_back_fires_once():
    every_half_hour = parse_schedule("CRON_TZ=Europe/Berlin 0 */30 * * * *")
    # 2024-10-27: 02:00-02:59 happens at 00:xxZ (CEST) and again at 01:xxZ (CET)
    assert fires("CRON_TZ=Europe/Berlin 0 */30 * * * *", "2024-10-27T00:00:00Z", 4) == [
        "2024-10-27T00:30:00Z", "2024-10-27T02:00:00Z", "2024-10-27T02:30:00Z",
        "2024-10-27T03:00:00Z"]
    # created during the second 02:30: the next fire is 03:00 CET
    assert format_ms(every_half_hour.next_after(to_epoch_ms("2024-10-27T01:30:00Z"))) == \
        "2024-10-27T02:00:00.000Z"
