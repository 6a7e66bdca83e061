"""Per-process caches for what every request looks up (host -> organization, user +
organization -> membership, verified tokens), kept fresh across processes, and the counters of
every per-process cache.

Freshness: a change to a user, a membership, an organization or a domain calls
``local_caches_invalidate()``, which clears this process's caches at once and, after the
transaction commits, publishes one message on a Redis channel (``LOCAL_CACHE_CHANNEL``). Every
process runs a listener thread subscribed to it that clears its own caches on each message. An
entry lives ``LOCAL_CACHE_LISTENING_SECONDS`` (default 300) while the listener is subscribed
and has heard Redis answer its pings in the last few seconds, ``LOCAL_CACHE_SECONDS`` (default
5) otherwise: a process that may have missed a message (Redis unreachable, a connection
silently dead) falls back to the short bound and clears what it holds when the listener drops
or comes back. So a suspension, a deactivation, a session revocation or a removed membership is
seen by every process within milliseconds, and within seconds when Redis fails (DESIGN 3:
"within seconds, every process"), while the entries of 1,000 organizations spread over a few
processes stay warm (DESIGN 14). ``cachetools.TTLCache`` is not thread-safe, hence the lock
(web processes serve requests on a thread pool).

Every per-process cache is bounded (``maxsize``: least recently used entries are evicted) and
counted: hits, misses, evictions (entries pushed out to make room; expired ones are not
evictions), entries and maxsize, per named cache. ``LocalCache`` counts with plain integer
increments under the lock it already takes; a ``functools.lru_cache`` registered with
``function_cache_register`` is read through its own ``cache_info()`` (nothing added to its
calls). ``local_cache_stats()`` reads them all; ``core.metrics`` exports them in ``/metrics``
(``cc_local_cache_*``, docs/observability.md).
"""

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from cachetools import TTLCache
from django.conf import settings
from django.core.signals import request_finished
from django.db import transaction
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)

_MISSING = object()
_registry: dict[str, "LocalCache | _FunctionCache"] = {}


@dataclass(frozen=True)
class CacheStats:
    """One cache's counters since this process started (monotonic) and its size now."""

    name: str
    hits: int
    misses: int
    evictions: int
    entries: int
    maxsize: int


class _CountingTTLCache(TTLCache):
    """A ``TTLCache`` that counts, on its owner, the entries evicted to make room."""

    def __init__(self, owner: "LocalCache", maxsize: int, ttl: float):
        super().__init__(maxsize=maxsize, ttl=ttl)
        self._owner = owner

    def popitem(self):
        # Called by ``Cache.__setitem__`` while full (expired entries were purged just before),
        # under the owner's lock.
        item = super().popitem()
        self._owner.evictions += 1
        return item


class LocalCache:
    def __init__(self, name: str, maxsize: int = 10_000):
        self.name = name
        self._maxsize = maxsize
        self._cache: TTLCache | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        _registry[name] = self

    def get_or_load(self, key, load: Callable[[], Any]):
        ttl = _listener.ttl()
        if ttl <= 0:
            return load()
        with self._lock:
            if self._cache is None or self._cache.ttl != ttl:
                self._cache = _CountingTTLCache(self, maxsize=self._maxsize, ttl=ttl)
            value = self._cache.get(key, _MISSING)
            if value is _MISSING:
                self.misses += 1
            else:
                self.hits += 1
        if value is _MISSING:
            value = load()
            with self._lock:
                self._cache[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            entries = 0
            if self._cache is not None:
                self._cache.expire()
                entries = len(self._cache)
            return CacheStats(
                self.name, self.hits, self.misses, self.evictions, entries, self._maxsize
            )


class _FunctionCache:
    """A registered ``functools.lru_cache``: its ``cache_info()``, kept monotonic.

    ``cache_info()`` has no eviction count: every miss stores one entry, so what the cache
    holds less than its misses was evicted (``cache_clear()`` resets both; a reset is folded
    into running totals so the counters never go back)."""

    def __init__(self, name: str, function):
        self.name = name
        self._function = function
        self._lock = threading.Lock()
        self._last = (0, 0, 0)  # hits, misses, evictions as last read
        self._base = (0, 0, 0)  # totals before the last cache_clear()

    def stats(self) -> CacheStats:
        info = self._function.cache_info()
        current = (info.hits, info.misses, max(0, info.misses - info.currsize))
        with self._lock:
            if any(now < last for now, last in zip(current, self._last, strict=True)):
                self._base = tuple(b + last for b, last in zip(self._base, self._last, strict=True))
            self._last = current
            hits, misses, evictions = (b + now for b, now in zip(self._base, current, strict=True))
        return CacheStats(self.name, hits, misses, evictions, info.currsize, info.maxsize or 0)


def function_cache_register(name: str, function) -> None:
    """Count ``function``, a bounded ``functools.lru_cache``, as the per-process cache
    ``name``."""
    if function.cache_info().maxsize is None:
        raise ValueError(f"{name}: per-process caches must be bounded (lru_cache maxsize)")
    _registry[name] = _FunctionCache(name, function)


def local_cache_stats() -> list[CacheStats]:
    """The counters of every per-process cache, by name."""
    return [cache.stats() for _name, cache in sorted(_registry.items())]


def local_caches_clear() -> None:
    """Clear this process's caches (``local_caches_invalidate`` clears every process's)."""
    for cache in list(_registry.values()):
        if isinstance(cache, LocalCache):
            cache.clear()


def local_caches_invalidate() -> None:
    """Something the caches hold changed: clear them here now, and in every process once the
    change is committed (a process reading before the commit could cache the old row again).
    """
    local_caches_clear()
    transaction.on_commit(_broadcast)


def _broadcast() -> None:
    local_caches_clear()
    try:
        # The cache's pooled connection (the same Redis server: channels ignore the db number).
        get_redis_connection("default").publish(settings.LOCAL_CACHE_CHANNEL, str(os.getpid()))
    except redis.RedisError:
        # The listeners cannot hear Redis either (the same server): each falls back to the short
        # TTL within LISTENER_DEAD_AFTER seconds of its last answered ping.
        logger.exception("local cache invalidation not published")


def listener_client_name() -> str:
    """The listener's Redis connection name (``CLIENT LIST``): one per process."""
    return f"cc-local-cache-listener-{os.getpid()}"


def _listener_client() -> redis.Redis:
    """A connection of the listener's own: a subscribed connection serves nothing else."""
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=2,
        socket_timeout=LISTENER_PING_SECONDS,
        client_name=listener_client_name(),
    )


