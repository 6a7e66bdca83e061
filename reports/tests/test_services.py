"""Dispatch rules, claim/stale/failure handling and the generate_reports command (in-process;
the Celery path with a real worker is test_worker.py)."""

from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from organizations.models import Organization
from reports import xlsx
from reports.choices import JobStatus, ReportKind, ReportStatus
from reports.models import DailyReport, MonthlyReport, ReportJob
from reports.services import (
    MAX_AUTOMATIC_ATTEMPTS,
    report_due_date,
    report_enqueue,
    report_generate,
    reports_dispatch,
)
from testing.orgs import public_schema

from .conftest import known_history

SH = ZoneInfo("Asia/Shanghai")
D = date(2026, 1, 14)


def _backdate(*orgs):
    Organization.objects.filter(pk__in=[o.organization.pk for o in orgs]).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    for o in orgs:
        o.organization.refresh_from_db()


def test_due_date_waits_for_close_and_report_time(acme):
    org = acme.organization
    assert report_due_date(org, datetime(2026, 1, 15, 4, 59, tzinfo=SH)) == date(2026, 1, 13)
    assert report_due_date(org, datetime(2026, 1, 15, 5, 0, tzinfo=SH)) == D
    org.report_time = time(6, 30)
    assert report_due_date(org, datetime(2026, 1, 15, 6, 29, tzinfo=SH)) == date(2026, 1, 13)
    assert report_due_date(org, datetime(2026, 1, 15, 6, 30, tzinfo=SH)) == D


def test_dispatch_enqueues_once_per_org_and_date(
    acme, globex, nyc, django_capture_on_commit_callbacks
):
    _backdate(acme, globex, nyc)
    Organization.objects.filter(pk=nyc.organization.pk).update(is_active=False)
    now = datetime(2026, 1, 15, 5, 30, tzinfo=SH)
    with django_capture_on_commit_callbacks() as callbacks:
        sent = reports_dispatch(now=now)
    daily = sorted((s["schema"], s["period"]) for s in sent if s["kind"] == ReportKind.DAILY)
    assert daily == [("acme", D), ("globex", D)]  # nyc is suspended
    monthly = {(s["schema"], s["period"]) for s in sent if s["kind"] == ReportKind.MONTHLY}
    assert monthly == {("acme", date(2025, 12, 1)), ("globex", date(2025, 12, 1))}
    assert len(callbacks) == 4  # one broker message per job, sent after commit
    # A second (or duplicate) beat finds the jobs in flight and enqueues nothing.
    with django_capture_on_commit_callbacks() as callbacks:
        assert reports_dispatch(now=now + timedelta(minutes=15)) == []
    assert callbacks == []
    assert DailyReport.objects.get().status == ReportStatus.PENDING
    assert ReportJob.objects.filter(kind=ReportKind.DAILY).count() == 1


def test_dispatch_on_the_first_of_the_month_enqueues_the_closed_month(acme, globex, nyc):
    _backdate(acme)
    Organization.objects.exclude(pk=acme.organization.pk).update(is_active=False)
    sent = reports_dispatch(now=datetime(2026, 2, 1, 5, 15, tzinfo=SH))
    assert {(s["kind"], s["period"]) for s in sent} == {
        (ReportKind.DAILY, date(2026, 1, 31)),
        (ReportKind.MONTHLY, date(2026, 1, 1)),
    }
    Organization.objects.update(is_active=True)


def test_dispatch_skips_periods_before_the_organization_existed(acme, globex, nyc):
    Organization.objects.exclude(pk=acme.organization.pk).update(is_active=False)
    assert reports_dispatch(now=acme.organization.created_at + timedelta(hours=1)) == []
    Organization.objects.update(is_active=True)


