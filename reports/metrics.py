"""Report metrics, computed by SQL aggregates over one range of business days.

Every figure is one aggregate query over ``tasks_task`` / ``tasks_taskitem`` in the current
tenant's schema: nothing loops over tasks in Python, so a day of 10,000 tasks costs the same
handful of queries as a day of ten.

Definitions (docs/reports.md):
- a task belongs to the business day its ``created_at`` falls in (organization timezone and
  ``business_day_start``);
- revenue, discounts, average task value, items sold, agent and category sales count completed
  tasks only; agent/category revenue is the item line total (before the order-level discount);
- preparation time is ``ready_at - created_at`` of every task that reached ``ready``;
- cancellation and expiry rates are shares of every task created in the period;
- feedback: the notes of the period's tasks, and the average of their scores (1-5; notes
  without a score are counted, not averaged).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Q,
    Sum,
)
from django.db.models.functions import Coalesce, Extract, ExtractHour

from organizations.business_day import business_range_bounds, org_zone
from tasks.choices import TaskStatus
from tasks.models import Task, TaskItem, TaskNote

from .constants import TOP_AGENTS_LIMIT

CENT = Decimal("0.01")
ZERO = Decimal("0")


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def money(value) -> str:
    return str((value or ZERO).quantize(CENT, rounding=ROUND_HALF_UP))


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


@dataclass(frozen=True)
class Period:
    """An inclusive range of business dates and its aware [start, end) bounds."""

    first: date
    last: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, organization, first: date, last: date) -> "Period":
        start, end = business_range_bounds(organization, first, last)
        return cls(first=first, last=last, start=start, end=end)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def as_json(self) -> dict:
        return {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
        }


def _tasks_in(period: Period):
    return Task.objects.filter(created_at__gte=period.start, created_at__lt=period.end)


def _completed_items_in(period: Period):
    return TaskItem.objects.filter(
        task__created_at__gte=period.start,
        task__created_at__lt=period.end,
        task__status=TaskStatus.COMPLETED,
    )


_PREP = ExpressionWrapper(F("ready_at") - F("created_at"), output_field=DurationField())


def _kpis(period: Period) -> dict:
    """The headline figures (two queries): used for the period and for every comparison."""
    completed = Q(status=TaskStatus.COMPLETED)
    status_counts = {
        f"n_{status}": Count("id", filter=Q(status=status)) for status in TaskStatus.values
    }
    row = _tasks_in(period).aggregate(
        n_tasks=Count("id"),
        **status_counts,
        revenue_sum=Sum("total", filter=completed),
        gross_sum=Sum("subtotal", filter=completed),
        discount_sum=Sum("discount", filter=completed),
        prep_avg=Avg(Extract(_PREP, "epoch"), filter=Q(ready_at__isnull=False)),
        prep_p90=PercentileCont(Extract(_PREP, "epoch"), 0.9, filter=Q(ready_at__isnull=False)),
        prep_count=Count("id", filter=Q(ready_at__isnull=False)),
    )
    items_sold = _completed_items_in(period).aggregate(n=Coalesce(Sum("quantity"), 0))["n"]
    total = row["n_tasks"]
    n_completed = row[f"n_{TaskStatus.COMPLETED}"]
    revenue = row["revenue_sum"] or ZERO
    return {
        "tasks_total": total,
        "tasks_by_status": {status: row[f"n_{status}"] for status in TaskStatus.values},
        "revenue": money(revenue),
        "gross_sales": money(row["gross_sum"]),
        "discounts": money(row["discount_sum"]),
        "average_task_value": money(revenue / n_completed if n_completed else ZERO),
        "items_sold": int(items_sold),
        "cancellation_rate": ratio(row[f"n_{TaskStatus.CANCELLED}"], total),
        "expiry_rate": ratio(row[f"n_{TaskStatus.EXPIRED}"], total),
        "preparation_seconds": {
            "count": row["prep_count"],
            "average": round(row["prep_avg"], 1) if row["prep_avg"] is not None else None,
            "p90": round(row["prep_p90"], 1) if row["prep_p90"] is not None else None,
        },
    }


# KPIs compared across periods, and how: money and counts get an absolute and relative delta.
COMPARED = ("tasks_total", "revenue", "average_task_value", "items_sold", "discounts")
COMPARED_RATES = ("cancellation_rate", "expiry_rate")


def _delta(current: dict, previous: dict) -> dict:
    out = {}
    for key in COMPARED:
        now, before = Decimal(str(current[key])), Decimal(str(previous[key]))
        change = now - before
        out[key] = {
            "current": current[key],
            "previous": previous[key],
            "change": money(change) if isinstance(current[key], str) else int(change),
            "change_pct": round(float(change / before * 100), 1) if before else None,
        }
    for key in COMPARED_RATES:
        out[key] = {
            "current": current[key],
            "previous": previous[key],
            "change": round(current[key] - previous[key], 4),
            "change_pct": None,
        }
    return out


def _agents(period: Period) -> list[dict]:
    rows = (
        _completed_items_in(period)
        .values("agent_id")
        .annotate(
            name=Max("agent_name"),
            category=Max("category_name"),
            quantity=Sum("quantity"),
            revenue=Sum("line_total"),
        )
        .order_by()
    )
    return [
        {
            "agent_id": r["agent_id"],
            "name": r["name"],
            "category": r["category"],
            "quantity": int(r["quantity"]),
            "revenue": r["revenue"],
        }
        for r in rows
    ]


def _top(agents: list[dict], key: str) -> list[dict]:
    ranked = sorted(agents, key=lambda a: (-a[key], a["name"], a["agent_id"]))[:TOP_AGENTS_LIMIT]
    return [{**a, "revenue": money(a["revenue"]), "rank": i} for i, a in enumerate(ranked, 1)]


def _categories(period: Period) -> list[dict]:
    rows = (
        _completed_items_in(period)
        .values("category_id_snapshot")
        .annotate(name=Max("category_name"), quantity=Sum("quantity"), revenue=Sum("line_total"))
        .order_by("-revenue", "name")
    )
    return [
        {
            "category_id": r["category_id_snapshot"],
            "name": r["name"],
            "quantity": int(r["quantity"]),
            "revenue": money(r["revenue"]),
        }
        for r in rows
    ]


def _parse_hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def peak_hours(organization) -> set[int]:
    """Local hours whose [h:00, h+1:00) overlaps a peak window."""
    hours = set()
    for window in organization.peak_windows or []:
        start, end = _parse_hhmm(window[0]), _parse_hhmm(window[1])
        hours.update(h for h in range(24) if h * 60 < end and (h + 1) * 60 > start)
    return hours


def _hourly(organization, period: Period) -> list[dict]:
    """24 rows, one per local hour, in business-day order (05:00 first with the default start).

    On a DST day the repeated hour is one bucket and the skipped hour stays at zero.
    """
    zone = org_zone(organization)
    rows = (
        _tasks_in(period)
        .annotate(hour=ExtractHour("created_at", tzinfo=zone))
        .values("hour")
        .annotate(
            tasks=Count("id"),
            completed=Count("id", filter=Q(status=TaskStatus.COMPLETED)),
            revenue_sum=Sum("total", filter=Q(status=TaskStatus.COMPLETED)),
        )
        .order_by()
    )
    by_hour = {r["hour"]: r for r in rows}
    peaks = peak_hours(organization)
    first = organization.business_day_start.hour
    out = []
    for offset in range(24):
        hour = (first + offset) % 24
        r = by_hour.get(hour, {})
        out.append(
            {
                "hour": hour,
                "label": f"{hour:02d}:00",
                "tasks": r.get("tasks", 0),
                "completed": r.get("completed", 0),
                "revenue": money(r.get("revenue_sum")),
                "peak": hour in peaks,
            }
        )
    return out


def previous_period(period_first: date, period_last: date, *, monthly: bool) -> tuple[date, date]:
    if monthly:
        last = period_first - timedelta(days=1)
        return last.replace(day=1), last
    length = (period_last - period_first).days + 1
    return period_first - timedelta(days=length), period_first - timedelta(days=1)


def _feedback(period: Period) -> dict:
    row = TaskNote.objects.filter(
        task__created_at__gte=period.start, task__created_at__lt=period.end
    ).aggregate(
        notes=Count("id"),
        scores=Count("score"),
        average=Avg("score"),
    )
    average = row["average"]
    return {
        "notes": row["notes"],
        "scores": row["scores"],
        "average_score": round(float(average), 2) if average is not None else None,
    }


def compute_metrics(organization, first: date, last: date, *, monthly: bool = False) -> dict:
    """Every metric of business dates ``first``..``last`` in the current tenant schema."""
    period = Period.of(organization, first, last)
    kpis = _kpis(period)
    agents = _agents(period)
    comparisons = {}
    prev_first, prev_last = previous_period(first, last, monthly=monthly)
    comparisons["previous_period"] = _compare(organization, prev_first, prev_last, kpis)
    if first == last and not monthly:
        week = first - timedelta(days=7)
        comparisons["same_weekday_last_week"] = _compare(organization, week, week, kpis)
    return {
        "period": {**period.as_json(), "timezone": organization.timezone},
        "currency": organization.currency,
        **kpis,
        "top_agents_by_quantity": _top(agents, "quantity"),
        "top_agents_by_revenue": _top(agents, "revenue"),
        "categories": _categories(period),
        "peak_windows": organization.peak_windows or [],
        "hourly": _hourly(organization, period),
        "feedback": _feedback(period),
        "comparisons": comparisons,
    }


def _compare(organization, first: date, last: date, current: dict) -> dict:
    period = Period.of(organization, first, last)
    kpis = _kpis(period)
    return {"period": period.as_json(), "kpis": kpis, "deltas": _delta(current, kpis)}
