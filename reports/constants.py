"""Tunables of the reports app (the durations are overridable in settings, see services)."""

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# How many agents the "top agents" rankings keep.
TOP_AGENTS_LIMIT = 10
# A report "running" for longer than this is considered abandoned (worker died without the
# broker redelivering yet): any later job may take it over. Must exceed the Celery hard limit.
DEFAULT_STALE_AFTER_SECONDS = 15 * 60
# Seconds between two organizations' jobs in one dispatch round (spreads the load).
DEFAULT_DISPATCH_STAGGER_SECONDS = 0.2
DASHBOARD_CACHE_SECONDS = 60
DASHBOARD_MAX_DAYS = 366
