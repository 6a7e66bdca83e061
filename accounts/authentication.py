"""DRF authentication: a JWT is valid only on the organization that issued it, only while the
user is active and still a member there, only while its session version (claim ``sv``) is the
user's current one, and only if it was not logged out (deny-list). All of it is checked here,
on every request, for every view: revocation belongs to authentication, not to whichever
throttle a view happens to have.

How fresh: a verified token and the membership (with the user's ``session_version``) are kept
per process (``core.local_cache``). A change clears the caches of the process that made it at
once and of every other process when they hear its invalidation, published on Redis after the
commit (milliseconds); a process that cannot hear Redis keeps entries ``LOCAL_CACHE_SECONDS``
(default 5 s) at most. The deny-list is read from Redis on every request (one
``EXISTS``); if Redis cannot be read, from PostgreSQL (``accounts.tokens``).
"""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from core.local_cache import LocalCache
from core.locale import user_language_activate

from .selectors import membership_get_active
from .tokens import ORG_CLAIM, access_token_is_revoked, token_session_version

_verified_tokens = LocalCache("verified-access-token")
REVOKED = {"detail": _("This token has been revoked."), "code": "revoked"}
SESSION_REVOKED = {
    "detail": _("This session has ended (password changed, signed out everywhere or disabled)."),
    "code": "token_revoked",
}


class OrganizationJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        if access_token_is_revoked(result[1]):
            raise InvalidToken(REVOKED)
        # DRF authenticates inside the view: the user's language is known here, first (core.locale).
        user_language_activate(request, result[0])
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
        if token_session_version(validated_token) != user.session_version:
            raise InvalidToken(SESSION_REVOKED)
        # The role travels with the user object for the permission class (no second query).
        user.membership = membership
        return user
