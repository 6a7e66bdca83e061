from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ReportStatus(models.TextChoices):
    # A report's states read differently from a task's in Chinese: their own context.
    PENDING = "pending", pgettext_lazy("report status", "Pending")
    RUNNING = "running", _("Running")
    READY = "ready", pgettext_lazy("report status", "Ready")
    FAILED = "failed", _("Failed")


class ReportKind(models.TextChoices):
    DAILY = "daily", _("Daily")
    MONTHLY = "monthly", _("Monthly")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")


JOB_FINISHED = (JobStatus.SUCCEEDED, JobStatus.SKIPPED, JobStatus.FAILED)
