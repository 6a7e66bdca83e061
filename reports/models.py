import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk

from .choices import JobStatus, ReportKind, ReportStatus


class ReportBase(models.Model):
    """What daily and monthly reports share: metrics, the workbook, the generation state.

    ``task_id`` is the id of the job that owns the current (or last) generation; a redelivered
    job carries the same id, which is how it recognizes its own half-done work after a crash.
    """

    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.PENDING
    )
    metrics = models.JSONField(default=dict, blank=True)
    # Storage names carry the schema: <schema>/reports/daily/2026-01-31.xlsx (set by services).
    file = models.FileField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DailyReport(ReportBase):
    """The report of one closed business day of this organization (one row per date)."""

    business_date = models.DateField(unique=True)

    class Meta:
        ordering = ["-business_date"]
        verbose_name = _("daily report")
        verbose_name_plural = _("daily reports")

    def __str__(self) -> str:
        return f"daily {self.business_date} ({self.status})"


class MonthlyReport(ReportBase):
    """The report of one closed month of business days (``month`` is its first day)."""

    month = models.DateField(unique=True)

    class Meta:
        ordering = ["-month"]
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")

    def __str__(self) -> str:
        return f"monthly {self.month:%Y-%m} ({self.status})"


class ReportJob(models.Model):
    """One enqueued generation (by the beat dispatcher, a regenerate request or a backfill).

    Its id is also the Celery task id, so a client polls ``/reports/jobs/<id>/`` for status.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    # The business date (daily) or the first day of the month (monthly).
    period = models.DateField()
    force = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    report_id = models.BigIntegerField(null=True, blank=True)
    requested_by = tenant_user_fk(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "period"])]
        verbose_name = _("report job")
        verbose_name_plural = _("report jobs")

    def __str__(self) -> str:
        return f"{self.kind} {self.period} {self.status}"
