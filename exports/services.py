"""Writes of the exports app: request an export, build it (the Celery job's work), expire it.

The archive is built in bounded memory: every table is read through a server-side cursor
(``.iterator(chunk_size=CHUNK_SIZE)``) and each row is written at once into a zip entry opened
for writing (``ZipFile.open(name, "w")``) on a temporary file; report workbooks are copied from
storage a megabyte at a time. Only then is the file saved to storage, under
``<schema>/exports/<job id>.zip``. What a run holds is one chunk of rows and the zip's central
directory (a few hundred bytes per file), whatever the organization's size (docs/performance.md).

All tables are read in one REPEATABLE READ, READ ONLY transaction: the files agree with each
other (no item without its task) even while the organization keeps working. Progress is
written to the job row meanwhile over a second connection, so a poller sees it before the
export's own transaction ends.

Idempotent per job: a job claims its row (``running``, ``attempts`` + 1); a redelivered message
(worker killed, acks late) claims it again and rebuilds the same file name from scratch; a
duplicate delivery of a finished job does nothing; a job killed ``MAX_ATTEMPTS`` times fails.
"""

import json
import logging
import os
import tempfile
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from audit.choices import AuditAction, PlatformAction
from audit.services import Target, audit_record, platform_audit_record
from core.exceptions import ApplicationError, NotFoundError
from core.jobs import JobQueueUnavailable, job_send

from . import constants
from .choices import FINISHED, IN_FLIGHT, ExportRequester, ExportStatus
from .models import ExportJob
from .tables import EXPORT_TABLES

logger = logging.getLogger(__name__)


class ExportExpired(ApplicationError):
    status_code = 410
    code = "EXPORT_EXPIRED"
    default_message = _("This export's download link has expired. Request a new export.")


class ExportNotReady(ApplicationError):
    status_code = 409
    code = "EXPORT_NOT_READY"
    default_message = _("This export has no file to download yet.")


def export_storage_name(*, schema: str, job_id: int) -> str:
    """``<schema>/exports/<job id>.zip``: under the organization's storage prefix, so the purge
    of the organization deletes it with the rest of its files."""
    return f"{schema}/exports/{job_id}.zip"


def export_link_ttl() -> timedelta:
    return timedelta(hours=settings.EXPORT_LINK_TTL_HOURS)


def export_stale_after() -> timedelta:
    """A queued or running job older than this is not waited for by a new request (its message
    was lost, its worker died for good): twice the job's hard time limit."""
    return timedelta(seconds=2 * settings.EXPORT_TIME_LIMIT_SECONDS)


# --- request ---------------------------------------------------------------------------------


def export_request(*, user=None, operator=None) -> tuple[ExportJob, bool]:
    """Queue an export of the current organization for its owner (``user``) or a platform
    operator (``operator``, from the admin). Returns ``(job, created)``: the export already
    queued or running is returned instead of a second one.

    Audited in the same transaction: ``export.create`` in the organization's trail for the
    owner, ``organization.export`` in the platform audit for an operator. The job is sent once
    that transaction commits; a broker that cannot be reached fails the job at once (its row
    says why, nothing waits for a message never sent) and raises ``JobQueueUnavailable``.
    """
    organization = connection.tenant
    schema = connection.schema_name
    now = timezone.now()
    with transaction.atomic():
        # One request at a time per organization decides whether an export is in flight.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"export:{schema}"])
        in_flight = ExportJob.objects.filter(status__in=IN_FLIGHT)
        # Lost or dead for good: failed, so that nobody keeps polling them.
        in_flight.filter(created_at__lt=now - export_stale_after()).update(
            status=ExportStatus.FAILED, error="abandoned: no worker finished it", finished_at=now
        )
        running = in_flight.order_by("-created_at").first()
        if running is not None:
            return running, False
        via = ExportRequester.OPERATOR if operator is not None else ExportRequester.OWNER
        who = operator if operator is not None else user
        job = ExportJob.objects.create(
            requested_via=via,
            requested_by=user if operator is None else None,
            requested_by_label=(getattr(who, "email", "") or "")[:254],
            created_at=now,
        )
        if operator is not None:
            platform_audit_record(
                action=PlatformAction.ORGANIZATION_EXPORT,
                organization=organization,
                changes={"job": [None, job.pk]},
                actor=operator,
            )
        else:
            audit_record(
                action=AuditAction.EXPORT_CREATE,
                target=Target(type="export", id=str(job.pk), label=organization.slug),
                changes={"job": [None, job.pk]},
                actor=user,
            )
        transaction.on_commit(lambda: _send_or_fail(schema=schema, job_id=job.pk))
    return job, True


