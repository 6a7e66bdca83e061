"""Rate limits: per user (per IP when anonymous) and per organization (its plan's
requests/minute), as fixed one-minute windows counted in Redis.

Why not DRF's stock throttles: they keep a list of request timestamps per key and rewrite it
through the cache on every request, so the cost grows with the limit (a 3,000/min organization
pickles 3,000 floats per call). Counters are O(1), and all scopes of a request are checked in one
Redis round trip: one Lua script (``EVALSHA``) that counts every scope. It only counts: what a
view reads from Redis (the catalog cache) it reads itself. If Redis is unreachable, requests are
allowed (limits are protection, not a correctness rule) and a warning is logged with the error.
Token revocation is not checked here: authentication owns it (``accounts.authentication``),
whatever throttles a view has.

Identities: a user is ``user:<id>`` (users are global), a screen ``screen:<schema>:<id>``
(``displays.authentication``), an anonymous client ``ip:<address>`` with the address from
``core.client_ip`` (``X-Forwarded-For`` only from ``TRUSTED_PROXIES``).
"""

import logging
import time

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection
from rest_framework.throttling import BaseThrottle

from core.client_ip import client_ip

logger = logging.getLogger(__name__)
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: one counter per scope. ARGV: each counter's lifetime (s). Returns the counts. One
# command instead of a pipeline of INCR/EXPIRE pairs.
_COUNT_LUA = """
local out = {}
for i = 1, #KEYS do
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
    out[i] = count
end
return out
"""
_count_script = None


def _count(keys: list[str], args: list[int]) -> list:
    global _count_script
    client = get_redis_connection("default")
    if _count_script is None or _count_script.registered_client is not client:
        # Script objects cache the SHA; EVALSHA falls back to EVAL after a Redis restart.
        _count_script = client.register_script(_COUNT_LUA)
    return _count_script(keys=keys, args=args)


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/min' -> (600, 60)."""
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


class RateLimitThrottle(BaseThrottle):
    def __init__(self):
        self._wait: float | None = None

    def get_ident(self, request) -> str:
        # Not DRF's: it believes any client's X-Forwarded-For (rotating it lifted the limit).
        return client_ip(request)

    def _scopes(self, request) -> list[tuple[str, int, int]]:
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        scopes = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            limit = parse_rate(rates.get("user"))
            ident = f"user:{user.pk}"  # a screen's pk is "screen:<schema>:<id>"
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
        if not scopes:
            return True
        now = time.time()
        keys = [f"cc:rl:{ident}:{span}:{int(now // span)}" for ident, _limit, span in scopes]
        args = [span + 1 for _ident, _limit, span in scopes]
        try:
            results = _count(keys, args)
        except Exception:
            logger.warning("rate limiting unavailable: request allowed", exc_info=True)
            return True
        for (_ident, limit, duration), count in zip(scopes, results, strict=True):
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
