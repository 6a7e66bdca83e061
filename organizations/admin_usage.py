"""Usage figures for operators (the admin's organization list and fleet page), read straight
from the tenant schemas. Part of the admin (``admin_*``): it reads every app's tables, which
only the operators' console may (scripts/check_imports.py).

Per page, not per organization: one query reads every schema of the rows on screen (a UNION
ALL of small index-backed subqueries: tasks of the business day by ``business_date``, the last
task event by ``seq``, screens by ``last_seen_at``), so a page of 100 organizations costs one
round trip, not 300. The fleet page reads every schema the same way, in chunks, and keeps the
result in the cache for ``FLEET_CACHE_SECONDS`` (docs/operators.md, "Usage figures").
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from displays.models import Screen
from events.models import TaskEvent
from reports.choices import JobStatus
from reports.models import ReportJob
from tasks.models import Task

from .business_day import business_date
from .models import Organization

# A screen is online when its socket re-checked (or its ticket was taken) this recently.
SCREEN_ONLINE_SECONDS = 180
FLEET_CACHE_SECONDS = 60
_CHUNK = 500


@dataclass(frozen=True)
class Usage:
    tasks_today: int = 0
    screens_online: int = 0
    last_activity: datetime | None = None


def _existing_schemas(names: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [names])
        return {row[0] for row in cursor.fetchall()}


def organization_usage(organizations: list[Organization], *, now=None) -> dict[int, Usage]:
    """``{organization pk: Usage}`` for these organizations, in one query."""
    now = now or timezone.now()
    organizations = [o for o in organizations if not o.is_public]
    if not organizations:
        return {}
    present = _existing_schemas([o.schema_name for o in organizations])
    quote = connection.ops.quote_name
    parts, params = [], []
    online_since = now - timedelta(seconds=SCREEN_ONLINE_SECONDS)
    for org in organizations:
        if org.schema_name not in present:
            continue
        schema = quote(org.schema_name)
        parts.append(  # identifiers quoted; schema names come from validated slugs
            f"SELECT %s::bigint,"  # noqa: S608
            f" (SELECT count(*) FROM {schema}.{quote(Task._meta.db_table)}"
            f"  WHERE business_date = %s),"
            f" (SELECT count(*) FROM {schema}.{quote(Screen._meta.db_table)}"
            f"  WHERE is_active AND last_seen_at >= %s),"
            f" (SELECT at FROM {schema}.{quote(TaskEvent._meta.db_table)}"
            f"  ORDER BY seq DESC LIMIT 1)"
        )
        params += [org.pk, business_date(org, now), online_since]
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    return {pk: Usage(tasks, screens, last) for pk, tasks, screens, last in rows}


@dataclass(frozen=True)
class Fleet:
    active: int
    suspended: int
    deletion_scheduled: int
    tasks_last_hour: int
    failed_jobs_24h: int
    # (slug, name, failed jobs) of the organizations with failures, most first.
    failing: list
    # (slug, name, tasks in the last hour) of the busiest organizations.
    busiest: list
    computed_at: datetime


def fleet_summary(*, refresh: bool = False) -> Fleet:
    """The fleet page's figures over every organization, cached ``FLEET_CACHE_SECONDS``."""
    key = "cc:platform:fleet-summary"
    if not refresh and (cached := cache.get(key)) is not None:
        return cached
    now = timezone.now()
    orgs = list(
        Organization.objects.exclude(schema_name="public").only(
            "pk", "slug", "name", "schema_name", "is_active", "deletion_scheduled_at"
        )
    )
    scheduled = sum(1 for o in orgs if o.deletion_scheduled_at is not None)
    suspended = sum(1 for o in orgs if o.deletion_scheduled_at is None and not o.is_active)
    present = _existing_schemas([o.schema_name for o in orgs]) if orgs else set()
    counts = {}
    quote = connection.ops.quote_name
    live = [o for o in orgs if o.schema_name in present]
    for start in range(0, len(live), _CHUNK):
        parts, params = [], []
        for org in live[start : start + _CHUNK]:
            schema = quote(org.schema_name)
            parts.append(
                f"SELECT %s::bigint,"  # noqa: S608
                f" (SELECT count(*) FROM {schema}.{quote(Task._meta.db_table)}"
                f"  WHERE created_at >= %s),"
                f" (SELECT count(*) FROM {schema}.{quote(ReportJob._meta.db_table)}"
                f"  WHERE status = %s AND created_at >= %s)"
            )
            params += [org.pk, now - timedelta(hours=1), JobStatus.FAILED, now - timedelta(days=1)]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            counts.update({pk: (tasks, failed) for pk, tasks, failed in cursor.fetchall()})
    by_pk = {o.pk: o for o in live}
    failing = sorted(
        ((by_pk[pk].slug, by_pk[pk].name, c[1]) for pk, c in counts.items() if c[1]),
        key=lambda row: -row[2],
    )[:20]
    busiest = sorted(
        ((by_pk[pk].slug, by_pk[pk].name, c[0]) for pk, c in counts.items() if c[0]),
        key=lambda row: -row[2],
    )[:20]
    fleet = Fleet(
        active=len(orgs) - scheduled - suspended,
        suspended=suspended,
        deletion_scheduled=scheduled,
        tasks_last_hour=sum(c[0] for c in counts.values()),
        failed_jobs_24h=sum(c[1] for c in counts.values()),
        failing=failing,
        busiest=busiest,
        computed_at=now,
    )
    cache.set(key, fleet, FLEET_CACHE_SECONDS)
    return fleet
