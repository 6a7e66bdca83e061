"""Test settings: the real PostgreSQL and Redis, fast password hashing."""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests drive many requests through one client: throttles are tested with explicit overrides.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "anon": "100000/min"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default="/tmp/commandcenter-test-media")  # noqa: S108
