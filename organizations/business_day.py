"""Business-day arithmetic in an organization's own timezone.

A restaurant's day runs past midnight: with ``business_day_start`` 05:00, a task at 01:30 local
belongs to the previous business day. Bounds are computed with ``zoneinfo`` so DST days are 23 or
25 hours long, as they really are.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone


def org_zone(organization) -> ZoneInfo:
    return ZoneInfo(organization.timezone)


def business_date(organization, at: datetime | None = None) -> date:
    """The business date that ``at`` (default: now) belongs to."""
    local = timezone.localtime(at or timezone.now(), org_zone(organization))
    start = organization.business_day_start
    if (local.hour, local.minute, local.second) < (start.hour, start.minute, start.second):
        return local.date() - timedelta(days=1)
    return local.date()


def business_day_bounds(organization, day: date) -> tuple[datetime, datetime]:
    """Aware [start, end) of business date ``day``."""
    zone = org_zone(organization)
    start = datetime.combine(day, organization.business_day_start, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), organization.business_day_start, tzinfo=zone)
    return start, end


def business_range_bounds(organization, first: date, last: date) -> tuple[datetime, datetime]:
    """Aware [start, end) covering business dates ``first`` through ``last`` inclusive."""
    return business_day_bounds(organization, first)[0], business_day_bounds(organization, last)[1]
