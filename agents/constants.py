"""Limits and tunables of the catalog."""

# Stock is an ``integer`` column: cap it far below 2**31 so that adjustments and give-backs can
# never overflow, and reject absurd values at the API boundary with a 400 instead.
MAX_STOCK = 1_000_000
MAX_PRICE_DIGITS = 10

# A cached catalog page lives at most this long; a version bump makes it unreachable sooner.
CATALOG_CACHE_TTL_SECONDS = 300
# Query parameters that change a catalog list page (anything else is ignored by the cache key).
CATALOG_CACHE_PARAMS = (
    "page",
    "page_size",
    "category",
    "available",
    "sold_out",
    "search",
    "ordering",
)

# Reconciliation results are kept this long (one row per organization per hour).
RECONCILIATION_KEEP_DAYS = 30
