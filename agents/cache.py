"""The catalog read cache: serialized list pages in Redis, per organization.

Keys go through the default cache, whose key function prefixes the schema name, so one
organization never reads another's entries. Each page is stored with the organization's catalog
*version* at the time it was built; a write replaces the version after its transaction commits
and every page stored under an older version stops matching at once (entries then expire on
their TTL). A lookup fetches the version and the page in one round trip (``MGET``), or none
when the rate limiter already read them ahead in its own (``catalog_cache_keys``).

A reader takes the version *before* it queries PostgreSQL, so a page built from pre-commit data
is stored under the old version and never served after the bump.

The cache is an optimization only: the default cache ignores Redis errors, a missing version
disables caching for that request, and reads fall through to PostgreSQL.
"""

import hashlib
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
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


def catalog_cache_keys(*, resource: str, host: str, params) -> list[str]:
    """The Redis keys a lookup reads (the version, then the page), for a read-ahead
    (``core.throttling``: fetched in the rate limiter's round trip)."""
    page_key = _page_key(resource=resource, host=host, params=params)
    return [cache.make_key(_VERSION_KEY), cache.make_key(page_key)]


def catalog_cache_lookup(
    *, resource: str, host: str, params, read_ahead: dict | None = None
) -> CachedPage:
    """The cached page for this resource and query string, if still current.

    ``read_ahead``: the raw values of ``catalog_cache_keys`` already fetched (no round trip).
    """
    key = _page_key(resource=resource, host=host, params=params)
    version_key, full_key = cache.make_key(_VERSION_KEY), cache.make_key(key)
    if read_ahead is not None and version_key in read_ahead and full_key in read_ahead:
        decode = cache.client.decode
        found = {
            name: decode(read_ahead[raw])
            for name, raw in ((_VERSION_KEY, version_key), (key, full_key))
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


def _bump(schema_name: str) -> None:
    # A new random version (not INCR): it works whether or not the key exists (Redis restarted,
    # key evicted) and two concurrent bumps can never land back on an old version.
    # Usually the commit ran in the same schema (the request's): switching costs a round trip.
    if connection.schema_name == schema_name:
        cache.set(_VERSION_KEY, uuid.uuid4().hex, timeout=None)
        return
    with schema_context(schema_name):
        cache.set(_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def catalog_cache_invalidate() -> None:
    """Make every cached catalog page of the current organization stale once the current
    transaction commits (at once outside a transaction; never if it rolls back)."""
    schema_name = connection.schema_name
    transaction.on_commit(lambda: _bump(schema_name))
