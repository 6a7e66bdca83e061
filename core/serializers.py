from django.db import connection
from rest_framework import serializers

from organizations.business_day import org_zone


class OrgDateTimeField(serializers.DateTimeField):
    """ISO 8601 in the organization's own timezone (``+08:00``), whatever the server's is."""

    def default_timezone(self):
        tenant = getattr(connection, "tenant", None)
        if tenant is not None and getattr(tenant, "timezone", None):
            return org_zone(tenant)
        return super().default_timezone()
