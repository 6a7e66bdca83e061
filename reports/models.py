import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.fields import tenant_user_fk

from .choices import JobStatus, ReportKind, ReportStatus


class ReportBase(models.Model):
    """What daily and monthly reports share: metrics, the workbook, the generation state.

    ``task_id`` is the id of the job that owns the current (or last) generation; a redelivered
    job carries the same id, which is how it recognizes its own half-done work after a crash.
    """

    status = models.CharField(
        max_length=16,
        choices=ReportStatus.choices,
        default=ReportStatus.PENDING,
        verbose_name=_("status"),
    )
    metrics = models.JSONField(default=dict, blank=True, verbose_name=_("metrics"))
    # Storage names carry the schema: <schema>/reports/daily/2026-01-31.xlsx (set by services).
    file = models.FileField(max_length=300, blank=True, verbose_name=_("file"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    task_id = models.CharField(
        max_length=64, blank=True, verbose_name=pgettext_lazy("background job", "task ID")
    )
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    generated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("generated at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        abstract = True


class DailyReport(ReportBase):
    """The report of one closed business day of this organization (one row per date)."""

    business_date = models.DateField(unique=True, verbose_name=_("business date"))

    class Meta:
        ordering = ["-business_date"]
        verbose_name = _("daily report")
        verbose_name_plural = _("daily reports")

    def __str__(self) -> str:
        return f"daily {self.business_date} ({self.status})"


class MonthlyReport(ReportBase):
    """The report of one closed month of business days (``month`` is its first day)."""

    month = models.DateField(unique=True, verbose_name=_("month"))

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

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("ID")
    )
    kind = models.CharField(max_length=16, choices=ReportKind.choices, verbose_name=_("kind"))
    # The business date (daily) or the first day of the month (monthly).
    period = models.DateField(verbose_name=_("period"))
    force = models.BooleanField(default=False, verbose_name=_("force"))
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, verbose_name=_("status")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    report_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("report ID"))
    requested_by = tenant_user_fk(null=True, blank=True, verbose_name=_("requested by"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "period"])]
        verbose_name = _("report job")
        verbose_name_plural = _("report jobs")

    def __str__(self) -> str:
        return f"{self.kind} {self.period} {self.status}"