def _send_or_fail(*, schema: str, job_id: int) -> None:
    from .tasks import export_organization  # tasks.py imports this module

    with schema_context(schema):
        try:
            job_send(export_organization, args=[job_id], headers={"_schema_name": schema})
        except JobQueueUnavailable as exc:
            ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(
                status=ExportStatus.FAILED,
                error=f"{exc.code}: {exc.message}",
                finished_at=timezone.now(),
            )
            logger.warning("export %s of %s not sent: the broker is unreachable", job_id, schema)
            raise


def access_export_job(*, job_id) -> ExportJob:
    """The export job with this id in the current organization, or a 404 in the envelope."""
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFoundError(_("Export not found."), code="EXPORT_NOT_FOUND")
    return job


def export_download_name(*, job: ExportJob, now: datetime | None = None) -> str:
    """The storage name of a finished export's archive, while its link is valid.

    ``EXPORT_NOT_READY`` (409) before it is done; ``EXPORT_EXPIRED`` (410) once the link has
    expired, and the file is deleted then if the hourly clean-up has not yet done it."""
    now = now or timezone.now()
    if job.status == ExportStatus.EXPIRED or (
        job.status == ExportStatus.DONE and job.expires_at and job.expires_at <= now
    ):
        export_expire_one(job_id=job.pk, now=now)
        raise ExportExpired(details={"expired_at": job.expires_at})
    if job.status != ExportStatus.DONE or not job.file:
        raise ExportNotReady(details={"status": job.status})
    return job.file


# --- the job's work --------------------------------------------------------------------------


@transaction.atomic
def _claim(*, job_id: int) -> ExportJob | None:
    job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        logger.warning("export %s: no such job in %s", job_id, connection.schema_name)
        return None
    if job.status in FINISHED:
        logger.info("export %s already %s (duplicate delivery)", job_id, job.status)
        return None
    if job.attempts >= constants.MAX_ATTEMPTS:
        job.status = ExportStatus.FAILED
        job.error = f"gave up after {job.attempts} attempts (the worker died each time)"
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        return None
    job.status = ExportStatus.RUNNING
    job.attempts += 1
    job.started_at = timezone.now()
    job.rows_written = job.rows_total = 0
    job.error = ""
    job.save(
        update_fields=["status", "attempts", "started_at", "rows_written", "rows_total", "error"]
    )
    return job


def export_run(*, job_id: int) -> ExportJob | None:
    """Build and store the archive of one export job, in the current tenant schema. Returns
    the finished job, or None when this delivery had nothing to do (finished, unknown, or
    superseded by a later attempt)."""
    job = _claim(job_id=job_id)
    if job is None:
        return None
    name = export_storage_name(schema=connection.schema_name, job_id=job.pk)
    try:
        name, size, counts = _build_and_store(job=job, name=name)
    except BaseException as exc:  # a soft time limit too: the row must not stay "running"
        _fail(job=job, error=exc)
        raise
    return _finish(job=job, name=name, size=size, counts=counts)


