"""``GET /metrics``: Prometheus text for the platform's operators, never for organizations.

Routed on the platform host only (config/urls_public.py); an organization's host answers 404.
A scraper is let in by ``Authorization: Bearer <METRICS_TOKEN>`` or by connecting from one of
``METRICS_ALLOWED_NETWORKS``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts), every web worker process
writes its counters to files there and one scrape of any process reads them all
(prometheus_client's multiprocess mode). The state of the shared services (PostgreSQL, Redis,
the Celery queue) is read at scrape time by the process that answers, so it is reported once,
not once per process.

The per-process caches (``core.local_cache``: hits, misses, evictions, entries, maxsize per named
cache) are this process's own state: prometheus_client counters and gauges fed from
``local_cache_stats()``. Each process copies its counts into them at the end of a request (at
most once a second) and the process answering a scrape just before it, so in multiprocess mode
one scrape sums every worker's counters and shows the fullest worker's entries (``livemax``).
"""

import hmac
import ipaddress
import os
import threading
from collections.abc import Iterator

import prometheus_client
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django_redis import get_redis_connection
from prometheus_client import CollectorRegistry, Counter, Gauge, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.exceptions import error_response
from core.local_cache import local_cache_stats

# Kombu's Redis transport keeps one list per priority step: the queue's own name for the
# default priority, ``<queue>\x06\x16<step>`` for the others (kombu.transport.redis).
_KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
_SOCKET_TIMEOUT = 1.0


_CACHE_LABELS = ["cache"]
_LOCAL_CACHE_COUNTERS = (
    Counter(
        "cc_local_cache_hits",
        "Lookups a per-process cache answered (summed over the web processes).",
        _CACHE_LABELS,
    ),
    Counter(
        "cc_local_cache_misses",
        "Lookups a per-process cache did not answer (the value was loaded).",
        _CACHE_LABELS,
    ),
    Counter(
        "cc_local_cache_evictions",
        "Entries a full per-process cache dropped to make room (expired ones not counted).",
        _CACHE_LABELS,
    ),
)
# livemax: in multiprocess mode, the fullest live process (never above the maxsize).
_LOCAL_CACHE_ENTRIES = Gauge(
    "cc_local_cache_entries",
    "Entries a per-process cache holds (multiprocess: the fullest web process).",
    _CACHE_LABELS,
    multiprocess_mode="livemax",
)
_LOCAL_CACHE_MAXSIZE = Gauge(
    "cc_local_cache_maxsize",
    "The bound of a per-process cache, in entries, per process.",
    _CACHE_LABELS,
    multiprocess_mode="livemax",
)
_published: dict[str, tuple[int, int, int]] = {}
_publish_lock = threading.Lock()


def local_caches_publish(*, wait: bool = False) -> None:
    """Copy this process's cache counters into its Prometheus metrics (the multiprocess
    directory's files in multiprocess mode). A call finding another one under way returns at
    once, unless ``wait``."""
    if not _publish_lock.acquire(blocking=wait):
        return
    try:
        for stats in local_cache_stats():
            now = (stats.hits, stats.misses, stats.evictions)
            before = _published.get(stats.name, (0, 0, 0))
            for counter, value, was in zip(_LOCAL_CACHE_COUNTERS, now, before, strict=True):
                if value > was:
                    counter.labels(stats.name).inc(value - was)
            _published[stats.name] = now
            _LOCAL_CACHE_ENTRIES.labels(stats.name).set(stats.entries)
            _LOCAL_CACHE_MAXSIZE.labels(stats.name).set(stats.maxsize)
    finally:
        _publish_lock.release()


def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(cidr.strip(), strict=False)
            for cidr in settings.METRICS_ALLOWED_NETWORKS
            if cidr.strip()
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from exc


def _from_allowed_network(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def _bearer_token(request) -> str | None:
    scheme, _sep, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ServicesCollector(Collector):
    """Gauges of the services every process shares, read when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._database()
        yield self._gauge(
            "cc_cache_up", "1 when the cache Redis answers a PING.", self._cache_reachable()
        )
        yield from self._celery_queue()

    @staticmethod
    def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, documentation, value=value)

    def _database(self) -> Iterator[GaugeMetricFamily]:
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), current_setting('max_connections')::int "
                    "FROM pg_stat_activity WHERE datname = current_database()"
                )
                connections, max_connections = cursor.fetchone()
        except Exception:
            yield self._gauge("cc_database_up", "1 when PostgreSQL answers a query.", 0)
            return
        yield self._gauge("cc_database_up", "1 when PostgreSQL answers a query.", 1)
        yield self._gauge(
            "cc_database_connections",
            "Connections to this database, from every process and host (pg_stat_activity).",
            connections,
        )
        yield self._gauge(
            "cc_database_max_connections", "PostgreSQL's max_connections.", max_connections
        )

    @staticmethod
    def _cache_reachable() -> int:
        try:
            get_redis_connection("default").ping()
        except Exception:
            return 0
        return 1

    def _celery_queue(self) -> Iterator[GaugeMetricFamily]:
        broker_url = settings.CELERY_BROKER_URL
        if not broker_url.startswith(("redis://", "rediss://", "unix://")):
            # Other brokers (RabbitMQ) export their queue depths themselves.
            return
        from config.celery import app

        queue = app.conf.task_default_queue
        keys = [
            f"{queue}{_KOMBU_PRIORITY_SEPARATOR}{step}" if step else queue
            for step in _KOMBU_PRIORITY_STEPS
        ]
        try:
            client = redis.Redis.from_url(
                broker_url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=_SOCKET_TIMEOUT
            )
            with client:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.llen(key)
                depth = sum(pipe.execute())
        except Exception:
            yield self._gauge("cc_celery_broker_up", "1 when the Celery broker answers.", 0)
            return
        yield self._gauge("cc_celery_broker_up", "1 when the Celery broker answers.", 1)
        family = GaugeMetricFamily(
            "cc_celery_queue_length",
            "Jobs waiting in the broker's queue (not yet taken by a worker).",
            labels=["queue"],
        )
        family.add_metric([queue], depth)
        yield family


class _DefaultRegistry(Collector):
    """This process's own metrics (single-process mode)."""

    def collect(self):
        return prometheus_client.REGISTRY.collect()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    registry.register(ServicesCollector())
    return registry


def metrics(request):
    """Prometheus text exposition of every web process plus the shared services' gauges."""
    token = settings.METRICS_TOKEN
    offered = _bearer_token(request)
    token_ok = bool(token and offered and hmac.compare_digest(offered, token))
    if not token_ok and not _from_allowed_network(request):
        if offered is None:
            return error_response(
                status=401,
                code="METRICS_AUTH_REQUIRED",
                message=_("Metrics need a bearer token or a trusted network."),
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return error_response(
            status=403,
            code="METRICS_FORBIDDEN",
            message=_("This token does not give access to the metrics."),
        )
    local_caches_publish(wait=True)
    return HttpResponse(
        prometheus_client.generate_latest(_registry()),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
