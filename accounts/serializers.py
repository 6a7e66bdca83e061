from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .choices import Role
from .models import Invitation, Membership, User

INVITATION_STATUSES = ["pending", "accepted", "revoked", "expired"]
# A plain string in the schema: an enum named "status" would collide with the tasks' one.
_STATUS_HELP = "One of: " + ", ".join(INVITATION_STATUSES) + "."


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
    language = serializers.CharField(help_text=_('"zh-hans", "en", or "" (the organization\'s).'))
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


class MembershipUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ProfileUpdateSerializer(StrictSerializer):
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    language = serializers.ChoiceField(
        choices=[("", _("The organization's language")), *User._meta.get_field("language").choices],
        required=False,
    )


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class PasswordResetRequestSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(StrictSerializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=_STATUS_HELP)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "last_sent_at",
            "send_count",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields


class InvitationCreateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationPreviewSerializer(serializers.Serializer):
    organization = serializers.CharField(help_text=_("The inviting organization's name."))
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.CharField(help_text=_("The invited address, partly masked."))
    status = serializers.CharField(help_text=_STATUS_HELP)
    expires_at = serializers.DateTimeField()


class InvitationAcceptSerializer(StrictSerializer):
    """With ``full_name``: a new account (its password is set here). Without: the existing
    account of the invited email, proven by its password."""

    token = serializers.CharField(max_length=200)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "full_name" in attrs and "email" in attrs:
            raise serializers.ValidationError(
                {"email": [_("Give full_name for a new account, or email for an existing one.")]}
            )
        return attrs
