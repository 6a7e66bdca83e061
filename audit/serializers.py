from rest_framework import serializers

from .models import AuditEvent


class AuditActorSerializer(serializers.Serializer):
    type = serializers.CharField(source="actor_type")
    id = serializers.CharField(source="actor_id")
    label = serializers.CharField(source="actor_label")


class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(source="target_type")
    id = serializers.CharField(source="target_id")
    label = serializers.CharField(source="target_label")


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = AuditActorSerializer(source="*")
    target = AuditTargetSerializer(source="*")
    changes = serializers.JSONField()
    ip = serializers.IPAddressField(allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "target", "changes", "ip", "request_id"]
        read_only_fields = fields