def _build_and_store(*, job: ExportJob, name: str) -> tuple[str, int, dict]:
    with tempfile.TemporaryFile(prefix="cc-export-", dir=settings.EXPORT_TMP_DIR or None) as tmp:
        counts = export_write_archive(fileobj=tmp, organization=connection.tenant, job=job)
        size = tmp.seek(0, os.SEEK_END)
        tmp.seek(0)
        # A previous attempt's file (killed after saving): replaced, not kept next to it.
        if default_storage.exists(name):
            default_storage.delete(name)
        saved = default_storage.save(name, File(tmp, name=os.path.basename(name)))
    return saved, size, counts


@transaction.atomic
def _finish(*, job: ExportJob, name: str, size: int, counts: dict) -> ExportJob | None:
    locked = ExportJob.objects.select_for_update().get(pk=job.pk)
    if locked.attempts != job.attempts or locked.status != ExportStatus.RUNNING:
        # A later delivery took the job over (ours was presumed dead): its file wins.
        return None
    now = timezone.now()
    locked.status = ExportStatus.DONE
    locked.file = name
    locked.size_bytes = size
    locked.tables = counts
    locked.rows_written = locked.rows_total = sum(counts.values())
    locked.finished_at = now
    locked.expires_at = now + export_link_ttl()
    locked.save()
    return locked


def _fail(*, job: ExportJob, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}"[:2000]
    ExportJob.objects.filter(pk=job.pk, attempts=job.attempts).update(
        status=ExportStatus.FAILED, error=message, finished_at=timezone.now()
    )
    # The task re-raises: Celery logs the traceback (and Sentry gets it).
    logger.error("export %s failed: %s", job.pk, message)


def _json_default(value):
    # Full precision times (DjangoJSONEncoder cuts microseconds), money as strings.
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot export a {type(value).__name__}")


def _line(row: dict) -> bytes:
    return json.dumps(row, default=_json_default, ensure_ascii=False).encode() + b"\n"


class _Progress:
    """Writes ``rows_written`` to the job row every ``PROGRESS_EVERY`` rows, over a connection
    of its own (the export's reads are one long transaction a poller cannot see into)."""

    def __init__(self, *, job: ExportJob, total: int):
        self.job_id, self.attempt = job.pk, job.attempts
        self.written = 0
        self.next_at = constants.PROGRESS_EVERY
        qn = connection.ops.quote_name
        self.table = f"{qn(connection.schema_name)}.{qn(ExportJob._meta.db_table)}"
        self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
        self._write(rows_total=total)

    def add(self, rows: int = 1) -> None:
        self.written += rows
        if self.written >= self.next_at:
            self.next_at = self.written + constants.PROGRESS_EVERY
            self._write()

    def flush(self) -> None:
        self._write()

    def _write(self, rows_total: int | None = None) -> None:
        sets, params = ["rows_written = %s"], [self.written]
        if rows_total is not None:
            sets.append("rows_total = %s")
            params.append(rows_total)
        with self.conn.cursor() as cursor:
            # The job table's quoted name and fixed column names; values are parameters.
            cursor.execute(
                f"UPDATE {self.table} SET {', '.join(sets)} "  # noqa: S608
                "WHERE id = %s AND attempts = %s",
                [*params, self.job_id, self.attempt],
            )

    def close(self) -> None:
        self.conn.close()


def _report_files() -> list[tuple[str, str]]:
    """``(storage name, name in the archive)`` of every stored report workbook."""
    from reports.models import DailyReport, MonthlyReport

    files = []
    for row in (
        DailyReport.objects.exclude(file="")
        .order_by("business_date")
        .values("file", "business_date")
    ):
        files.append((row["file"], f"reports/daily/{row['business_date']:%Y-%m-%d}.xlsx"))
    for row in MonthlyReport.objects.exclude(file="").order_by("month").values("file", "month"):
        files.append((row["file"], f"reports/monthly/{row['month']:%Y-%m}.xlsx"))
    return files


