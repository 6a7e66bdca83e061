from django.core.files.storage import default_storage
from django.db import connection
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import TenantViewSet
from core.schema import ErrorSerializer

from .constants import ZIP_CONTENT_TYPE
from .serializers import ExportJobSerializer
from .services import access_export_job, export_download_name, export_request


def _errors(*codes: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=f"Codes: {', '.join(codes)}.")


class ExportViewSet(TenantViewSet):
    """The owner's export of the organization's data (DESIGN 12): request, poll, download."""

    serializer_class = ExportJobSerializer
    filter_backends: list = []

    @extend_schema(
        summary="Export this organization's data",
        description="Queues a job that writes a zip (one JSON Lines file per table plus the "
        "report workbooks). Answers the export already queued or running, if any, instead of "
        "a second one. Poll the job; its download link is valid for EXPORT_LINK_TTL_HOURS "
        "(24 h) after it finished.",
        request=None,
        responses={
            202: ExportJobSerializer,
            503: _errors("JOB_QUEUE_UNAVAILABLE"),
        },
    )
    def create(self, request):
        job, _created = export_request(user=request.user)
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ExportJobSerializer, 404: _errors("EXPORT_NOT_FOUND")})
    def retrieve(self, request, pk=None):
        return Response(ExportJobSerializer(access_export_job(job_id=pk)).data)

    @extend_schema(
        summary="Download an export's zip",
        responses={
            (200, ZIP_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="zip"),
            404: _errors("EXPORT_NOT_FOUND"),
            409: _errors("EXPORT_NOT_READY"),
            410: _errors("EXPORT_EXPIRED"),
        },
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        job = access_export_job(job_id=pk)
        name = export_download_name(job=job)
        stamp = job.finished_at.strftime("%Y%m%d-%H%M")
        return FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=f"{connection.tenant.slug}-export-{stamp}.zip",
            content_type=ZIP_CONTENT_TYPE,
        )
