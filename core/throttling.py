"""Rate limits: per user, per anonymous IP, and per organization (its plan's requests/minute).

Counters live in Redis through the default cache (keys carry the schema name).
"""

from django.db import connection
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    pass


class AnonRateThrottle(throttling.AnonRateThrottle):
    pass


class OrganizationRateThrottle(throttling.SimpleRateThrottle):
    """The organization's whole API traffic against its plan limit."""

    scope = "organization"

    def get_rate(self):
        return None  # decided per request in allow_request

    def allow_request(self, request, view):
        tenant = getattr(connection, "tenant", None)
        limit = getattr(tenant, "requests_per_minute", None)
        if not limit or getattr(tenant, "schema_name", "public") == "public":
            return True
        self.rate = f"{int(limit)}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return f"throttle_org_{connection.schema_name}"
