from django.core.files.storage import default_storage
from django.db import connection
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import TenantViewSet
from core.exceptions import ConflictError

from . import serializers as s
from .choices import ReportKind
from .constants import XLSX_CONTENT_TYPE
from .selectors import access_report, access_report_job, dashboard_metrics, report_list
from .services import report_regenerate

RANGE_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First period (inclusive)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last period (inclusive)"),
]


class _ReportViewSet(TenantViewSet):
    """List, detail, download and regenerate of one kind of report (managers and owners)."""

    filter_backends: list = []
    kind = ReportKind.DAILY
    list_serializer = s.DailyReportSerializer
    detail_serializer = s.DailyReportDetailSerializer
    regenerate_serializer = s.DailyRegenerateSerializer
    regenerate_field = "date"

    def get_serializer_class(self):
        if self.action == "retrieve":
            return self.detail_serializer
        if self.action == "regenerate":
            return self.regenerate_serializer
        return self.list_serializer

    def list(self, request):
        query = s.DateRangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        reports = report_list(
            kind=self.kind, date_from=query.validated_data.get("from"),
            date_to=query.validated_data.get("to"),
        )  # fmt: skip
        page = self.paginate_queryset(reports)
        return self.get_paginated_response(self.list_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        report = access_report(kind=self.kind, report_id=pk)
        return Response(self.detail_serializer(report).data)

    @extend_schema(
        responses={
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="xlsx"),
            404: OpenApiResponse(description="Not in this organization"),
            409: OpenApiResponse(description="REPORT_NOT_READY"),
        }
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        report = access_report(kind=self.kind, report_id=pk)
        if not report.file:
            raise ConflictError(
                _("The report has no workbook yet; regenerate it or wait for the job."),
                code="REPORT_NOT_READY",
                details={"status": report.status},
            )
        period = report.business_date if self.kind == ReportKind.DAILY else report.month
        label = period.isoformat() if self.kind == ReportKind.DAILY else f"{period:%Y-%m}"
        filename = f"{connection.tenant.slug}-{self.kind}-report-{label}.xlsx"
        return FileResponse(
            default_storage.open(report.file.name, "rb"),
            as_attachment=True,
            filename=filename,
            content_type=XLSX_CONTENT_TYPE,
        )

    @extend_schema(
        responses={
            202: s.ReportJobSerializer,
            409: OpenApiResponse(description="REPORT_IN_PROGRESS (a synchronous run)"),
            503: OpenApiResponse(
                description="JOB_QUEUE_UNAVAILABLE: the broker cannot be reached; nothing was "
                "queued, retry later"
            ),
        }
    )
    @action(detail=False, methods=["post"], url_path="regenerate")
    def regenerate(self, request):
        data = self.regenerate_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = report_regenerate(
            kind=self.kind,
            period=data.validated_data[self.regenerate_field],
            requested_by=request.user,
        )
        return Response(s.ReportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# The range filters are the list's only: on the class they were also documented on retrieve,
# download and regenerate (a generated client asked for from/to there).
@extend_schema_view(list=extend_schema(parameters=RANGE_PARAMS))
class DailyReportViewSet(_ReportViewSet):
    kind = ReportKind.DAILY


@extend_schema_view(list=extend_schema(parameters=RANGE_PARAMS))
class MonthlyReportViewSet(_ReportViewSet):
    kind = ReportKind.MONTHLY
    list_serializer = s.MonthlyReportSerializer
    detail_serializer = s.MonthlyReportDetailSerializer
    regenerate_serializer = s.MonthlyRegenerateSerializer
    regenerate_field = "month"


class ReportJobViewSet(TenantViewSet):
    """Status of one report generation job (returned by regenerate)."""

    serializer_class = s.ReportJobSerializer
    lookup_value_regex = TenantViewSet.UUID_LOOKUP_REGEX
    filter_backends: list = []

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: s.ReportJobSerializer, 404: OpenApiResponse(description="Not found")},
    )
    def retrieve(self, request, pk=None):
        return Response(s.ReportJobSerializer(access_report_job(job_id=pk)).data)


class DashboardView(APIView):
    """Live metrics for ``?from=&to=`` (business dates) with period-over-period deltas."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = s.DashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        metrics = dashboard_metrics(
            organization=connection.tenant,
            first=query.validated_data["from"],
            last=query.validated_data["to"],
        )
        return Response(metrics)