def _manifest(*, organization, job: ExportJob, counts: dict, reports: list[str]) -> dict:
    return {
        "format": constants.FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "job_id": job.pk,
        "organization": {
            field: getattr(organization, field)
            for field in ("name", "slug", "schema_name", "timezone", "currency", "language")
        },
        "files": {name: {"rows": rows} for name, rows in counts.items()},
        "reports": reports,
    }


def export_write_archive(*, fileobj, organization, job: ExportJob) -> dict:
    """Write the zip of the current organization into ``fileobj`` (a seekable binary file);
    returns ``{file name: rows}``. Streams: memory does not grow with the row count."""
    import zipfile

    counts: dict[str, int] = {}
    reports_written: list[str] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            # First statement of the transaction: every table below is read from one snapshot.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        querysets = [(table, table.queryset(organization)) for table in EXPORT_TABLES]
        total = sum(queryset.count() for _table, queryset in querysets)
        report_files = _report_files()
        progress = _Progress(job=job, total=total)
        try:
            with zipfile.ZipFile(
                fileobj, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True
            ) as archive:
                for table, queryset in querysets:
                    rows = 0
                    with archive.open(table.file, "w", force_zip64=True) as entry:
                        for row in queryset.iterator(chunk_size=constants.CHUNK_SIZE):
                            entry.write(_line(row))
                            rows += 1
                            progress.add()
                    counts[table.file] = rows
                    progress.flush()
                for stored, arcname in report_files:
                    try:
                        source = default_storage.open(stored, "rb")
                    except FileNotFoundError:
                        logger.warning("export %s: report file %s is missing", job.pk, stored)
                        continue
                    with source, archive.open(arcname, "w", force_zip64=True) as entry:
                        while chunk := source.read(constants.COPY_BUFFER):
                            entry.write(chunk)
                    reports_written.append(arcname)
                manifest = _manifest(
                    organization=organization, job=job, counts=counts, reports=reports_written
                )
                archive.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
        finally:
            progress.close()
    return counts


# --- expiry ----------------------------------------------------------------------------------


def export_expire_one(*, job_id: int, now: datetime | None = None) -> bool:
    """Expire one export whose link has passed: delete its file, mark it ``expired``. True if
    it was expired by this call."""
    now = now or timezone.now()
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, status=ExportStatus.DONE, expires_at__lte=now)
            .first()
        )
        if job is None:
            return False
        name = job.file
        job.status = ExportStatus.EXPIRED
        job.file = ""
        job.save(update_fields=["status", "file"])
        # After the commit: a row that still names the file never outlives the file's deletion
        # the other way round (a failed delete leaves an orphan, found by the next sweep).
        transaction.on_commit(lambda: _delete_quietly(name))
    return True


def export_expire(*, now: datetime | None = None) -> int:
    """Expire every export of the current organization whose link has passed, and delete the
    archives no job row offers for download any more (a failed delete, a job that failed after
    saving its file). The hourly beat runs it for every organization."""
    now = now or timezone.now()
    ids = list(
        ExportJob.objects.filter(status=ExportStatus.DONE, expires_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    expired = sum(export_expire_one(job_id=job_id, now=now) for job_id in ids)
    _orphans_delete()
    return expired


def _orphans_delete() -> int:
    prefix = f"{connection.schema_name}/exports/"
    try:
        _directories, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    offered = ExportJob.objects.filter(status=ExportStatus.DONE).values_list("file", flat=True)
    keep = {os.path.basename(name) for name in offered}
    # A job at work may be saving its file right now: its name is not an orphan.
    keep |= {
        f"{pk}.zip"
        for pk in ExportJob.objects.filter(status__in=IN_FLIGHT).values_list("pk", flat=True)
    }
    orphans = [name for name in files if name not in keep]
    for name in orphans:
        _delete_quietly(f"{prefix}{name}")
    return len(orphans)


def _delete_quietly(name: str) -> None:
    if not name:
        return
    try:
        default_storage.delete(name)
    except Exception:
        logger.warning("could not delete export file %s", name, exc_info=True)
