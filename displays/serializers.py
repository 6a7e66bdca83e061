from rest_framework import serializers

from accounts.serializers import StrictSerializer

from .models import Screen, ScreenMode


class ScreenSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = Screen
        fields = [
            "id",
            "name",
            "station",
            "mode",
            "is_active",
            "created_by",
            "created_at",
            "last_seen_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ScreenWithTokenSerializer(ScreenSerializer):
    """The create / rotate answer: the only time the plain token is shown."""

    token = serializers.CharField(read_only=True)

    class Meta(ScreenSerializer.Meta):
        fields = [*ScreenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ScreenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    station = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200
    )
    mode = serializers.ChoiceField(
        choices=ScreenMode.choices, required=False, default=ScreenMode.LINE.value
    )


class ScreenUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    station = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=200
    )
    mode = serializers.ChoiceField(choices=ScreenMode.choices, required=False)


class TicketSettingsSerializer(serializers.Serializer):
    card_amber_minutes = serializers.IntegerField()
    card_red_minutes = serializers.IntegerField()
    timezone = serializers.CharField()
    heartbeat_seconds = serializers.IntegerField()
    recall_minutes = serializers.IntegerField()
    language = serializers.CharField()


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField()
    ws_path = serializers.CharField()
    principal = serializers.DictField()
    settings = TicketSettingsSerializer()
