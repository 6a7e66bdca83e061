"""Short-lived per-process caches for what every request looks up (host -> organization,
user + organization -> membership), and the counters of every per-process cache.

Each entry lives a few seconds (``LOCAL_CACHE_SECONDS``) and every cache is cleared in this
process as soon as a relevant row is saved or deleted (signals), so a suspension, a
deactivation or a removed membership is seen at once by the process that made it and within
the TTL by the others: far inside the 5-minute bound DESIGN.md sets. ``cachetools.TTLCache``
is not thread-safe, hence the lock (web processes serve requests on a thread pool).

Every per-process cache is bounded (``maxsize``: least recently used entries are evicted) and
counted: hits, misses, evictions (entries pushed out to make room; expired ones are not
evictions), entries and maxsize, per named cache. ``LocalCache`` counts with plain integer
increments under the lock it already takes; a ``functools.lru_cache`` registered with
``function_cache_register`` is read through its own ``cache_info()`` (nothing added to its
calls). ``local_cache_stats()`` reads them all; ``core.metrics`` exports them in ``/metrics``
(``cc_local_cache_*``, docs/observability.md).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from django.conf import settings
from django.core.signals import request_finished

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
        ttl = settings.LOCAL_CACHE_SECONDS
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
    for cache in list(_registry.values()):
        if isinstance(cache, LocalCache):
            cache.clear()


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
