from django.urls import reverse
from rest_framework import serializers

from .choices import ExportStatus
from .models import ExportJob


class ExportJobSerializer(serializers.ModelSerializer):
    """An export's state: ``progress`` is the share of rows written (0..1); ``download_url``
    is set while the archive can be downloaded (done, before ``expires_at``)."""

    progress = serializers.FloatField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id", "status", "requested_via", "rows_written", "rows_total", "progress", "tables",
            "size_bytes", "error", "created_at", "started_at", "finished_at", "expires_at",
            "download_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_download_url(self, job) -> str | None:
        if job.status != ExportStatus.DONE or not job.file:
            return None
        return reverse("organization-export-download", kwargs={"pk": job.pk})