def test_ready_report_is_not_redispatched(acme, media, globex, nyc):
    _backdate(acme)
    Organization.objects.exclude(pk=acme.organization.pk).update(is_active=False)
    report_generate(kind=ReportKind.DAILY, period=D)
    report_generate(kind=ReportKind.MONTHLY, period=date(2025, 12, 1))
    assert reports_dispatch(now=datetime(2026, 1, 15, 6, 0, tzinfo=SH)) == []


def test_running_report_of_another_job_is_left_alone_until_stale(acme, media):
    known_history(acme)
    report = DailyReport.objects.create(
        business_date=D, status=ReportStatus.RUNNING, task_id="other", started_at=timezone.now()
    )
    job, created = report_enqueue(kind=ReportKind.DAILY, period=D, force=True)
    assert created is False and job is None  # in flight under a job id with no job row
    mine = ReportJob.objects.create(kind=ReportKind.DAILY, period=D)
    assert report_generate(kind=ReportKind.DAILY, period=D, job_id=str(mine.pk)) is None
    mine.refresh_from_db()
    assert mine.status == JobStatus.SKIPPED and "other" in mine.error
    # An hour later the claim is stale: the next job takes over and finishes.
    DailyReport.objects.filter(pk=report.pk).update(started_at=timezone.now() - timedelta(hours=1))
    takeover = ReportJob.objects.create(kind=ReportKind.DAILY, period=D)
    done = report_generate(kind=ReportKind.DAILY, period=D, job_id=str(takeover.pk))
    assert done.status == ReportStatus.READY and done.metrics["revenue"] == "143.50"


def test_failure_is_recorded_and_retried_a_bounded_number_of_times(acme, media, monkeypatch):
    known_history(acme)
    _backdate(acme)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xlsx._TaskRows, "rows", broken)
    job, _ = report_enqueue(kind=ReportKind.DAILY, period=D, automatic=True)
    with pytest.raises(RuntimeError):
        report_generate(kind=ReportKind.DAILY, period=D, job_id=str(job.pk))
    report = DailyReport.objects.get(business_date=D)
    job.refresh_from_db()
    assert report.status == ReportStatus.FAILED and "disk full" in report.error
    assert job.status == JobStatus.FAILED and "disk full" in job.error
    DailyReport.objects.filter(pk=report.pk).update(attempts=MAX_AUTOMATIC_ATTEMPTS)
    assert report_enqueue(kind=ReportKind.DAILY, period=D, automatic=True) == (None, False)
    # A person can still force it.
    assert report_enqueue(kind=ReportKind.DAILY, period=D, force=True)[1] is True


# --- the management command ------------------------------------------------------------------


def _run(*args) -> str:
    """The command, started from the public schema as an operator would; the test's schema is
    the active one again afterwards."""
    out = StringIO()
    with public_schema():
        call_command("generate_reports", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_command_generates_one_day_and_a_range(acme, media):
    known_history(acme)
    assert "1 report(s) generated" in _run("--org", "acme", "--date", "2026-01-14")
    assert "3 report(s) generated" in _run(
        "--org", "acme", "--from", "2026-01-13", "--to", "2026-01-15"
    )
    assert "1 report(s) generated" in _run("--org", "acme", "--month", "2026-01")
    assert DailyReport.objects.count() == 3
    assert DailyReport.objects.get(business_date=D).metrics["revenue"] == "143.50"
    assert MonthlyReport.objects.get().metrics["tasks_total"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nope", "--date", "2026-01-14"], "Unknown organization 'nope'"),
        (["--org", "acme", "--date", "2026-02-30"], "Invalid --date"),
        (["--org", "acme", "--month", "2026-13"], "Invalid --month"),
        (["--org", "acme", "--from", "2026-01-10"], "Give both --from and --to"),
        (["--org", "acme", "--from", "2026-01-10", "--to", "2026-01-01"], "--from must be"),
        (["--org", "acme", "--date", "2999-01-01"], "has not closed yet"),
        (["--org", "acme", "--month", "2999-01"], "has not closed yet"),
    ],
)
def test_command_errors_say_what_to_do(acme, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert not DailyReport.objects.exists()
