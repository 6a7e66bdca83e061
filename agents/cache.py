"""The catalog read cache: serialized list pages in Redis, per organization.

Keys go through the default cache, whose key function prefixes the schema name, so one
organization never reads another's entries. Each page is stored with the organization's catalog
*version* at the time it was built; a write replaces the version after its transaction commits
and every page stored under an older version stops matching at once (entries then expire on
their TTL). A lookup fetches the version and the page in one round trip (``MGET``), or none
when the rate limiter already read them ahead in its own (``CatalogCacheEntry``).

A reader takes the version *before* it queries PostgreSQL, so a page built from pre-commit data
is stored under the old version and never served after the bump.

The cache is an optimization only: the default cache ignores Redis errors, a missing version
disables caching for that request, and reads fall through to PostgreSQL.
"""

import hashlib
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

from django.core.cache import cache
from django.db import connection, transaction
from django.http import QueryDict
from django_tenants.utils import schema_context

from .constants import CATALOG_CACHE_PARAMS, CATALOG_CACHE_TTL_SECONDS

_VERSION_KEY = "catalog:version"


@dataclass(frozen=True)
class CachedPage:
    key: str
    version: str | None  # None: Redis unavailable, do not store
    body: bytes | None  # None: miss


def _page_key(*, resource: str, host: str, params) -> str:
    relevant = sorted(
        (name, value) for name in CATALOG_CACHE_PARAMS for value in params.getlist(name)
    )
    digest = hashlib.sha1(repr((host, relevant)).encode(), usedforsecurity=False).hexdigest()
    return f"catalog:{resource}:{digest}"


@dataclass(frozen=True)
class CatalogCacheEntry:
    """Where one list page lives: its cache key (the cache adds the schema prefix) and the full
    Redis keys of the version and the page, which the rate limiter can read ahead
    (``core.throttling``: fetched in its round trip)."""

    key: str
    redis_keys: tuple[str, str]


def catalog_cache_entry(*, resource: str, host: str, query_string: str) -> CatalogCacheEntry:
    """The entry of a list page (``query_string``: the request's, undecoded)."""
    return _catalog_cache_entry(connection.schema_name, resource, host, query_string)


# Every cached read computes the same few entries (a hash and two schema-prefixed keys: 2% of
# a hit's instructions), so they are kept per process. Bounded: odd query strings only evict
# each other.
@lru_cache(maxsize=1024)
def _catalog_cache_entry(
    schema_name: str, resource: str, host: str, query_string: str
) -> CatalogCacheEntry:
    # schema_name is part of the memo key; cache.make_key reads it from the connection.
    key = _page_key(resource=resource, host=host, params=QueryDict(query_string))
    redis_keys = (cache.make_key(_VERSION_KEY), cache.make_key(key))
    return CatalogCacheEntry(key=key, redis_keys=redis_keys)


def catalog_cache_lookup(*, entry: CatalogCacheEntry, read_ahead: dict | None = None) -> CachedPage:
    """The cached page of ``entry``, if still current.

    ``read_ahead``: raw values of ``entry.redis_keys`` already fetched (no round trip).
    """
    key = entry.key
    if read_ahead is not None and all(raw in read_ahead for raw in entry.redis_keys):
        decode = cache.client.decode
        found = {
            name: decode(read_ahead[raw])
            for name, raw in zip((_VERSION_KEY, key), entry.redis_keys, strict=True)
            if read_ahead[raw] is not None
        }
    else:
        found = cache.get_many([_VERSION_KEY, key])
    version = found.get(_VERSION_KEY)
    if version is None:
        # First read since Redis started (or the key was evicted): create a version.
        candidate = uuid.uuid4().hex
        version = candidate if cache.add(_VERSION_KEY, candidate, timeout=None) else None
        version = version or cache.get(_VERSION_KEY)
        return CachedPage(key=key, version=version, body=None)
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        return CachedPage(key=key, version=version, body=entry[1])
    return CachedPage(key=key, version=version, body=None)


def catalog_cache_store(*, page: CachedPage, body: bytes) -> None:
    if page.version is not None:
        cache.set(page.key, (page.version, body), timeout=CATALOG_CACHE_TTL_SECONDS)


def catalog_cache_bump(schema_name: str, *, pipeline=None) -> None:
    """Replace the organization's catalog version now: every page cached under the old one
    stops matching. ``pipeline``: a pipeline on the cache's Redis connection to queue the
    ``SET`` on (``tasks.events`` sends it with the events of the same commit) instead of
    sending it alone."""
    # A new random version (not INCR): it works whether or not the key exists (Redis restarted,
    # key evicted) and two concurrent bumps can never land back on an old version.
    # Usually the commit ran in the same schema (the request's): switching costs a round trip.
    same = connection.schema_name == schema_name
    with nullcontext() if same else schema_context(schema_name):
        version = uuid.uuid4().hex
        if pipeline is None:
            cache.set(_VERSION_KEY, version, timeout=None)
        else:
            pipeline.set(cache.make_key(_VERSION_KEY), cache.client.encode(version))


def catalog_cache_invalidate() -> None:
    """Make every cached catalog page of the current organization stale once the current
    transaction commits (at once outside a transaction; never if it rolls back)."""
    schema_name = connection.schema_name
    transaction.on_commit(lambda: catalog_cache_bump(schema_name))
