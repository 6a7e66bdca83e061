"""The export job's own guarantees, run in this process on committed data (the job reads in a
REPEATABLE READ transaction of its own, which a test transaction cannot host): idempotent per
job (a duplicate delivery does nothing, a redelivery after a kill rebuilds the file, a job
killed too often fails), progress visible to pollers while the export's snapshot is open, and
the hourly sweep that deletes expired and orphaned archives."""

import io
import shutil
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from exports import services
from exports.choices import ExportStatus
from exports.models import ExportJob
from exports.services import export_expire, export_run, export_storage_name
from exports.tasks import exports_expire
from tasks.services import task_create
from testing.factories import agent_make, category_make


@pytest.fixture
def org(committed_org):
    with committed_org.active():
        category = category_make(name="Hot")
        soup = agent_make(name="Soup", category=category, price=Decimal("9.00"))
        for _ in range(5):
            task_create(
                user=committed_org.users["staff"],
                items=[{"agent_id": soup.pk, "quantity": 1, "notes": ""}],
            )
    yield committed_org
    connection.set_schema_to_public()
    shutil.rmtree(Path(settings.MEDIA_ROOT) / committed_org.schema, ignore_errors=True)


def _tasks_in(name: str) -> int:
    with default_storage.open(name, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    return len(archive.read("tasks.jsonl").splitlines())


def test_a_duplicate_delivery_does_nothing_and_a_redelivery_rebuilds(org):
    with org.active():
        job = ExportJob.objects.create()
        done = export_run(job_id=job.pk)
        assert done.status == ExportStatus.DONE and done.attempts == 1
        name = export_storage_name(schema=org.schema, job_id=job.pk)
        assert done.file == name and _tasks_in(name) == 5
        modified = default_storage.get_modified_time(name)

        # The same message delivered twice: the finished job is left alone.
        assert export_run(job_id=job.pk) is None
        job.refresh_from_db()
        assert (job.status, job.attempts) == (ExportStatus.DONE, 1)
        assert default_storage.get_modified_time(name) == modified

        # A worker killed mid-export: the row says running, a half-written file may be there.
        killed = ExportJob.objects.create(status=ExportStatus.RUNNING, attempts=1)
        partial = export_storage_name(schema=org.schema, job_id=killed.pk)
        default_storage.save(partial, ContentFile(b"PK\x03\x04 half a zip"))
        rebuilt = export_run(job_id=killed.pk)
        assert (rebuilt.status, rebuilt.attempts, rebuilt.file) == ("done", 2, partial)
        assert _tasks_in(partial) == 5  # replaced, not saved under another name next to it
        files = set(default_storage.listdir(f"{org.schema}/exports/")[1])
        assert files == {f"{job.pk}.zip", f"{killed.pk}.zip"}

        # Killed every time: it fails for good instead of taking the next worker down too.
        doomed = ExportJob.objects.create(status=ExportStatus.RUNNING, attempts=3)
        assert export_run(job_id=doomed.pk) is None
        doomed.refresh_from_db()
        assert doomed.status == ExportStatus.FAILED and "3 attempts" in doomed.error

        # A job row that does not exist (a message for a purged organization, say).
        assert export_run(job_id=10**12) is None


def test_progress_is_visible_to_pollers_while_the_export_reads(org, monkeypatch):
    monkeypatch.setattr(services.constants, "PROGRESS_EVERY", 2)
    seen: list[tuple] = []
    original = services._Progress._write
    poller = connections.create_connection(DEFAULT_DB_ALIAS)

    def write_and_poll(self, rows_total=None):
        original(self, rows_total)
        # Another connection, as the API's GET would: the export's own transaction is open.
        with poller.cursor() as cursor:
            cursor.execute(
                f'SELECT status, rows_written, rows_total FROM "{org.schema}".exports_exportjob '
                "WHERE id = %s",
                [self.job_id],
            )
            seen.append(cursor.fetchone())

    monkeypatch.setattr(services._Progress, "_write", write_and_poll)
    try:
        with org.active():
            job = ExportJob.objects.create()
            done = export_run(job_id=job.pk)
    finally:
        poller.close()
    total = done.rows_total
    assert total == done.rows_written == sum(done.tables.values()) > 10
    assert seen[0] == ("running", 0, total)
    middle = [written for status, written, _total in seen if status == "running"]
    assert any(0 < written < total for written in middle)
    assert middle == sorted(middle)


def test_the_sweep_deletes_expired_and_orphaned_archives_only(org):
    now = timezone.now()
    with org.active():
        expired = export_run(job_id=ExportJob.objects.create().pk)
        fresh = export_run(job_id=ExportJob.objects.create().pk)
        ExportJob.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(minutes=1))
        # A file no row offers (a job that failed after saving it, a delete that failed).
        failed = ExportJob.objects.create(status=ExportStatus.FAILED)
        orphan = default_storage.save(
            export_storage_name(schema=org.schema, job_id=failed.pk), ContentFile(b"zip")
        )
        # A job at work: its file may appear any moment and must not be swept.
        running = ExportJob.objects.create(status=ExportStatus.RUNNING, attempts=1)
        in_progress = default_storage.save(
            export_storage_name(schema=org.schema, job_id=running.pk), ContentFile(b"zip")
        )

        assert export_expire(now=now) == 1
        expired.refresh_from_db()
        assert (expired.status, expired.file) == (ExportStatus.EXPIRED, "")
        assert not default_storage.exists(export_storage_name(schema=org.schema, job_id=expired.pk))
        assert not default_storage.exists(orphan)
        assert default_storage.exists(fresh.file) and default_storage.exists(in_progress)
        fresh.refresh_from_db()
        assert fresh.status == ExportStatus.DONE
        # Nothing left to do: a second sweep changes nothing.
        assert export_expire(now=now) == 0
        assert default_storage.exists(fresh.file)


def test_the_hourly_beat_job_sweeps_every_organization(org):
    with org.active():
        done = export_run(job_id=ExportJob.objects.create().pk)
        ExportJob.objects.filter(pk=done.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    connection.set_schema_to_public()

    assert exports_expire() >= 1  # the beat's entry point, run here in the public schema

    assert not default_storage.exists(done.file)
    with org.active():
        assert ExportJob.objects.get(pk=done.pk).status == ExportStatus.EXPIRED
