"""Writes of the reports app: enqueue, generate (claim -> compute -> store), dispatch.

Idempotency per (tenant, period) rests on the report row: one ``DailyReport`` per business date
(one ``MonthlyReport`` per month), taken FOR UPDATE at every state change. A job first *claims*
the row (status ``running``, ``task_id`` = its Celery id), computes outside any transaction,
then stores the result only if it still owns the row. A redelivered job (worker killed, acks
late) carries the same id and simply claims again; a job that finds the row ``running`` under
another id leaves it alone unless that claim is older than the stale threshold.
"""

import logging
import time
import uuid
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context, tenant_context

from audit.choices import AuditAction
from audit.services import Target, audit_record
from core.exceptions import ConflictError
from core.jobs import job_send
from core.locale import organization_language
from organizations.business_day import business_date, business_day_bounds, org_zone
from organizations.selectors import organization_list_active

from . import constants
from .choices import JOB_FINISHED, JobStatus, ReportKind, ReportStatus
from .metrics import Period, compute_metrics
from .models import DailyReport, MonthlyReport, ReportJob
from .xlsx import build_workbook

logger = logging.getLogger(__name__)

MAX_AUTOMATIC_ATTEMPTS = 3
IN_FLIGHT = (ReportStatus.PENDING, ReportStatus.RUNNING)


def _model(kind: str):
    return DailyReport if kind == ReportKind.DAILY else MonthlyReport


def _period_field(kind: str) -> str:
    return "business_date" if kind == ReportKind.DAILY else "month"