# The listener pings Redis this often and counts itself deaf when no answer came for
# LISTENER_DEAD_AFTER seconds: the bound on how long a process may miss an invalidation.
LISTENER_PING_SECONDS = 1.0
LISTENER_DEAD_AFTER = 3.0


class _Listener:
    """The thread of this process subscribed to ``LOCAL_CACHE_CHANNEL`` (started on the first
    cache lookup, again in a forked child)."""

    def __init__(self):
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._heard_at = 0.0  # monotonic time of the last message or pong while subscribed

    def ttl(self) -> float:
        short = settings.LOCAL_CACHE_SECONDS
        long = settings.LOCAL_CACHE_LISTENING_SECONDS
        if short <= 0 or long <= short:
            return short
        if self._pid != os.getpid():
            self._start()
            return short
        return long if time.monotonic() - self._heard_at < LISTENER_DEAD_AFTER else short

    def listening(self) -> bool:
        return self._pid == os.getpid() and (
            time.monotonic() - self._heard_at < LISTENER_DEAD_AFTER
        )

    def stop(self) -> None:
        """End the listener thread (at its next wake-up, within a second)."""
        with self._lock:
            self._pid = None
            self._heard_at = 0.0

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._heard_at = 0.0
            threading.Thread(target=self._run, name="local-cache-listener", daemon=True).start()

    def _run(self) -> None:
        pid = self._pid
        backoff = 0.5
        while self._pid == pid:
            pubsub = None
            try:
                pubsub = _listener_client().pubsub()
                pubsub.subscribe(settings.LOCAL_CACHE_CHANNEL)
                pinged = 0.0
                while self._pid == pid:
                    now = time.monotonic()
                    if self._heard_at and now - self._heard_at >= LISTENER_DEAD_AFTER:
                        raise redis.ConnectionError("no answer to the listener's pings")
                    if now - pinged >= LISTENER_PING_SECONDS:
                        pubsub.ping()
                        pinged = now
                    message = pubsub.get_message(timeout=LISTENER_PING_SECONDS / 2)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Anything published while this process was not subscribed is lost.
                        local_caches_clear()
                        self._heard_at = time.monotonic()
                        backoff = 0.5
                    elif message["type"] == "message":
                        local_caches_clear()
                        self._heard_at = time.monotonic()
                    elif message["type"] == "pong" and self._heard_at:
                        self._heard_at = time.monotonic()
            except Exception:  # any failure: deaf, short TTL, reconnect
                logger.warning("local cache listener disconnected; retrying", exc_info=True)
            finally:
                self._heard_at = 0.0
                local_caches_clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


_listener = _Listener()


def local_cache_listening() -> bool:
    """Whether this process hears invalidations now (the long TTL applies)."""
    return _listener.listening()


# Multiprocess /metrics (PROMETHEUS_MULTIPROC_DIR): a scrape reads what every web process wrote
# to the shared directory, so each process copies its counters there itself, at the end of a
# request and at most once per PUBLISH_SECONDS (core.metrics.local_caches_publish); the process
# that answers a scrape copies its own first. A process idle since its last copy is at most
# PUBLISH_SECONDS of its traffic behind.
PUBLISH_SECONDS = 1.0
_last_publish = 0.0


def _publish_after_request(sender=None, **kwargs) -> None:
    global _last_publish
    now = time.monotonic()
    if now - _last_publish < PUBLISH_SECONDS:
        return
    _last_publish = now
    from core.metrics import local_caches_publish

    local_caches_publish()


request_finished.connect(_publish_after_request, dispatch_uid="core.local_cache.publish")
