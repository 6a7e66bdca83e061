import re
from datetime import date

from django.db import connection
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.serializers import StrictSerializer
from organizations.business_day import business_date

from .constants import DASHBOARD_MAX_DAYS
from .models import DailyReport, MonthlyReport, ReportJob
from .services import month_last_day


def _today() -> date:
    """The organization's current (open) business date."""
    return business_date(connection.tenant)


# Business dates the API accepts. Outside them the day bounds, the previous period and the
# same weekday last week fall off the calendar (OverflowError near year 1 or 9999); no
# organization has data before 2000 (MonthlyRegenerateSerializer's rule too).
FIRST_BUSINESS_DATE = date(2000, 1, 1)
LAST_BUSINESS_DATE = date(2999, 12, 31)


class BusinessDateField(serializers.DateField):
    """A date between FIRST_BUSINESS_DATE and LAST_BUSINESS_DATE (400 naming the field)."""

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not FIRST_BUSINESS_DATE <= day <= LAST_BUSINESS_DATE:
            raise serializers.ValidationError(
                _("Use a date from %(first)s to %(last)s.")
                % {"first": FIRST_BUSINESS_DATE.isoformat(), "last": LAST_BUSINESS_DATE.isoformat()}
            )
        return day


class DateRangeQuerySerializer(StrictSerializer):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (``from`` is a keyword: fields built in get_fields)."""

    range_required = False
    extra_fields: tuple[str, ...] = ("page", "page_size")

    def get_fields(self):
        fields = {
            "from": BusinessDateField(required=self.range_required),
            "to": BusinessDateField(required=self.range_required),
        }
        for name in self.extra_fields:
            # The paginator reads these itself; bounded here so no absurd number reaches it.
            fields[name] = serializers.IntegerField(required=False, min_value=1, max_value=10**9)
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        first, last = attrs.get("from"), attrs.get("to")
        if first and last:
            if first > last:
                raise serializers.ValidationError({"to": [_("Must be on or after 'from'.")]})
            if (last - first).days + 1 > DASHBOARD_MAX_DAYS:
                raise serializers.ValidationError(
                    {"to": [_("The range may cover at most 366 days.")]}
                )
        return attrs


class DashboardQuerySerializer(DateRangeQuerySerializer):
    range_required = True
    extra_fields = ()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["to"] > _today():
            raise serializers.ValidationError(
                {"to": [_("Must not be after the current business date.")]}
            )
        return attrs


class DailyRegenerateSerializer(StrictSerializer):
    date = BusinessDateField()

    def validate_date(self, value: date) -> date:
        if value >= _today():
            raise serializers.ValidationError(
                _("This business day has not closed yet: pick an earlier date.")
            )
        return value


class MonthlyRegenerateSerializer(StrictSerializer):
    month = serializers.CharField(max_length=7, help_text=_("YYYY-MM"))

    def validate_month(self, value: str) -> date:
        match = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise serializers.ValidationError(_("Use the format YYYY-MM, e.g. 2026-01."))
        month = date(int(match.group(1)), int(match.group(2)), 1)
        if month_last_day(month) >= _today():
            raise serializers.ValidationError(
                _("This month has not closed yet: pick an earlier month.")
            )
        return month


class _ReportSerializer(serializers.ModelSerializer):
    has_file = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    url_name = ""

    def get_has_file(self, report) -> bool:
        return bool(report.file)

    def get_download_url(self, report) -> str | None:
        if not report.file:
            return None
        return reverse(self.url_name, kwargs={"pk": report.pk})


_LIST_FIELDS = ["id", "status", "generated_at", "error", "has_file", "download_url", "task_id"]


class DailyReportSerializer(_ReportSerializer):
    url_name = "daily-report-download"

    class Meta:
        model = DailyReport
        fields = ["id", "business_date", *_LIST_FIELDS[1:]]
        read_only_fields = fields


class DailyReportDetailSerializer(DailyReportSerializer):
    class Meta(DailyReportSerializer.Meta):
        fields = [*DailyReportSerializer.Meta.fields, "metrics"]
        read_only_fields = fields


class MonthlyReportSerializer(_ReportSerializer):
    url_name = "monthly-report-download"
    month = serializers.DateField(format="%Y-%m")

    class Meta:
        model = MonthlyReport
        fields = ["id", "month", *_LIST_FIELDS[1:]]
        read_only_fields = fields


class MonthlyReportDetailSerializer(MonthlyReportSerializer):
    class Meta(MonthlyReportSerializer.Meta):
        fields = [*MonthlyReportSerializer.Meta.fields, "metrics"]
        read_only_fields = fields


class ReportJobSerializer(serializers.ModelSerializer):
    period = serializers.SerializerMethodField()

    class Meta:
        model = ReportJob
        fields = [
            "id", "kind", "period", "force", "status", "error", "report_id",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_period(self, job) -> str:
        return job.period.isoformat() if job.kind == "daily" else f"{job.period:%Y-%m}"