def month_last_day(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def report_period_dates(*, kind: str, period: date) -> tuple[date, date]:
    if kind == ReportKind.DAILY:
        return period, period
    return period, month_last_day(period)


def report_storage_name(*, schema: str, kind: str, period: date) -> str:
    """A new name for one generation of a workbook:
    ``<schema>/reports/daily/2026-01-31-<12 hex>.xlsx`` or ``.../monthly/2026-01-<12 hex>.xlsx``.

    Every generation gets its own name, so the workbook the row points at is never overwritten
    or deleted before the row points at its successor (docs/reports.md, "Storage").
    """
    label = period.isoformat() if kind == ReportKind.DAILY else f"{period:%Y-%m}"
    return f"{schema}/reports/{kind}/{label}-{uuid.uuid4().hex[:12]}.xlsx"


def _store(*, kind: str, period: date, content: bytes) -> str:
    name = report_storage_name(schema=connection.schema_name, kind=kind, period=period)
    return default_storage.save(name, ContentFile(content))


def _delete_file_quietly(name: str) -> None:
    """Remove a workbook no row points at; a failure only leaves an orphan file behind."""
    try:
        default_storage.delete(name)
    except Exception:
        logger.warning("could not delete report file %s", name, exc_info=True)


def stale_after() -> timedelta:
    return timedelta(
        seconds=getattr(
            settings, "REPORTS_STALE_AFTER_SECONDS", constants.DEFAULT_STALE_AFTER_SECONDS
        )
    )


def _is_stale(report, now: datetime) -> bool:
    since = report.started_at if report.status == ReportStatus.RUNNING else report.enqueued_at
    return since is None or now - since > stale_after()


def _send(*, schema: str, kind: str, period: date, job_id: str, countdown: float) -> None:
    # Imported here: tasks.py imports this module.
    from .tasks import generate_daily, generate_monthly

    task = generate_daily if kind == ReportKind.DAILY else generate_monthly
    # The schema header is set explicitly: on_commit may run after the tenant context is gone.
    with schema_context(schema):
        job_send(
            task,
            args=[period.isoformat()],
            task_id=job_id,
            countdown=countdown or None,
            headers={"_schema_name": schema},
        )


def _send_or_release(*, schema: str, kind: str, period: date, job_id: str, countdown, previous):
    """Send the job after commit; if it cannot be sent, undo what ``report_enqueue`` wrote (the
    job row, the report's pending claim) and raise: nothing waits for a message never sent."""
    try:
        _send(schema=schema, kind=kind, period=period, job_id=job_id, countdown=countdown)
    except BaseException:
        with schema_context(schema):
            _release(kind=kind, period=period, job_id=job_id, previous=previous)
        raise


@transaction.atomic
def _release(*, kind: str, period: date, job_id: str, previous: dict | None) -> None:
    report = (
        _model(kind).objects.select_for_update().filter(**{_period_field(kind): period}).first()
    )
    if report is not None and report.task_id == job_id:
        if previous is None:
            report.delete()  # created by this enqueue, for nothing
        else:
            for field, value in previous.items():
                setattr(report, field, value)
            report.save(update_fields=[*previous, "updated_at"])
    ReportJob.objects.filter(pk=job_id).delete()
    logger.warning("report %s %s: job %s not sent, claim released", kind, period, job_id)


@transaction.atomic
def report_enqueue(
    *,
    kind: str,
    period: date,
    force: bool = False,
    requested_by=None,
    countdown: float = 0,
    automatic: bool = False,
) -> tuple[ReportJob | None, bool]:
    """Queue one generation of the report of ``period`` in the current tenant.

    Returns ``(job, created)``: the new job, or the job already in flight for this report, or
    ``None`` when nothing needs doing (ready and not forced; failed too often for an automatic
    retry). The job is sent to the broker only when the transaction commits; if it cannot be
    sent, the job row and the report's claim are undone and ``JobQueueUnavailable`` (503) is
    raised from the commit.
    """
    now = timezone.now()
    report, created = (
        _model(kind).objects.select_for_update().get_or_create(**{_period_field(kind): period})
    )
    if report.status in IN_FLIGHT and report.task_id and not _is_stale(report, now):
        # The owner may be a synchronous run (generate_reports), which has no job row.
        return _job_or_none(report.task_id), False
    if report.status == ReportStatus.READY and not force:
        return None, False
    too_many = report.attempts >= MAX_AUTOMATIC_ATTEMPTS
    if automatic and report.status == ReportStatus.FAILED and too_many:
        return None, False
    job = ReportJob.objects.create(
        kind=kind, period=period, force=force, requested_by=requested_by, report_id=report.pk
    )
    previous = (
        None if created else {f: getattr(report, f) for f in ("status", "task_id", "enqueued_at")}
    )
    report.status = ReportStatus.PENDING
    report.task_id = str(job.pk)
    report.enqueued_at = now
    report.save(update_fields=["status", "task_id", "enqueued_at", "updated_at"])
    schema = connection.schema_name
    transaction.on_commit(
        lambda: _send_or_release(
            schema=schema,
            kind=kind,
            period=period,
            job_id=str(job.pk),
            countdown=countdown,
            previous=previous,
        )
    )
    return job, True


def report_regenerate(*, kind: str, period: date, requested_by=None) -> ReportJob:
    """A person asked for this report again: queue it (or return the job already running).

    One transaction with its audit row; the job is sent when it commits (report_enqueue)."""
    with transaction.atomic():
        job, created = report_enqueue(
            kind=kind, period=period, force=True, requested_by=requested_by
        )
        if job is None:
            # In flight under a synchronous run (generate_reports), which has no job to poll.
            raise ConflictError(
                _("This report is being generated right now; try again in a minute."),
                code="REPORT_IN_PROGRESS",
            )
        audit_record(
            action=AuditAction.REPORT_REGENERATE,
            target=Target(type=f"{kind}report", id=str(job.report_id), label=period.isoformat()),
            changes={"job": [None, str(job.pk)], "queued": [None, created]},
        )
    return job


def _job_or_none(job_id: str) -> ReportJob | None:
    try:
        return ReportJob.objects.filter(pk=uuid.UUID(str(job_id))).first()
    except ValueError:
        return None


def _job_update(job: ReportJob | None, **fields) -> None:
    if job is None:
        return
    for key, value in fields.items():
        setattr(job, key, value)
    job.save(update_fields=list(fields))


@transaction.atomic
def _claim(*, kind: str, period: date, claim_id: str, job: ReportJob | None, force: bool):
    """Take the report row for this run, or return (report, reason) when it must not run."""
    now = timezone.now()
    report, _created = (
        _model(kind).objects.select_for_update().get_or_create(**{_period_field(kind): period})
    )
    if job is not None and job.status in JOB_FINISHED:
        return report, "this job already finished (duplicate delivery)"
    owner = report.task_id
    held = report.status == ReportStatus.RUNNING or job is not None
    if (
        report.status in IN_FLIGHT
        and held
        and owner
        and owner != claim_id
        and not _is_stale(report, now)
    ):
        return report, f"another job ({owner}) owns this report"
    if report.status == ReportStatus.READY and not force and owner != claim_id:
        return report, "the report is already ready"
    report.status = ReportStatus.RUNNING
    report.task_id = claim_id
    report.started_at = now
    report.attempts += 1
    report.error = ""
    report.save(
        update_fields=["status", "task_id", "started_at", "attempts", "error", "updated_at"]
    )
    _job_update(job, status=JobStatus.RUNNING, started_at=now, report_id=report.pk)
    return report, None


def report_build(*, organization, kind: str, period: date) -> tuple[dict, bytes]:
    """Metrics and workbook bytes of one period (reads only; current tenant schema)."""
    first, last = report_period_dates(kind=kind, period=period)
    metrics = compute_metrics(organization, first, last, monthly=kind == ReportKind.MONTHLY)
    # The workbook is the organization's, in its language (DESIGN 13): a job has no request, and
    # a regenerate asked in another language must not change the sheets everyone reads.
    with translation.override(organization_language(organization)):
        title = _("Daily report") if kind == ReportKind.DAILY else _("Monthly report")
        content = build_workbook(
            organization, metrics, title=str(title), period=Period.of(organization, first, last)
        )
    return metrics, content


def report_generate(*, kind: str, period: date, job_id: str | None = None, force: bool = False):
    """Generate (or re-generate) one report in the current tenant; safe to run any number of
    times and to re-run after a crash. Returns the report, or ``None`` if this run was skipped.
    """
    organization = connection.tenant
    job = _job_or_none(job_id) if job_id else None
    if job is not None:
        force = force or job.force
    claim_id = str(job_id) if job_id else f"sync-{uuid.uuid4()}"
    report, reason = _claim(kind=kind, period=period, claim_id=claim_id, job=job, force=force)
    if reason:
        logger.info("report %s %s skipped: %s", kind, period, reason)
        if job is not None and job.status not in JOB_FINISHED:
            _job_update(job, status=JobStatus.SKIPPED, error=reason, finished_at=timezone.now())
        return None
    try:
        metrics, content = report_build(organization=organization, kind=kind, period=period)
        delay = getattr(settings, "REPORTS_TEST_DELAY_SECONDS", 0)
        if delay:
            # Test hook only (set from the environment in config/settings/test.py): widens the
            # window in which a test kills the worker mid-job.
            time.sleep(delay)
        # 1. The new workbook under a name of its own, before the row is touched: a failure
        #    or a kill from here on leaves the row on the previous workbook, still served.
        name = _store(kind=kind, period=period, content=content)
    except Exception as exc:
        _finish_failed(report_pk=report.pk, kind=kind, claim_id=claim_id, job=job, error=exc)
        raise
    try:
        report = _finish(
            report_pk=report.pk, kind=kind, claim_id=claim_id, job=job, metrics=metrics, name=name
        )
    except BaseException:
        _delete_file_quietly(name)
        raise
    if report is None:
        _delete_file_quietly(name)  # superseded: the new file is nobody's
    return report


@transaction.atomic
def _finish(*, report_pk, kind, claim_id, job, metrics, name: str):
    """2. Switch the row to the new workbook; 3. delete the previous one once that commits."""
    report = _model(kind).objects.select_for_update().get(pk=report_pk)
    now = timezone.now()
    if report.task_id != claim_id:
        # Our claim went stale and a later job took over: its result wins.
        _job_update(job, status=JobStatus.SKIPPED, error="superseded", finished_at=now)
        return None
    previous = report.file.name
    report.file.name = name
    report.metrics = metrics
    report.status = ReportStatus.READY
    report.generated_at = now
    report.error = ""
    report.save()
    _job_update(job, status=JobStatus.SUCCEEDED, finished_at=now, error="")
    if previous and previous != name:
        # Only once the row points at the new file for good; a kill before this leaves an
        # orphan file, never a row pointing at nothing.
        transaction.on_commit(lambda: _delete_file_quietly(previous))
    return report


@transaction.atomic
def _finish_failed(*, report_pk, kind, claim_id, job, error: Exception) -> None:
    report = _model(kind).objects.select_for_update().get(pk=report_pk)
    message = f"{type(error).__name__}: {error}"[:2000]
    if report.task_id == claim_id:
        report.status = ReportStatus.FAILED
        report.error = message
        report.save(update_fields=["status", "error", "updated_at"])
    _job_update(job, status=JobStatus.FAILED, error=message, finished_at=timezone.now())


# --- Beat dispatch (public schema) ------------------------------------------------------------


def daily_report_due_at(organization, day: date) -> datetime:
    """When the report of business date ``day`` is due: the business day has closed and the
    organization's ``report_time`` (local) has passed on the following calendar day."""
    close = business_day_bounds(organization, day)[1]
    at_report_time = datetime.combine(
        day + timedelta(days=1), organization.report_time, tzinfo=org_zone(organization)
    )
    return max(close, at_report_time)


def report_due_date(organization, now: datetime) -> date:
    """The latest business date whose report is due at ``now``."""
    day = business_date(organization, now) - timedelta(days=1)
    while daily_report_due_at(organization, day) > now:
        day -= timedelta(days=1)
    return day


def reports_dispatch(*, now: datetime | None = None) -> list[dict]:
    """Enqueue the due daily (and, after a month closes, monthly) report of every active
    organization, staggered. Runs in the public schema; returns what it enqueued."""
    now = now or timezone.now()
    stagger = getattr(
        settings, "REPORTS_DISPATCH_STAGGER_SECONDS", constants.DEFAULT_DISPATCH_STAGGER_SECONDS
    )
    sent = []
    for organization in organization_list_active().order_by("pk").iterator():
        day = report_due_date(organization, now)
        targets = [(ReportKind.DAILY, day)]
        # The month of the latest closed business date's predecessor month is closed for sure
        # once ``day`` is the last day of a month or later.
        month = (day + timedelta(days=1)).replace(day=1) - timedelta(days=1)
        targets.append((ReportKind.MONTHLY, month.replace(day=1)))
        with tenant_context(organization):
            for kind, period in targets:
                _first, last = report_period_dates(kind=kind, period=period)
                if business_day_bounds(organization, last)[1] <= organization.created_at:
                    continue  # the organization did not exist yet during that period
                _job, created = report_enqueue(
                    kind=kind, period=period, countdown=len(sent) * stagger, automatic=True
                )
                if created:
                    sent.append(
                        {"schema": organization.schema_name, "kind": kind, "period": period}
                    )
    return sent
