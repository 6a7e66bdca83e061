from rest_framework import serializers

from accounts.serializers import StrictSerializer

from .constants import LANGUAGE_CHOICES
from .models import Organization


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = [
            "name",
            "slug",
            "timezone",
            "business_day_start",
            "peak_windows",
            "currency",
            "is_active",
            "max_agents",
            "max_screens",
            "requests_per_minute",
            "task_expiry_minutes",
            "card_amber_minutes",
            "card_red_minutes",
            "recall_minutes",
            "report_time",
            "cors_allowed_origins",
            "language",
        ]
        read_only_fields = fields


class OrganizationUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    business_day_start = serializers.TimeField(required=False)
    peak_windows = serializers.JSONField(required=False)
    currency = serializers.CharField(max_length=3, required=False)
    task_expiry_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    card_amber_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    card_red_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    recall_minutes = serializers.IntegerField(min_value=0, max_value=24 * 60, required=False)
    report_time = serializers.TimeField(required=False)
    language = serializers.ChoiceField(choices=LANGUAGE_CHOICES, required=False)
    # Checked in organization_validate_settings (one message per refused origin).
    cors_allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300, trim_whitespace=False), required=False
    )
