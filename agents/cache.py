"""The catalog read cache: serialized list pages in Redis, per organization.

Keys go through the default cache, whose key function prefixes the schema name, so one
organization never reads another's entries. Every page key embeds the organization's current
catalog *version*; a write bumps the version after its transaction commits and every cached page
becomes unreachable at once (entries then expire on their TTL). A reader takes the version
before querying PostgreSQL, so a page built from pre-commit data is stored under the old version
and never served after the bump.

The cache is an optimization only: the default cache ignores Redis errors, a missing version
disables caching for that request, and reads fall through to PostgreSQL.
"""

import hashlib
import uuid

from django.core.cache import cache
from django.db import connection, transaction
from django_tenants.utils import schema_context

from .constants import CATALOG_CACHE_PARAMS, CATALOG_CACHE_TTL_SECONDS

_VERSION_KEY = "catalog:version"


def catalog_cache_version() -> str | None:
    """The organization's current catalog version (created on first use); ``None`` if Redis is
    unavailable, which means: do not cache."""
    version = cache.get(_VERSION_KEY)
    if version is None:
        cache.add(_VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(_VERSION_KEY)
    return version


def catalog_cache_page_key(*, version: str, resource: str, host: str, params) -> str:
    relevant = sorted(
        (name, value) for name in CATALOG_CACHE_PARAMS for value in params.getlist(name)
    )
    digest = hashlib.sha1(repr((host, relevant)).encode(), usedforsecurity=False).hexdigest()
    return f"catalog:{version}:{resource}:{digest}"


def catalog_cache_get(key: str) -> bytes | None:
    return cache.get(key)


def catalog_cache_set(key: str, body: bytes) -> None:
    cache.set(key, body, timeout=CATALOG_CACHE_TTL_SECONDS)


def _bump(schema_name: str) -> None:
    # A new random version (not INCR): it works whether or not the key exists (Redis restarted,
    # key evicted) and two concurrent bumps can never land back on an old version.
    with schema_context(schema_name):
        cache.set(_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def catalog_cache_invalidate() -> None:
    """Make every cached catalog page of the current organization stale once the current
    transaction commits (at once outside a transaction; never if it rolls back)."""
    schema_name = connection.schema_name
    transaction.on_commit(lambda: _bump(schema_name))
