"""Short-lived per-process caches for what every request looks up (host -> organization,
user + organization -> membership).

Each entry lives a few seconds (``LOCAL_CACHE_SECONDS``) and every cache is cleared in this
process as soon as a relevant row is saved or deleted (signals), so a suspension, a
deactivation or a removed membership is seen at once by the process that made it and within
the TTL by the others: far inside the 5-minute bound DESIGN.md sets. ``cachetools.TTLCache``
is not thread-safe, hence the lock (web processes serve requests on a thread pool).
"""

import threading
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache
from django.conf import settings

_MISSING = object()
_registry: list["LocalCache"] = []


class LocalCache:
    def __init__(self, name: str, maxsize: int = 10_000):
        self.name = name
        self._maxsize = maxsize
        self._cache: TTLCache | None = None
        self._lock = threading.Lock()
        _registry.append(self)

    def get_or_load(self, key, load: Callable[[], Any]):
        ttl = settings.LOCAL_CACHE_SECONDS
        if ttl <= 0:
            return load()
        with self._lock:
            if self._cache is None or self._cache.ttl != ttl:
                self._cache = TTLCache(maxsize=self._maxsize, ttl=ttl)
            value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            with self._lock:
                self._cache[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.clear()


def local_caches_clear() -> None:
    for cache in _registry:
        cache.clear()
