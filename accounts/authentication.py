"""DRF authentication: a JWT is valid only on the organization that issued it, and only while
the user is active and still a member there (checked on every request, so deactivation and
removal take effect at once, not only when the access token expires)."""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from .selectors import membership_get_active
from .tokens import ORG_CLAIM, access_token_is_revoked


class OrganizationJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if token.get(ORG_CLAIM) != connection.schema_name:
            raise InvalidToken(
                {
                    "detail": _("This token was issued for another organization."),
                    "code": "token_organization_mismatch",
                }
            )
        if access_token_is_revoked(token.get("jti", "")):
            raise InvalidToken({"detail": _("This token has been revoked."), "code": "revoked"})
        return token

    def get_user(self, validated_token):
        user_id = validated_token.get("user_id")
        membership = membership_get_active(
            user_id=user_id, organization_id=getattr(connection.tenant, "pk", None)
        )
        if membership is None:
            raise AuthenticationFailed(
                _("The user is inactive or no longer a member of this organization."),
                code="membership_revoked",
            )
        user = membership.user
        # The role travels with the user object for the permission class (no second query).
        user.membership = membership
        return user
