"""JWTs bound to the organization they were issued on (claim ``org`` = schema name)."""

import contextlib

from django.core.cache import caches
from rest_framework_simplejwt.tokens import RefreshToken

ORG_CLAIM = "org"
_REVOKED_ACCESS_KEY = "cc:revoked-access:{jti}"


def tokens_for_membership(*, user, organization) -> RefreshToken:
    refresh = RefreshToken.for_user(user)
    refresh[ORG_CLAIM] = organization.schema_name
    return refresh


def _raw_cache():
    # Revocations are global (not per tenant): bypass the schema-prefixing key function.
    return caches["default"].client.get_client(write=True)


def access_token_revoke(*, jti: str, seconds_left: int) -> None:
    if seconds_left > 0:
        # Redis down: the token still expires within the (short) access lifetime.
        with contextlib.suppress(Exception):
            _raw_cache().set(revoked_access_key(jti), 1, ex=seconds_left)


def revoked_access_key(jti: str) -> str:
    """The Redis key (outside the tenant key prefix) that marks an access token revoked."""
    return _REVOKED_ACCESS_KEY.format(jti=jti)


def access_token_is_revoked(jti: str) -> bool:
    try:
        return bool(_raw_cache().exists(revoked_access_key(jti)))
    except Exception:
        return False
