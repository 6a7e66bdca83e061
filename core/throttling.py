"""Rate limits: per user (per IP when anonymous) and per organization (its plan's
requests/minute), as fixed one-minute windows counted in Redis.

Why not DRF's stock throttles: they keep a list of request timestamps per key and rewrite it
through the cache on every request, so the cost grows with the limit (a 3,000/min organization
pickles 3,000 floats per call). Counters are O(1), and all scopes of a request are checked in one
Redis round trip. If Redis is unreachable, requests are allowed (limits are protection, not a
correctness rule) and a warning is logged.
"""

import logging
import time

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.authentication import REVOKED
from accounts.tokens import revoked_access_key

logger = logging.getLogger(__name__)
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/min' -> (600, 60)."""
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


class RateLimitThrottle(BaseThrottle):
    def __init__(self):
        self._wait: float | None = None

    def _scopes(self, request) -> list[tuple[str, int, int]]:
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        scopes = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            limit = parse_rate(rates.get("user"))
            ident = f"user:{user.pk}"
        else:
            limit = parse_rate(rates.get("anon"))
            ident = f"ip:{self.get_ident(request)}"
        if limit:
            scopes.append((ident, *limit))
        tenant = getattr(connection, "tenant", None)
        per_minute = getattr(tenant, "requests_per_minute", None)
        if per_minute and connection.schema_name != "public":
            scopes.append((f"org:{connection.schema_name}", int(per_minute), 60))
        return scopes

    def allow_request(self, request, view) -> bool:
        scopes = self._scopes(request)
        # The logout deny-list lookup of the authenticated token shares this round trip
        # (accounts.authentication defers it here).
        jti = getattr(request, "revocation_jti", None)
        if not scopes and jti is None:
            return True
        now = time.time()
        try:
            pipe = get_redis_connection("default").pipeline(transaction=False)
            for ident, _limit, duration in scopes:
                key = f"cc:rl:{ident}:{duration}:{int(now // duration)}"
                pipe.incr(key)
                pipe.expire(key, duration + 1)
            if jti is not None:
                pipe.exists(revoked_access_key(jti))
            results = pipe.execute()
        except Exception:
            logger.warning("rate limiting unavailable: Redis unreachable")
            return True
        if jti is not None and results.pop():
            raise InvalidToken(REVOKED)
        for (_ident, limit, duration), count in zip(scopes, results[0::2], strict=True):
            if count > limit:
                self._wait = duration - (now % duration)
                return False
        return True

    def wait(self) -> float | None:
        return self._wait


class AnonRateThrottle(RateLimitThrottle):
    """Anonymous endpoints (login, refresh): the per-IP limit only."""

    def _scopes(self, request):
        limit = parse_rate(settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get("anon"))
        return [(f"ip:{self.get_ident(request)}", *limit)] if limit else []
