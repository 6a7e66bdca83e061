"""Regenerate with the broker unreachable: a quick 503 ``JOB_QUEUE_UNAVAILABLE``, no job row and
no claim left behind; once the broker is back the same call queues a job a real worker runs.

The broker is made unreachable for this process only (the Celery app's connection pools are
pointed at a closed port), so the shared Redis is never touched."""

import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from core.jobs import JobQueueUnavailable, job_send
from organizations.business_day import business_date
from reports.choices import JobStatus, ReportKind, ReportStatus
from reports.models import DailyReport, MonthlyReport, ReportJob
from reports.services import report_generate
from reports.tasks import generate_daily
from testing.factories import catalog_named

UNREACHABLE = "redis://127.0.0.1:1/0"
DAILY = "/api/v1/reports/daily/regenerate/"
MONTHLY = "/api/v1/reports/monthly/regenerate/"


def _reset_pools() -> None:
    # Forget the app's pools, without closing them: kombu keeps one pool per broker URL
    # (kombu.pools), so restoring the URL finds the original pool, open.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_at(url: str):
    before = app.conf.broker_url
    _reset_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        _reset_pools()
        app.conf.broker_url = before


def _post(org, url, body):
    started = time.monotonic()
    response = org.client("manager").post(url, body, format="json")
    return response, time.monotonic() - started


def test_job_send_fails_fast_without_a_broker(acme):
    started = time.monotonic()
    with broker_at(UNREACHABLE), pytest.raises(JobQueueUnavailable) as caught:
        job_send(generate_daily, args=["2026-01-14"], headers={"_schema_name": "acme"})
    assert time.monotonic() - started < 5
    assert caught.value.status_code == 503 and caught.value.code == "JOB_QUEUE_UNAVAILABLE"


def test_regenerate_with_the_broker_down_is_a_quick_503_and_leaves_nothing(
    committed_org, celery_worker_process, tmp_path, settings
):
    settings.MEDIA_ROOT = str(tmp_path)
    organization = committed_org.organization
    day = business_date(organization) - timedelta(days=2)
    month = (business_date(organization).replace(day=1) - timedelta(days=1)).replace(day=1)
    # The organization existed then (the API refuses periods before it).
    type(organization).objects.filter(pk=organization.pk).update(
        created_at=timezone.now() - timedelta(days=90)
    )
    catalog_named()
    # One report already ready: its row must come back exactly as it was.
    ready = report_generate(kind=ReportKind.DAILY, period=day - timedelta(days=1))
    ready_state = (ready.status, ready.task_id, ready.enqueued_at, ready.file.name)

    with broker_at(UNREACHABLE):
        calls = [
            _post(committed_org, DAILY, {"date": day.isoformat()}),
            _post(committed_org, DAILY, {"date": (day - timedelta(days=1)).isoformat()}),
            _post(committed_org, MONTHLY, {"month": f"{month:%Y-%m}"}),
            # A second call is refused the same way, not answered 202 for nothing.
            _post(committed_org, DAILY, {"date": day.isoformat()}),
        ]
    for response, seconds in calls:
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "JOB_QUEUE_UNAVAILABLE"
        assert set(response.json()["error"]) == {"code", "message", "details"}
        assert seconds < 5
    assert ReportJob.objects.count() == 0
    assert not DailyReport.objects.filter(business_date=day).exists()
    assert not MonthlyReport.objects.exists()
    again = DailyReport.objects.get(pk=ready.pk)
    assert (again.status, again.task_id, again.enqueued_at, again.file.name) == ready_state

    # The broker is back: the same call queues a job, and the worker runs it.
    response, _seconds = _post(committed_org, DAILY, {"date": day.isoformat()})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while ReportJob.objects.get(pk=job_id).status != JobStatus.SUCCEEDED:
        assert time.monotonic() < deadline, ReportJob.objects.get(pk=job_id).error
        time.sleep(0.3)
    assert DailyReport.objects.get(business_date=day).status == ReportStatus.READY
    connection.set_schema_to_public()
