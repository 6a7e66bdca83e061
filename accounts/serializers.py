from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .choices import Role
from .models import Membership


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields instead of silently ignoring them."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: [_("Unknown field.")] for name in sorted(unknown)}
            )
        return super().validate(attrs)


class LoginInputSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    role = serializers.CharField()


class RefreshInputSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=2048)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    email = serializers.EmailField()
    full_name = serializers.CharField()
    role = serializers.CharField(source="membership.role")
    organization = serializers.SerializerMethodField()

    def get_organization(self, user) -> dict:
        org = connection.tenant
        return {"slug": org.slug, "name": org.name, "schema": org.schema_name}


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "created_at"]
        read_only_fields = fields


class MembershipCreateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)
    full_name = serializers.CharField(max_length=150, required=False, default="")
    password = serializers.CharField(
        min_length=8,
        max_length=256,
        required=False,
        write_only=True,
        help_text=_("Initial password for a new user; omit to invite without one."),
    )


class MembershipUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)
