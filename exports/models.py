from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import tenant_user_fk

from .choices import ExportRequester, ExportStatus


class ExportJob(models.Model):
    """One export of this organization's data: a zip of JSON Lines files and report workbooks
    built by a Celery job (``exports.tasks.export_organization``), stored under
    ``<schema>/exports/<id>.zip`` and downloadable until ``expires_at`` (DESIGN 12).

    The row lives in the tenant schema, next to the data it exports: the owner's API reads it
    in its own schema, an operator's admin through ``tenant_context``, and a purge drops it
    with the schema (the file goes with the ``<schema>/`` storage prefix)."""

    status = models.CharField(
        max_length=16,
        choices=ExportStatus.choices,
        default=ExportStatus.QUEUED,
        verbose_name=_("status"),
    )
    requested_via = models.CharField(
        max_length=16,
        choices=ExportRequester.choices,
        default=ExportRequester.OWNER,
        verbose_name=_("requested via"),
    )
    # The owner who asked (null for an operator: operators are not members, their email is in
    # ``requested_by_label`` and in the platform audit).
    requested_by = tenant_user_fk(null=True, blank=True, verbose_name=_("requested by"))
    requested_by_label = models.CharField(
        max_length=254, blank=True, default="", verbose_name=_("requested by label")
    )
    rows_total = models.BigIntegerField(default=0, verbose_name=_("rows total"))
    rows_written = models.BigIntegerField(default=0, verbose_name=_("rows written"))
    # ``{"tasks.jsonl": 1234, ...}``: the rows of each file, once written.
    tables = models.JSONField(default=dict, blank=True, verbose_name=_("tables"))
    file = models.CharField(max_length=300, blank=True, default="", verbose_name=_("file"))
    size_bytes = models.BigIntegerField(null=True, blank=True, verbose_name=_("size bytes"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    # The download link works until then (EXPORT_LINK_TTL_HOURS after the job finished).
    expires_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("expires at")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        """Share of rows written, 0..1 (1 once done)."""
        if self.status in (ExportStatus.DONE, ExportStatus.EXPIRED):
            return 1.0
        if not self.rows_total:
            return 0.0
        return min(1.0, self.rows_written / self.rows_total)
