"""Test settings: the real PostgreSQL and Redis, fast password hashing.

One Redis URL is split into three logical databases (cache, Celery, channel layer) so the suite
can wipe the cache between tests without touching queued jobs or channel groups. Give parallel
runs different base databases: ``REDIS_URL=redis://127.0.0.1:6379/4`` uses 4, 5 and 6.
"""

from urllib.parse import urlparse, urlunparse

from .base import *  # noqa: F403
from .base import CACHES, CHANNEL_LAYERS, REDIS_URL, REST_FRAMEWORK, env


def _redis_db(url: str, offset: int) -> str:
    parts = urlparse(url)
    base = int(parts.path.strip("/") or 0)
    return urlunparse(parts._replace(path=f"/{base + offset}"))


DEBUG = False
# No warm pool in the suite (organizations are cloned directly); the pool has its own test.
TENANT_SCHEMA_POOL_SIZE = 0
# Tests change organizations and users with queryset.update() (no signals): per-process
# lookups are off by default here and switched on by the tests of the cache itself.
# Server processes started by a test may switch them on (TEST_LOCAL_CACHE_SECONDS) to prove a
# bound that depends on them (accounts/tests/test_sessions.py: revocation across processes).
LOCAL_CACHE_SECONDS = env.int("TEST_LOCAL_CACHE_SECONDS", default=0)
# The long TTL of a process that hears invalidations (Redis pub/sub): off unless a test asks.
LOCAL_CACHE_LISTENING_SECONDS = env.int("TEST_LOCAL_CACHE_LISTENING_SECONDS", default=0)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["LOCATION"] = _redis_db(REDIS_URL, 0)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_redis_db(REDIS_URL, 1))
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
    {"address": _redis_db(REDIS_URL, 2), "socket_timeout": 15}
]
# Tests drive many requests through one client: throttles are tested with explicit overrides.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "anon": "100000/min"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default="/tmp/commandcenter-test-media")  # noqa: S108
# Reports: a test slows a report job down this much (worker env only) to kill it mid-job.
REPORTS_TEST_DELAY_SECONDS = env.float("REPORTS_TEST_DELAY_SECONDS", default=0)
# Static files come from the source directories (WHITENOISE_USE_FINDERS): nothing is collected,
# and whitenoise would warn about a STATIC_ROOT that does not exist.
STATIC_ROOT = None
