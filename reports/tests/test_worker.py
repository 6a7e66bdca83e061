"""Beat dispatcher + a REAL Celery worker process: one report per organization and date in the
right schema, idempotent re-runs, and a worker SIGKILLed mid-job recovered by redelivery."""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from organizations.models import Organization
from reports.choices import JobStatus, ReportKind, ReportStatus
from reports.models import DailyReport, MonthlyReport, ReportJob
from reports.services import report_due_date, report_enqueue
from reports.tasks import dispatch_reports, generate_daily
from testing.factories import TaskSpec, catalog_named, tasks_bulk
from testing.orgs import make_org

pytestmark = pytest.mark.slow

VISIBILITY = 5


def _database_url() -> str:
    db = settings.DATABASES["default"]
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}@{db['HOST']}{port}/{db['NAME']}"


class Worker:
    """One `celery -A config worker --pool=solo` process on the test database and broker."""

    def __init__(self, log_dir: Path, media: Path, *, delay: float = 0):
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(media),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
            "REPORTS_TEST_DELAY_SECONDS": str(delay),
        }
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker",
             "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"reports-{uuid.uuid4().hex[:6]}@%h"],
            env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker died:\n{self.log.read_text()}")
            if "ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker not ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _reports(org) -> list[DailyReport]:
    with tenant_context(org):
        return list(DailyReport.objects.all())


def _history(org, *, day, quantities: list[int]) -> None:
    """One completed Cola task per quantity on business date ``day`` at local noon."""
    with tenant_context(org):
        cola = catalog_named().agents["Cola"]
        noon = datetime.combine(day, time_of_day(12, 0), tzinfo=ZoneInfo(org.timezone))
        tasks_bulk(
            org,
            [
                TaskSpec(noon + timedelta(minutes=i), "completed", [(cola, q)])
                for i, q in enumerate(quantities)
            ],
        )


@pytest.fixture
def worker_media(tmp_path, settings):
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    # Old messages from an earlier run must not reach this test's workers.
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    return media


def test_dispatch_worker_idempotency_and_kill_recovery(committed_org, worker_media, tmp_path):
    org_a = committed_org.organization
    other = make_org(f"w{uuid.uuid4().hex[:6]}", timezone="America/New_York")
    org_b = other.organization
    workers: list[Worker] = []
    try:
        # Both organizations existed long before the due business day.
        long_ago = timezone.now() - timedelta(days=60)
        Organization.objects.filter(pk__in=[org_a.pk, org_b.pk]).update(created_at=long_ago)
        org_a.refresh_from_db()
        org_b.refresh_from_db()
        now = timezone.now()
        day_a, day_b = report_due_date(org_a, now), report_due_date(org_b, now)
        _history(org_a, day=day_a, quantities=[1, 2, 3])  # 6 colas = 30.00
        _history(org_b, day=day_b, quantities=[4])  # 20.00
        connection.set_schema_to_public()

        workers.append(Worker(tmp_path, worker_media))
        # The beat task itself, run by the worker in the public schema.
        sent = dispatch_reports.apply_async().get(timeout=60)
        assert sent >= 4  # daily + monthly of both (other suites' orgs are not due)

        def ready(org):
            reports = _reports(org)
            return reports if reports and reports[0].status == ReportStatus.READY else None

        report_a = _wait(lambda: ready(org_a), 60, "org A report")[0]
        report_b = _wait(lambda: ready(org_b), 60, "org B report")[0]
        assert (report_a.business_date, report_b.business_date) == (day_a, day_b)
        assert (report_a.metrics["tasks_total"], report_a.metrics["revenue"]) == (3, "30.00")
        assert (report_b.metrics["tasks_total"], report_b.metrics["revenue"]) == (1, "20.00")
        assert report_b.metrics["period"]["timezone"] == "America/New_York"
        assert report_a.file.name.startswith(f"{org_a.schema_name}/reports/daily/{day_a}-")
        assert report_b.file.name.startswith(f"{org_b.schema_name}/reports/daily/{day_b}-")
        wb = load_workbook(default_storage.open(report_a.file.name, "rb"))
        assert len(list(wb["Tasks"].iter_rows(min_row=2))) == 3
        for org in (org_a, org_b):
            with tenant_context(org):
                _wait(
                    lambda: MonthlyReport.objects.filter(status=ReportStatus.READY).count() == 1,
                    60,
                    "monthly report",
                )
                assert ReportJob.objects.filter(status=JobStatus.SUCCEEDED).count() == 2

        # Re-running: a second beat enqueues nothing; a duplicate job message changes nothing.
        assert dispatch_reports.apply_async().get(timeout=60) == 0
        with tenant_context(org_a):
            duplicate = generate_daily.apply_async(args=[day_a.isoformat()])
        assert duplicate.get(timeout=60) is None
        again = _reports(org_a)
        assert len(again) == 1
        assert again[0].generated_at == report_a.generated_at
        assert again[0].metrics == report_a.metrics
        assert len(_reports(org_b)) == 1

        # Kill recovery: a slow worker takes a regenerate job and is SIGKILLed mid-job.
        workers.pop().stop()
        slow = Worker(tmp_path, worker_media, delay=30)
        workers.append(slow)
        with tenant_context(org_a):
            job, created = report_enqueue(kind=ReportKind.DAILY, period=day_a, force=True)
        assert created
        claimed_at = time.monotonic()

        def running():
            with tenant_context(org_a):
                r = DailyReport.objects.get(pk=report_a.pk)
                return r.status == ReportStatus.RUNNING and r.task_id == str(job.pk)

        _wait(running, 30, "the slow worker to claim the job")
        slow.kill()
        workers.pop()
        # The redis broker redelivers an unacked message once the visibility timeout passed;
        # a starting worker sweeps for such messages immediately.
        time.sleep(max(0.0, VISIBILITY + 1 - (time.monotonic() - claimed_at)))
        workers.append(Worker(tmp_path, worker_media))

        def recovered():
            with tenant_context(org_a):
                return ReportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED

        _wait(recovered, 60, "the redelivered job to finish")
        final = _reports(org_a)
        assert len(final) == 1
        assert final[0].status == ReportStatus.READY
        assert final[0].generated_at > report_a.generated_at
        assert final[0].attempts == 3  # first run, killed run, redelivered run
        assert final[0].metrics == report_a.metrics
        # The rebuilt workbook replaced the first one: row on the new file, old file gone.
        assert final[0].file.name != report_a.file.name
        assert default_storage.exists(final[0].file.name)
        assert not default_storage.exists(report_a.file.name)
    finally:
        for w in workers:
            w.stop()
        connection.set_schema_to_public()
        Organization.objects.get(pk=org_b.pk).delete(force_drop=True)
