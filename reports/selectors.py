"""Reads of the reports app (current tenant schema only)."""

import uuid
from datetime import date

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.exceptions import NotFoundError

from .choices import ReportKind
from .constants import DASHBOARD_CACHE_SECONDS
from .metrics import compute_metrics
from .models import DailyReport, MonthlyReport, ReportJob


def _model(kind: str):
    return DailyReport if kind == ReportKind.DAILY else MonthlyReport


def report_list(
    *, kind: str, date_from: date | None = None, date_to: date | None = None
) -> QuerySet:
    """Reports of this organization, newest first; the (large) metrics are left out."""
    field = "business_date" if kind == ReportKind.DAILY else "month"
    qs = _model(kind).objects.defer("metrics")
    if date_from:
        qs = qs.filter(**{f"{field}__gte": date_from})
    if date_to:
        qs = qs.filter(**{f"{field}__lte": date_to})
    return qs.order_by(f"-{field}", "-id")


def access_report(*, kind: str, report_id) -> DailyReport | MonthlyReport:
    """The report with this id in the current organization, or a 404 in the envelope."""
    report = _model(kind).objects.filter(pk=report_id).first()
    if report is None:
        raise NotFoundError(_("Report not found."), code="REPORT_NOT_FOUND")
    return report


def access_report_job(*, job_id) -> ReportJob:
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:
        key = None
    job = ReportJob.objects.filter(pk=key).first() if key else None
    if job is None:
        raise NotFoundError(_("Report job not found."), code="REPORT_JOB_NOT_FOUND")
    return job


def dashboard_metrics(*, organization, first: date, last: date) -> dict:
    """Live metrics of a range of business dates with deltas against the previous range of the
    same length; cached briefly (the cache key carries the schema name)."""
    key = f"reports:dashboard:{first.isoformat()}:{last.isoformat()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    metrics = compute_metrics(organization, first, last)
    metrics["cached_for_seconds"] = DASHBOARD_CACHE_SECONDS
    cache.set(key, metrics, DASHBOARD_CACHE_SECONDS)
    return metrics
