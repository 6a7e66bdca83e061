"""One rule for the business date of an instant and for the bounds of a business date, checked
on both DST days of New York for day starts from midnight to 04:00 (docs/tasks.md)."""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from organizations.business_day import business_date, business_day_bounds, business_range_bounds

NEW_YORK = ZoneInfo("America/New_York")
SPRING_FORWARD = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT (07:00Z)
FALL_BACK = date(2026, 11, 1)  # 02:00 EDT -> 01:00 EST (06:00Z)
STARTS = [time(0, 0), time(1, 0), time(1, 30), time(2, 0), time(2, 30), time(3, 0), time(4, 0)]


def _org(start: time, zone: str = "America/New_York"):
    return SimpleNamespace(timezone=zone, business_day_start=start)


def _z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _bounds(org, day: date) -> tuple[datetime, datetime]:
    # In UTC: aware datetimes sharing one ZoneInfo compare and add by wall clock (PEP 495),
    # which hides exactly the DST-day errors this file is about.
    begin, end = business_day_bounds(org, day)
    return begin.astimezone(UTC), end.astimezone(UTC)


def _instants(org, days):
    """Every 5 minutes over the days around ``days``, plus one second either side of (and
    on) every boundary."""
    first, _ = _bounds(org, days[0] - timedelta(days=1))
    _, last = _bounds(org, days[-1] + timedelta(days=1))
    at = first - timedelta(hours=2)
    while at < last + timedelta(hours=2):
        yield at
        at += timedelta(minutes=5)
    for day in days:
        for edge in _bounds(org, day):
            for delta in (-1, 0, 1):
                yield edge + timedelta(seconds=delta)


@pytest.mark.parametrize("dst_day", [SPRING_FORWARD, FALL_BACK], ids=["spring", "fall"])
@pytest.mark.parametrize("start", STARTS, ids=lambda t: t.strftime("%H%M"))
def test_business_date_is_the_day_whose_bounds_hold_the_instant(dst_day, start):
    org = _org(start)
    days = [dst_day - timedelta(days=1), dst_day, dst_day + timedelta(days=1)]
    for day in days:
        begin, end = _bounds(org, day)
        assert begin < end
        # Consecutive days tile time: no instant in two days, none in no day.
        assert end == _bounds(org, day + timedelta(days=1))[0]
        # A day lasts 24 h give or take the clock change.
        assert timedelta(hours=22) <= end - begin <= timedelta(hours=26)
    for at in _instants(org, days):
        day = business_date(org, at)
        begin, end = _bounds(org, day)
        assert begin <= at < end, (start, at, day, begin, end)
        for other in days:
            o_begin, o_end = _bounds(org, other)
            assert (o_begin <= at < o_end) == (other == day)


def test_the_issue_case_a_start_in_the_spring_gap():
    """Day start 02:30, which New York's clock skips on 2026-03-08: the day starts when the
    clock jumps past it (03:00 EDT), so 07:15Z (03:15 EDT) is the 8th's, numbered and counted."""
    org = _org(time(2, 30))
    begin, end = business_day_bounds(org, SPRING_FORWARD)
    assert begin == _z("2026-03-08T07:00:00")
    assert begin.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"
    assert end == _z("2026-03-09T06:30:00")  # 02:30 EDT
    assert business_date(org, _z("2026-03-08T07:15:00")) == SPRING_FORWARD
    assert business_date(org, _z("2026-03-08T06:59:59")) == SPRING_FORWARD - timedelta(days=1)
    assert business_date(org, _z("2026-03-08T07:00:00")) == SPRING_FORWARD


def test_a_start_in_the_fall_overlap_is_its_first_occurrence():
    org = _org(time(1, 30))
    begin, end = business_day_bounds(org, FALL_BACK)
    assert begin == _z("2026-11-01T05:30:00")  # the first 01:30 (EDT)
    assert end - begin == timedelta(hours=25)
    # The second 01:15 (EST) comes after the day started: it is the 1st's, not the 31st's.
    assert business_date(org, _z("2026-11-01T06:15:00")) == FALL_BACK
    assert business_date(org, _z("2026-11-01T05:29:59")) == FALL_BACK - timedelta(days=1)


def test_ordinary_days_and_other_zones_are_unchanged():
    shanghai = _org(time(5, 0), "Asia/Shanghai")
    begin, end = business_day_bounds(shanghai, date(2025, 1, 28))
    assert begin.isoformat() == "2025-01-28T05:00:00+08:00"
    assert end.isoformat() == "2025-01-29T05:00:00+08:00"
    assert business_date(shanghai, begin - timedelta(seconds=1)) == date(2025, 1, 27)
    assert business_date(shanghai, begin) == date(2025, 1, 28)
    assert business_range_bounds(shanghai, date(2025, 1, 1), date(2025, 1, 31)) == (
        business_day_bounds(shanghai, date(2025, 1, 1))[0],
        business_day_bounds(shanghai, date(2025, 1, 31))[1],
    )
    # A zone whose clock jumps at midnight (Santiago, spring 2026-09-06): a midnight start
    # that never shows begins at 01:00.
    santiago = _org(time(0, 0), "America/Santiago")
    begin, _end = business_day_bounds(santiago, date(2026, 9, 6))
    assert begin.astimezone(ZoneInfo("America/Santiago")).strftime("%H:%M") == "01:00"
    assert business_date(santiago, begin) == date(2026, 9, 6)
    assert business_date(santiago, begin - timedelta(seconds=1)) == date(2026, 9, 5)


def test_the_first_and_last_representable_days_do_not_overflow():
    org = _org(time(5, 0), "Asia/Shanghai")
    assert business_range_bounds(org, date(1, 1, 1), date(1, 1, 2))[0].year == 1
    assert business_day_bounds(org, date(9999, 12, 30))[1].year == 9999
