"""A task's number (its business date, given by task create) and the report that counts it (the
day's bounds) agree on New York's two DST days, for day starts from midnight to 04:00."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from organizations.business_day import business_day_bounds
from reports.metrics import Period, compute_metrics
from tasks.models import Task
from tasks.services import task_create
from testing.factories import catalog_named

SPRING_FORWARD = date(2026, 3, 8)
FALL_BACK = date(2026, 11, 1)
STARTS = [time(0, 0), time(1, 0), time(1, 30), time(2, 0), time(2, 30), time(3, 0), time(4, 0)]


def _around_the_boundaries(org, day: date) -> list[datetime]:
    out = []
    for edge in business_day_bounds(org, day):
        edge = edge.astimezone(UTC)
        out += [edge + timedelta(minutes=m) for m in (-45, -15, -1, 0, 1, 15, 45)]
    return out


def test_the_issue_case_is_numbered_and_counted_on_the_same_day(nyc, monkeypatch):
    org = nyc.organization
    # The session-shared object: monkeypatch puts the 05:00 back for the next tests.
    monkeypatch.setattr(org, "business_day_start", time(2, 30))
    noodles = catalog_named().agents["Cola"]
    task = task_create(
        user=nyc.users["staff"],
        items=[{"agent_id": noodles.id, "quantity": 1}],
        now=datetime(2026, 3, 8, 7, 15, tzinfo=UTC),
    )
    assert task.number == "20260308001"
    assert compute_metrics(org, SPRING_FORWARD, SPRING_FORWARD)["tasks_total"] == 1
    assert compute_metrics(org, date(2026, 3, 7), date(2026, 3, 7))["tasks_total"] == 0


@pytest.mark.parametrize("dst_day", [SPRING_FORWARD, FALL_BACK], ids=["spring", "fall"])
def test_every_task_is_counted_by_the_report_of_its_number(nyc, dst_day, monkeypatch):
    org = nyc.organization
    cola = catalog_named().agents["Cola"]
    days = [dst_day - timedelta(days=1), dst_day, dst_day + timedelta(days=1)]
    for start in STARTS:
        # The tenant object task create reads (restored after the test); the fixture's
        # transaction rolls the rows back.
        monkeypatch.setattr(org, "business_day_start", start)
        Task.objects.all().delete()
        instants = sorted({at for day in days for at in _around_the_boundaries(org, day)})
        for at in instants:
            task_create(
                user=nyc.users["staff"], items=[{"agent_id": cola.id, "quantity": 1}], now=at
            )
        for day in [days[0] - timedelta(days=1), *days, days[-1] + timedelta(days=1)]:
            period = Period.of(org, day, day)
            counted = set(
                Task.objects.filter(
                    created_at__gte=period.start, created_at__lt=period.end
                ).values_list("number", flat=True)
            )
            numbered = set(Task.objects.filter(business_date=day).values_list("number", flat=True))
            assert counted == numbered, (start, day)
            assert all(n.startswith(f"{day:%Y%m%d}") for n in numbered)
        # The report's own count agrees too (one figure, to keep the test quick).
        n = Task.objects.filter(business_date=dst_day).count()
        assert compute_metrics(org, dst_day, dst_day)["tasks_total"] == n, start
        assert n > 0
