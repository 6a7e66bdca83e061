from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.serializers import StrictSerializer


class SignupSerializer(StrictSerializer):
    organization_name = serializers.CharField(max_length=200)
    slug = serializers.CharField(
        max_length=40,
        help_text=_(
            "The organization's address: <slug>.<platform domain>. 2-40 lowercase "
            "letters, digits or hyphens, starting with a letter."
        ),
    )
    contact_email = serializers.EmailField(max_length=254)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SignupAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()
