"""JWTs bound to the organization they were issued on (claim ``org`` = schema name) and to the
user's session version (claim ``sv`` = ``User.session_version`` when issued).

Bumping the session version (password change or reset, log out everywhere, deactivation:
``accounts.services.user_sessions_revoke``) refuses every earlier access and refresh token.
A rotated refresh token keeps its ``sv`` (rotation copies the claims), so rotation never
extends a session past a bump. Access tokens also carry ``rjti``, the id of the refresh token
they came from, so a logout stays effective when the deny-list cannot be read (below).
"""

import logging

from django.core.cache import caches
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from .lockout import AuthUnavailable

logger = logging.getLogger(__name__)

ORG_CLAIM = "org"
SESSION_VERSION_CLAIM = "sv"
REFRESH_ID_CLAIM = "rjti"
_REVOKED_ACCESS_KEY = "cc:revoked-access:{jti}"


class SessionRefreshToken(RefreshToken):
    """A refresh token whose access tokens name it (``rjti``)."""

    @property
    def access_token(self) -> AccessToken:
        access = super().access_token
        access[REFRESH_ID_CLAIM] = self.payload.get("jti", "")
        return access


class SessionTokenRefreshSerializer(TokenRefreshSerializer):
    token_class = SessionRefreshToken


def tokens_for_membership(*, user, organization) -> SessionRefreshToken:
    refresh = SessionRefreshToken.for_user(user)
    refresh[ORG_CLAIM] = organization.schema_name
    refresh[SESSION_VERSION_CLAIM] = user.session_version
    return refresh


def token_session_version(token) -> int:
    # Tokens issued before the claim existed count as version 0: any bump refuses them.
    return int(token.get(SESSION_VERSION_CLAIM, 0))


def _raw_cache():
    # Revocations are global (not per tenant): bypass the schema-prefixing key function.
    return caches["default"].client.get_client(write=True)


def revoked_access_key(jti: str) -> str:
    """The Redis key (outside the tenant key prefix) that marks an access token revoked."""
    return _REVOKED_ACCESS_KEY.format(jti=jti)


def access_token_revoke(*, jti: str, seconds_left: int) -> None:
    """Put an access token on the deny-list until it expires; 503 if Redis is unreachable (a
    logout that answered success while the token kept working would be a lie)."""
    if seconds_left <= 0:
        return
    try:
        _raw_cache().set(revoked_access_key(jti), 1, ex=seconds_left)
    except Exception as exc:
        logger.warning("token deny-list unreachable: logout refused", exc_info=True)
        raise AuthUnavailable() from exc


def access_token_is_revoked(token) -> bool:
    """Whether the access token was logged out: one ``EXISTS`` on the deny-list.

    If Redis cannot be read, the answer comes from PostgreSQL instead: a logout blacklists the
    refresh token (simplejwt's blacklist table), and the access token names it (``rjti``). That
    also refuses an access token whose refresh token was rotated since, which a client does not
    use any more. So an outage of Redis neither lets a logged-out token in nor locks everyone
    out of the catalog and task paths, whose caches and throttles fall back gracefully.
    """
    try:
        return bool(_raw_cache().exists(revoked_access_key(token.get("jti", ""))))
    except Exception:
        logger.warning("token deny-list unreachable: checking the blacklist", exc_info=True)
    refresh_jti = token.get(REFRESH_ID_CLAIM)
    if not refresh_jti:
        return False  # a token from before the claim: it expires within the access lifetime
    return BlacklistedToken.objects.filter(token__jti=refresh_jti).exists()


def revocation_store_check() -> None:
    """Raise ``AuthUnavailable`` unless the deny-list store answers (refresh issues tokens whose
    logout depends on it)."""
    try:
        _raw_cache().ping()
    except Exception as exc:
        logger.warning("token deny-list unreachable: refresh refused", exc_info=True)
        raise AuthUnavailable() from exc


def user_session_version(*, user_id) -> int | None:
    """The user's current session version, read from the database (None: no such user)."""
    from .models import User

    return User.objects.filter(pk=user_id).values_list("session_version", flat=True).first()
