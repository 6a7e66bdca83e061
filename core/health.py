"""Liveness, readiness and the benchmark floor."""

import logging
import socket
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django_redis import get_redis_connection


def health(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_database_pooling() -> None:
    """Probed again on every call (not the process's cached verdict): a pooler switched to
    transaction mode under running processes makes them unready (core/db_backend/pooling.py)."""
    from django.core.exceptions import ImproperlyConfigured

    from core.db_backend.pooling import refuse_transaction_pooling

    try:
        refuse_transaction_pooling(connection.get_connection_params(), cached=False)
    except ImproperlyConfigured as exc:
        logging.getLogger(__name__).error("%s", exc)
        raise


def _check_redis() -> None:
    get_redis_connection("default").ping()


def _check_broker() -> None:
    url = urlparse(settings.CELERY_BROKER_URL)
    if url.scheme.startswith("redis"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1).ping()
    else:
        with socket.create_connection((url.hostname, url.port or 5672), timeout=1):
            pass


def ready(request):
    """200 when PostgreSQL, Redis and the Celery broker answer; 503 naming what failed."""
    checks = {
        "database": _check_database,
        "database_pooling": _check_database_pooling,
        "redis": _check_redis,
        "broker": _check_broker,
    }
    results, failing = {}, []
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {exc.__class__.__name__}"
            failing.append(name)
    if failing:
        return JsonResponse(
            {
                "error": {
                    "code": "NOT_READY",
                    "message": f"Unavailable: {', '.join(failing)}.",
                    "details": {"checks": results},
                }
            },
            status=503,
        )
    return JsonResponse({"status": "ready", "checks": results})


def bench_floor(request):
    """The bare JSON view the benchmarks compare against (no tenant, no auth)."""
    return JsonResponse({"ok": True})
