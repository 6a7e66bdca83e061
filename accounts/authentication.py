"""DRF authentication: a JWT is valid only on the organization that issued it, and only while
the user is active and still a member there (checked on every request, so deactivation and
removal take effect at once, not only when the access token expires).

Two things keep this cheap on the hot path: a verified token is kept per process for a few
seconds (``core.local_cache``; its expiry is still checked on every use), and the logout
deny-list lookup rides in the rate limiter's Redis round trip when the view has that throttle
(``core.throttling.RateLimitThrottle``); for any other view it is checked here directly."""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from core.local_cache import LocalCache

from .selectors import membership_get_active
from .tokens import ORG_CLAIM, access_token_is_revoked

_verified_tokens = LocalCache("verified-access-token")
REVOKED = {"detail": _("This token has been revoked."), "code": "revoked"}


class OrganizationJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        jti = result[1].get("jti", "")
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if _view_checks_revocation(view):
            request.revocation_jti = jti  # checked in the throttle's Redis round trip
        elif access_token_is_revoked(jti):
            raise InvalidToken(REVOKED)
        return result

    def get_validated_token(self, raw_token):
        token = _verified_tokens.get_or_load(
            bytes(raw_token),
            lambda: super(OrganizationJWTAuthentication, self).get_validated_token(raw_token),
        )
        try:
            token.check_exp()  # a token kept in the per-process cache still expires on time
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc), "code": "token_not_valid"}) from exc
        if token.get(ORG_CLAIM) != connection.schema_name:
            raise InvalidToken(
                {
                    "detail": _("This token was issued for another organization."),
                    "code": "token_organization_mismatch",
                }
            )
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


def _view_checks_revocation(view) -> bool:
    from core.throttling import RateLimitThrottle

    return any(issubclass(t, RateLimitThrottle) for t in getattr(view, "throttle_classes", ()))
