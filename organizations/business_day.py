"""Business-day arithmetic in an organization's own timezone: one rule, both directions.

A restaurant's day runs past midnight: with ``business_day_start`` 05:00, a task at 01:30 local
belongs to the previous business day.

The rule (docs/tasks.md, "Business day"): business date ``D`` starts at the first instant at
which the local clock reads ``D`` at ``business_day_start`` or later, and ends where ``D + 1``
starts. ``business_date(at)`` is the ``D`` with ``start(D) <= at < start(D + 1)``, computed
from the same ``start``: a task's number (its business date) and the report that counts it
(the day's bounds) cannot disagree, DST days included. On those days:

- a start in the spring-forward gap (New York 2026-03-08, 02:30 never shows on the clock): the
  day starts when the clock jumps past it (03:00 EDT, 07:00Z);
- a start in the fall-back overlap (New York 2026-11-01, 01:30 shows twice): the day starts at
  the first 01:30 (EDT); the repeated hour belongs to the new day.

So DST days are 23 or 25 hours long, as they really are.
"""

from datetime import UTC, date, datetime, time, timedelta
from datetime import timezone as fixed_offset
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils import timezone

from core.local_cache import function_cache_register


def org_zone(organization) -> ZoneInfo:
    return ZoneInfo(organization.timezone)


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """``at`` on the local clock, with its fixed offset rather than the zone: an aware datetime
    in a repeated hour never compares equal to another zone's (PEP 495), this one does."""
    local = at.astimezone(zone)
    return local.replace(tzinfo=fixed_offset(local.utcoffset()))


def _reading(ts: int, zone: ZoneInfo) -> datetime:
    """What the local clock reads at POSIX second ``ts`` (naive)."""
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).replace(tzinfo=None)


# Bounded: one entry per (zone, start, date) a process has asked about; task create asks for
# two or three per call, so the zoneinfo arithmetic runs once per day, not once per request.
@lru_cache(maxsize=4096)
def day_start(zone_key: str, start: time, day: date) -> datetime:
    """The first instant at which the clock of ``zone_key`` reads ``day`` at ``start`` or later
    (aware, with that zone's offset at the time)."""
    zone = ZoneInfo(zone_key)
    naive = datetime.combine(day, start)
    # fold=0: in an overlap the earlier of the two instants; in a gap, an instant past the jump.
    first = naive.replace(tzinfo=zone, fold=0)
    try:
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
            return _local(first, zone)
    except OverflowError:
        return first  # year 1 or 9999: no DST to resolve there, and no UTC either
    # In a gap: fold=1 is an instant before the jump (the clock reads earlier than ``naive``),
    # fold=0 one after it (later). The jump is at a whole second between them: bisect.
    before = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    after = -int(-first.timestamp() // 1)
    while after - before > 1:
        middle = (before + after) // 2
        if _reading(middle, zone) >= naive:
            after = middle
        else:
            before = middle
    return _local(datetime.fromtimestamp(after, UTC), zone)


function_cache_register("business-day-start", day_start)  # counted in /metrics


def _start(organization, day: date) -> datetime:
    return day_start(organization.timezone, organization.business_day_start, day)


def business_date(organization, at: datetime | None = None) -> date:
    """The business date that ``at`` (default: now) belongs to."""
    at = at or timezone.now()
    # The local date, one day either side, covers any real zone (offsets shift by hours).
    day = at.astimezone(org_zone(organization)).date() + timedelta(days=1)
    while _start(organization, day) > at:
        day -= timedelta(days=1)
    return day


def business_day_bounds(organization, day: date) -> tuple[datetime, datetime]:
    """Aware [start, end) of business date ``day``."""
    return _start(organization, day), _start(organization, day + timedelta(days=1))


def business_range_bounds(organization, first: date, last: date) -> tuple[datetime, datetime]:
    """Aware [start, end) covering business dates ``first`` through ``last`` inclusive."""
    return _start(organization, first), _start(organization, last + timedelta(days=1))
